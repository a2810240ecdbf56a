//! `/api/v1/alerts`: alerts filtered by status, policy, user and time. For investigators and
//! admins; a project-scoped token sees only its projects' alerts.

use axum::routing::get;
use axum::{extract::State, Json, Router};

use super::error::{ApiError, ErrorBody};
use super::events::Investigator;
use super::extract::ApiQuery;
use super::ApiState;
use crate::service::investigation::alerts::{AlertQuery, AlertView};
use crate::service::page::Page;

pub fn router() -> Router<ApiState> {
    Router::new().route("/api/v1/alerts", get(list))
}

/// Alerts that match the filters, newest event first.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "investigation", operation_id = "list_alerts",
    params(AlertQuery),
    responses(
        (status = 200, body = Page<AlertView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    caller: Investigator,
    ApiQuery(query): ApiQuery<AlertQuery>,
) -> Result<Json<Page<AlertView>>, ApiError> {
    Ok(Json(
        state.services.list_alerts(&caller.scope(), &query).await?,
    ))
}
