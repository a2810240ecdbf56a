//! `/api/v1/issues`: triage. List issues, read one with its comments, change its status
//! (`open`, `acknowledged`, `resolved`), assign it and comment on it. For investigators and
//! admins; a project-scoped token sees only its projects' issues, and any other id is a 404.
//! Each change writes its audit row (with what changed) in the transaction that makes it.

use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{extract::State, Json, Router};

use super::error::{ApiError, ErrorBody};
use super::events::Investigator;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::request::{Audited, CallActor};
use super::ApiState;
use crate::service::investigation::issues::{
    IssueAssignment, IssueCommentView, IssueDetail, IssueQuery, IssueStatusChange, IssueView,
    NewIssueComment,
};
use crate::service::page::Page;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/issues", get(list))
        .route("/api/v1/issues/{id}", get(show))
        .route("/api/v1/issues/{id}/status", post(set_status))
        .route("/api/v1/issues/{id}/assignee", put(set_assignee))
        .route("/api/v1/issues/{id}/comments", post(comment))
}

/// A response whose service wrote the call's audit row.
pub(crate) fn audited(status: axum::http::StatusCode, body: impl serde::Serialize) -> Response {
    let mut response = (status, Json(body)).into_response();
    response.extensions_mut().insert(Audited);
    response
}

/// Issues that match the filters, newest first.
#[utoipa::path(get, path = "/api/v1/issues", tag = "investigation", operation_id = "list_issues",
    params(IssueQuery),
    responses(
        (status = 200, body = Page<IssueView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    caller: Investigator,
    ApiQuery(query): ApiQuery<IssueQuery>,
) -> Result<Json<Page<IssueView>>, ApiError> {
    Ok(Json(
        state.services.list_issues(&caller.scope(), &query).await?,
    ))
}

/// One issue with its comments, oldest first.
#[utoipa::path(get, path = "/api/v1/issues/{id}", tag = "investigation", operation_id = "show_issue",
    params(("id" = i64, Path, description = "Issue id")),
    responses(
        (status = 200, body = IssueDetail),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<ApiState>,
    caller: Investigator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<IssueDetail>, ApiError> {
    Ok(Json(
        state.services.issue_detail(&caller.scope(), id).await?,
    ))
}

/// Moves an issue to `open`, `acknowledged` or `resolved`. Reopening is a 409 while another
/// issue of its user and policy is unresolved.
#[utoipa::path(post, path = "/api/v1/issues/{id}/status", tag = "investigation", operation_id = "set_issue_status",
    params(("id" = i64, Path, description = "Issue id")),
    request_body = IssueStatusChange,
    responses(
        (status = 200, body = IssueView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn set_status(
    State(state): State<ApiState>,
    caller: Investigator,
    CallActor(actor): CallActor,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<IssueStatusChange>,
) -> Result<Response, ApiError> {
    let issue = state
        .services
        .set_issue_status(&caller.scope(), &actor, id, body)
        .await?;
    Ok(audited(axum::http::StatusCode::OK, issue))
}

/// Assigns an issue to someone (an email or a name), or unassigns it with `null`.
#[utoipa::path(put, path = "/api/v1/issues/{id}/assignee", tag = "investigation", operation_id = "set_issue_assignee",
    params(("id" = i64, Path, description = "Issue id")),
    request_body = IssueAssignment,
    responses(
        (status = 200, body = IssueView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn set_assignee(
    State(state): State<ApiState>,
    caller: Investigator,
    CallActor(actor): CallActor,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<IssueAssignment>,
) -> Result<Response, ApiError> {
    let issue = state
        .services
        .set_issue_assignee(&caller.scope(), &actor, id, body)
        .await?;
    Ok(audited(axum::http::StatusCode::OK, issue))
}

/// Adds a comment to an issue, written by the calling token.
#[utoipa::path(post, path = "/api/v1/issues/{id}/comments", tag = "investigation", operation_id = "comment_issue",
    params(("id" = i64, Path, description = "Issue id")),
    request_body = NewIssueComment,
    responses(
        (status = 201, body = IssueCommentView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn comment(
    State(state): State<ApiState>,
    caller: Investigator,
    CallActor(actor): CallActor,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NewIssueComment>,
) -> Result<Response, ApiError> {
    let comment = state
        .services
        .add_issue_comment(&caller.scope(), &actor, id, body)
        .await?;
    Ok(audited(axum::http::StatusCode::CREATED, comment))
}
