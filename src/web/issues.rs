//! AI Investigation → Issues: the alerts of one user and policy grouped for triage. The
//! list filters by status, policy, user and assignee; an issue's page shows its alerts and
//! comments, and its forms acknowledge, resolve or reopen it, assign it and comment on it.
//! Each form calls the same service function as the API, which writes the audit row (what
//! changed, e.g. `status open -> acknowledged`) in the transaction of the change. For
//! investigators and admins, inside their project scope, as in the API.

use axum::extract::{MatchedPath, Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Form};
use minijinja::context;
use serde::Deserialize;

use super::alerts::{given, limit_of, status_of, user_of, without_cursor, Listed};
use super::pages::{done, layout, page, service_error};
use super::session::Viewer;
use crate::http::request::{Audited, RequestId};
use crate::http::ApiState;
use crate::service::audit::Actor;
use crate::service::investigation::alerts::AlertQuery;
use crate::service::investigation::issues::{
    IssueAssignment, IssueQuery, IssueStatusChange, IssueStatusName, NewIssueComment,
};
use crate::service::page::{Cursor, Limit};
use crate::service::tokens::Role;

const ISSUE_STATUSES: &[&str] = &["open", "acknowledged", "resolved"];

#[derive(Debug, Default, Deserialize)]
pub struct IssueForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    policy: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    limit: String,
    #[serde(default)]
    cursor: String,
}

fn query_of(form: &IssueForm) -> Result<IssueQuery, crate::service::Error> {
    let (user_email, user_id) = user_of(&form.user);
    Ok(IssueQuery {
        status: status_of::<IssueStatusName>(&form.status, ISSUE_STATUSES)?,
        policy: given(&form.policy),
        user_email,
        user_id,
        assignee: given(&form.assignee),
        limit: limit_of(&form.limit)?,
        cursor: given(&form.cursor).map(Cursor::from),
        ..IssueQuery::default()
    })
}

pub async fn list(
    State(state): State<ApiState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
    Query(form): Query<IssueForm>,
) -> Response {
    if let Some(refused) = viewer.refusal(Role::Investigator) {
        return refused;
    }
    let found = match query_of(&form) {
        Ok(query) => {
            state
                .services
                .list_issues(&viewer.caller.scope, &query)
                .await
        }
        Err(err) => Err(err),
    };
    let listed = match Listed::of(found) {
        Ok(listed) => listed,
        Err(err) => return service_error(&viewer, err),
    };
    page(
        "issues.html",
        listed.status(),
        context! { ..layout(Some(&viewer), "issues", "Issues"), ..context! {
            form => context! {
                status => form.status, policy => form.policy, user => form.user,
                assignee => form.assignee, limit => form.limit,
            },
            statuses => ISSUE_STATUSES,
            filtered => raw.as_deref().is_some_and(|q| !q.is_empty()),
            kept => without_cursor(raw.as_deref()),
            next => listed.next,
            error => listed.error,
            issues => listed.rows,
        }},
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    done: Option<String>,
}

pub async fn show(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(query): Query<ShowQuery>,
) -> Response {
    if let Some(refused) = viewer.refusal(Role::Investigator) {
        return refused;
    }
    let notice = match query.done.as_deref() {
        Some("status") => Some("The status is changed."),
        Some("assignee") => Some("The assignee is changed."),
        Some("comment") => Some("Your comment is added."),
        _ => None,
    };
    issue_page(&state, &viewer, &id, notice, None).await
}

/// The page of issue `id`, with a notice of the last change or the error of a refused form
/// (its status and message).
async fn issue_page(
    state: &ApiState,
    viewer: &Viewer,
    id: &str,
    notice: Option<&str>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let id = match number(id) {
        Ok(id) => id,
        Err(err) => return service_error(viewer, err),
    };
    let scope = &viewer.caller.scope;
    let detail = match state.services.issue_detail(scope, id).await {
        Ok(detail) => detail,
        Err(err) => return service_error(viewer, err),
    };
    let alerts = match state
        .services
        .list_alerts(
            scope,
            &AlertQuery {
                issue_id: Some(id),
                limit: Limit::DEFAULT,
                ..AlertQuery::default()
            },
        )
        .await
    {
        Ok(list) => list,
        Err(err) => return service_error(viewer, err),
    };
    let source = match state
        .services
        .integration_names(std::iter::once(detail.issue.integration_id))
        .await
    {
        Ok(mut names) => names.remove(&detail.issue.integration_id),
        Err(err) => return service_error(viewer, err),
    };
    let status = error
        .as_ref()
        .map(|(status, _)| *status)
        .unwrap_or(StatusCode::OK);
    page(
        "issue.html",
        status,
        context! { ..layout(Some(viewer), "issues", &format!("Issue #{id}")), ..context! {
            issue => detail.issue,
            comments => detail.comments,
            alerts => alerts.items,
            more_alerts => alerts.next_cursor.is_some(),
            source => source,
            notice => notice,
            error => error.map(|(_, message)| message),
        }},
    )
}

/// The [`Actor`] of a dashboard form: the viewer's token, the form's route and the request
/// id, as the API's triage calls record them.
fn actor(viewer: &Viewer, route: &MatchedPath, request_id: Option<&RequestId>) -> Actor {
    Actor {
        token_id: viewer.caller.token_id,
        token_name: viewer.caller.token_name.clone(),
        action: format!("POST {}", route.as_str()),
        request_id: request_id.map(|id| id.0.clone()).unwrap_or_default(),
    }
}

/// After a change its service audited: back to the issue's page, saying what changed.
fn changed(id: i64, what: &str) -> Response {
    let mut response = done(
        &format!("/ui/issues/{id}?done={what}"),
        format!("issue {id}"),
    );
    response.extensions_mut().insert(Audited);
    response
}

/// The issue id of a form's path.
fn number(id: &str) -> Result<i64, crate::service::Error> {
    id.parse()
        .map_err(|_| crate::service::Error::not_found("issue", id))
}

/// The answer to a change of issue `id`: back to its page saying `what` changed, or its page
/// again with the error of a refused change.
async fn finish(
    state: &ApiState,
    viewer: &Viewer,
    id: &str,
    what: &str,
    result: Result<i64, crate::service::Error>,
) -> Response {
    let err = match result {
        Ok(number) => return changed(number, what),
        Err(err) => err,
    };
    let status = match err.code() {
        "invalid" => StatusCode::UNPROCESSABLE_ENTITY,
        "conflict" => StatusCode::CONFLICT,
        _ => return service_error(viewer, err),
    };
    issue_page(state, viewer, id, None, Some((status, err.to_string()))).await
}

#[derive(Debug, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
}

