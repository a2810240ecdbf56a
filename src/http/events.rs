//! `/api/v1/events`: the prompt events search (filters, keyset pages, capped total) and one
//! event in full. Investigators and admins may use them; a project-scoped token sees only
//! its projects' events, and any other id is a 404.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::routing::get;
use axum::{extract::State, Json, Router};
use uuid::Uuid;

use super::auth::Authed;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiPath, ApiQuery};
use super::ApiState;
use crate::service::investigation::events::{EventDetail, EventPage, EventQuery};
use crate::service::scope::Scope;
use crate::service::tokens::{Caller, Role};

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/events", get(search))
        .route("/api/v1/events/{id}", get(show))
}

/// A caller whose role grants the investigator's rights (investigator or admin).
pub struct Investigator(pub Caller);

impl Investigator {
    /// The projects the caller may see.
    pub fn scope(&self) -> Scope {
        self.0.scope.clone()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Investigator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let authed = Authed::from_request_parts(parts, state).await?;
        authed.require(Role::Investigator)?;
        Ok(Investigator(authed.0))
    }
}

/// Prompt events that match the filters, newest first unless `order=oldest_first`, with the
/// total (exact up to 10,000, then `capped`).
#[utoipa::path(get, path = "/api/v1/events", tag = "investigation",
    params(EventQuery),
    responses(
        (status = 200, body = EventPage),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn search(
    State(state): State<ApiState>,
    caller: Investigator,
    ApiQuery(query): ApiQuery<EventQuery>,
) -> Result<Json<EventPage>, ApiError> {
    Ok(Json(
        state
            .services
            .search_events(&caller.scope(), &query)
            .await?,
    ))
}

/// One prompt event in full: metadata, token usage (estimated), input and output, tool
/// calls, attachments, tags, violations with masked evidence, and actions.
#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "investigation",
    params(("id" = String, Path, description = "Event id (UUID)")),
    responses(
        (status = 200, body = EventDetail),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<ApiState>,
    caller: Investigator,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<EventDetail>, ApiError> {
    Ok(Json(
        state.services.event_detail(&caller.scope(), id).await?,
    ))
}
