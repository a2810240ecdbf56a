//! `/api/v1/sessions`: chats, filtered by user, time and violations, and one session's whole
//! chat with its violations and session-policy findings. For investigators and admins; a
//! project-scoped token sees only its projects' sessions, and any other id is a 404.

use axum::routing::get;
use axum::{extract::State, Json, Router};

use super::error::{ApiError, ErrorBody};
use super::events::Investigator;
use super::extract::{ApiPath, ApiQuery};
use super::ApiState;
use crate::service::investigation::sessions::{SessionChat, SessionQuery, SessionRow};
use crate::service::page::Page;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/sessions", get(list))
        .route("/api/v1/sessions/{id}", get(show))
}

/// Sessions that match the filters, newest chat first.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "investigation", operation_id = "list_sessions",
    params(SessionQuery),
    responses(
        (status = 200, body = Page<SessionRow>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    caller: Investigator,
    ApiQuery(query): ApiQuery<SessionQuery>,
) -> Result<Json<Page<SessionRow>>, ApiError> {
    Ok(Json(
        state
            .services
            .list_sessions(&caller.scope(), &query)
            .await?,
    ))
}

/// One session's chat, oldest event first, each event with its violations, and the findings
/// of the session policies over the whole chat.
#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "investigation", operation_id = "show_session",
    params(("id" = String, Path, description = "Session id: `<integration id>:<chat id>`")),
    responses(
        (status = 200, body = SessionChat),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<ApiState>,
    caller: Investigator,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SessionChat>, ApiError> {
    Ok(Json(
        state.services.session_chat(&caller.scope(), &id).await?,
    ))
}
