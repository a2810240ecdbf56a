//! `/api/v1/backfills`: record a past range with all its batches (returns at once), watch
//! progress, and cancel, pause, resume or retry failed batches.

use axum::response::Response;
use axum::routing::{get, post};
use axum::{extract::State, Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::auth::Operator;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::integrations::created;
use super::ApiState;
use crate::service::backfills::{BackfillQuery, BackfillView, NewBackfill};
use crate::service::page::Page;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/backfills", get(list).post(create))
        .route("/api/v1/backfills/{id}", get(show))
        .route("/api/v1/backfills/{id}/cancel", post(cancel))
        .route("/api/v1/backfills/{id}/pause", post(pause))
        .route("/api/v1/backfills/{id}/resume", post(resume))
        .route("/api/v1/backfills/{id}/retry-failed", post(retry_failed))
}

/// A past range to pull.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBackfill {
    pub integration_id: i64,
    /// RFC 3339; within the backfill horizon.
    pub start: DateTime<Utc>,
    /// RFC 3339; after `start`, not in the future.
    pub end: DateTime<Utc>,
    /// Width of one batch, e.g. `1h`, `30m` (at least `1m`; default: the
    /// `backfill_batch_width` setting).
    pub batch_width: Option<String>,
}

/// Backfills that match the filters, newest first, with their progress.
#[utoipa::path(get, path = "/api/v1/backfills", tag = "backfills",
    params(BackfillQuery),
    responses(
        (status = 200, body = Page<BackfillView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    caller: Operator,
    ApiQuery(mut query): ApiQuery<BackfillQuery>,
) -> Result<Json<Page<BackfillView>>, ApiError> {
    query.scope = caller.scope();
    Ok(Json(state.services.list_backfills(query).await?))
}

/// Records a backfill and all its batches; the scheduler feeds them to the workers.
#[utoipa::path(post, path = "/api/v1/backfills", tag = "backfills",
    request_body = CreateBackfill,
    responses(
        (status = 201, body = BackfillView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<ApiState>,
    caller: Operator,
    ApiJson(body): ApiJson<CreateBackfill>,
) -> Result<Response, ApiError> {
    let integration_id = state
        .services
        .integration_in(&caller.scope(), body.integration_id)
        .await?;
    let batch_width = body
        .batch_width
        .as_deref()
        .map(|text| crate::config::parse_duration("batch_width", text))
        .transpose()
        .map_err(|err| ApiError::invalid("batch_width", err.to_string()))?;
    let view = state
        .services
        .start_backfill(NewBackfill {
            integration_id,
            from: body.start,
            to: body.end,
            batch_width,
            created_by: caller.who(),
        })
        .await?;
    Ok(created(format!("backfill {}", view.id), view))
}

/// A backfill with its progress.
#[utoipa::path(get, path = "/api/v1/backfills/{id}", tag = "backfills",
    params(("id" = i64, Path, description = "Backfill id")),
    responses(
        (status = 200, body = BackfillView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<ApiState>,
    caller: Operator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<BackfillView>, ApiError> {
    let id = state.services.backfill_in(&caller.scope(), id).await?;
    Ok(Json(state.services.backfill(id).await?))
}

/// Cancels the backfill and its unfinished batches; finished ones and their data stay.
#[utoipa::path(post, path = "/api/v1/backfills/{id}/cancel", tag = "backfills",
    params(("id" = i64, Path, description = "Backfill id")),
    responses(
        (status = 200, body = BackfillView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<ApiState>,
    caller: Operator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<BackfillView>, ApiError> {
    let id = state.services.backfill_in(&caller.scope(), id).await?;
    Ok(Json(state.services.cancel_backfill(id).await?))
}

/// Stops feeding batches to the queue; running batches finish.
#[utoipa::path(post, path = "/api/v1/backfills/{id}/pause", tag = "backfills",
    params(("id" = i64, Path, description = "Backfill id")),
    responses(
        (status = 200, body = BackfillView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn pause(
    State(state): State<ApiState>,
    caller: Operator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<BackfillView>, ApiError> {
    let id = state.services.backfill_in(&caller.scope(), id).await?;
    Ok(Json(state.services.pause_backfill(id).await?))
}

/// Resumes a paused backfill.
#[utoipa::path(post, path = "/api/v1/backfills/{id}/resume", tag = "backfills",
    params(("id" = i64, Path, description = "Backfill id")),
    responses(
        (status = 200, body = BackfillView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn resume(
    State(state): State<ApiState>,
    caller: Operator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<BackfillView>, ApiError> {
    let id = state.services.backfill_in(&caller.scope(), id).await?;
    Ok(Json(state.services.resume_backfill(id).await?))
}

/// Puts every failed batch back in line with a fresh budget of attempts.
#[utoipa::path(post, path = "/api/v1/backfills/{id}/retry-failed", tag = "backfills",
    params(("id" = i64, Path, description = "Backfill id")),
    responses(
        (status = 200, body = BackfillView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn retry_failed(
    State(state): State<ApiState>,
    caller: Operator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<BackfillView>, ApiError> {
    let id = state.services.backfill_in(&caller.scope(), id).await?;
    Ok(Json(state.services.retry_failed_batches(id).await?))
}