pub async fn set_status(
    State(state): State<ApiState>,
    viewer: Viewer,
    route: MatchedPath,
    request_id: Option<Extension<RequestId>>,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> Response {
    if let Some(refused) = viewer.form_refusal(Role::Investigator, &form.csrf) {
        return refused;
    }
    let actor = actor(&viewer, &route, request_id.as_deref());
    let result = match (
        number(&id),
        status_of::<IssueStatusName>(&form.status, ISSUE_STATUSES),
    ) {
        (Err(err), _) => Err(err),
        (_, Ok(None)) => Err(crate::service::Error::invalid(
            "status",
            format!("choose one of {}", ISSUE_STATUSES.join(", ")),
        )),
        (_, Err(err)) => Err(err),
        (Ok(number), Ok(Some(status))) => state
            .services
            .set_issue_status(
                &viewer.caller.scope,
                &actor,
                number,
                IssueStatusChange { status },
            )
            .await
            .map(|issue| issue.id),
    };
    finish(&state, &viewer, &id, "status", result).await
}

#[derive(Debug, Deserialize)]
pub struct AssigneeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    assignee: String,
    /// `unassign` clears the assignee; anything else assigns.
    #[serde(default)]
    action: String,
}

pub async fn set_assignee(
    State(state): State<ApiState>,
    viewer: Viewer,
    route: MatchedPath,
    request_id: Option<Extension<RequestId>>,
    Path(id): Path<String>,
    Form(form): Form<AssigneeForm>,
) -> Response {
    if let Some(refused) = viewer.form_refusal(Role::Investigator, &form.csrf) {
        return refused;
    }
    let actor = actor(&viewer, &route, request_id.as_deref());
    let assignee = if form.action == "unassign" {
        Ok(None)
    } else {
        given(&form.assignee).map(Some).ok_or_else(|| {
            crate::service::Error::invalid(
                "assignee",
                "enter an email or a name, or choose Unassign",
            )
        })
    };
    let result = match (number(&id), assignee) {
        (Err(err), _) | (_, Err(err)) => Err(err),
        (Ok(number), Ok(assignee)) => state
            .services
            .set_issue_assignee(
                &viewer.caller.scope,
                &actor,
                number,
                IssueAssignment { assignee },
            )
            .await
            .map(|issue| issue.id),
    };
    finish(&state, &viewer, &id, "assignee", result).await
}

#[derive(Debug, Deserialize)]
pub struct CommentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    body: String,
}

pub async fn comment(
    State(state): State<ApiState>,
    viewer: Viewer,
    route: MatchedPath,
    request_id: Option<Extension<RequestId>>,
    Path(id): Path<String>,
    Form(form): Form<CommentForm>,
) -> Response {
    if let Some(refused) = viewer.form_refusal(Role::Investigator, &form.csrf) {
        return refused;
    }
    let actor = actor(&viewer, &route, request_id.as_deref());
    let result = match number(&id) {
        Err(err) => Err(err),
        Ok(number) => state
            .services
            .add_issue_comment(
                &viewer.caller.scope,
                &actor,
                number,
                NewIssueComment { body: form.body },
            )
            .await
            .map(|_| number),
    };
    finish(&state, &viewer, &id, "comment", result).await
}
