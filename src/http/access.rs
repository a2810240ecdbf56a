//! `/api/v1/access-events`: the activity feed (logins, uploads, views, admin actions),
//! searched by actor, activity type, time and IP, and one access event in full. For
//! investigators and admins; a project-scoped token sees only its projects' access events,
//! and any other id is a 404.

use axum::routing::get;
use axum::{extract::State, Json, Router};

use super::error::{ApiError, ErrorBody};
use super::events::Investigator;
use super::extract::{ApiPath, ApiQuery};
use super::ApiState;
use crate::service::investigation::access::{AccessEventDetail, AccessEventQuery, AccessEventRow};
use crate::service::page::Page;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/access-events", get(search))
        .route("/api/v1/access-events/{id}", get(show))
}

/// Access events that match the filters, newest first.
#[utoipa::path(get, path = "/api/v1/access-events", tag = "investigation", operation_id = "search_access_events",
    params(AccessEventQuery),
    responses(
        (status = 200, body = Page<AccessEventRow>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn search(
    State(state): State<ApiState>,
    caller: Investigator,
    ApiQuery(query): ApiQuery<AccessEventQuery>,
) -> Result<Json<Page<AccessEventRow>>, ApiError> {
    Ok(Json(
        state
            .services
            .search_access_events(&caller.scope(), &query)
            .await?,
    ))
}

/// One access event with the record the Compliance API sent.
#[utoipa::path(get, path = "/api/v1/access-events/{id}", tag = "investigation", operation_id = "show_access_event",
    params(("id" = i64, Path, description = "Access event id")),
    responses(
        (status = 200, body = AccessEventDetail),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<ApiState>,
    caller: Investigator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AccessEventDetail>, ApiError> {
    Ok(Json(
        state
            .services
            .access_event_detail(&caller.scope(), id)
            .await?,
    ))
}
