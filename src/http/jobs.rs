//! `/api/v1/jobs`: the Jobs view. List with filters, get with attempts, retry and cancel one
//! job or every job a filter matches, and counts by status per integration.

use axum::routing::{get, post};
use axum::{extract::State, Json, Router};
use serde::Serialize;

use super::auth::Operator;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiPath, ApiQuery};
use super::ApiState;
use crate::service::jobs::{JobDetailView, JobQuery, JobView, StatusCounts};
use crate::service::page::Page;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/jobs", get(list))
        .route("/api/v1/jobs/counts", get(counts))
        .route("/api/v1/jobs/retry", post(retry_matching))
        .route("/api/v1/jobs/cancel", post(cancel_matching))
        .route("/api/v1/jobs/{id}", get(show))
        .route("/api/v1/jobs/{id}/retry", post(retry))
        .route("/api/v1/jobs/{id}/cancel", post(cancel))
}

/// How many jobs a bulk action moved.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkResult {
    pub count: u64,
}

/// Jobs that match the filters, newest first.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs",
    params(JobQuery),
    responses(
        (status = 200, body = Page<JobView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    caller: Operator,
    ApiQuery(mut query): ApiQuery<JobQuery>,
) -> Result<Json<Page<JobView>>, ApiError> {
    query.scope = caller.scope();
    Ok(Json(state.services.list_jobs(query).await?))
}

/// Jobs that match the filters by status, per integration (for the dashboard's badges);
/// `limit` and `cursor` are ignored.
#[utoipa::path(get, path = "/api/v1/jobs/counts", tag = "jobs",
    params(JobQuery),
    responses(
        (status = 200, body = Vec<StatusCounts>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn counts(
    State(state): State<ApiState>,
    caller: Operator,
    ApiQuery(mut query): ApiQuery<JobQuery>,
) -> Result<Json<Vec<StatusCounts>>, ApiError> {
    query.scope = caller.scope();
    Ok(Json(state.services.job_status_counts(query).await?))
}

/// Retries every failed job that matches the filters (the same as the list's).
#[utoipa::path(post, path = "/api/v1/jobs/retry", tag = "jobs",
    params(JobQuery),
    responses(
        (status = 200, body = BulkResult),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn retry_matching(
    State(state): State<ApiState>,
    caller: Operator,
    ApiQuery(mut query): ApiQuery<JobQuery>,
) -> Result<Json<BulkResult>, ApiError> {
    query.scope = caller.scope();
    let count = state.services.retry_jobs(query).await?;
    Ok(Json(BulkResult { count }))
}

/// Cancels every unfinished job that matches the filters.
#[utoipa::path(post, path = "/api/v1/jobs/cancel", tag = "jobs",
    params(JobQuery),
    responses(
        (status = 200, body = BulkResult),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn cancel_matching(
    State(state): State<ApiState>,
    caller: Operator,
    ApiQuery(mut query): ApiQuery<JobQuery>,
) -> Result<Json<BulkResult>, ApiError> {
    query.scope = caller.scope();
    let count = state.services.cancel_jobs(query).await?;
    Ok(Json(BulkResult { count }))
}

/// A job with its attempts, counters and completeness record.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = i64, Path, description = "Job id")),
    responses(
        (status = 200, body = JobDetailView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<ApiState>,
    caller: Operator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<JobDetailView>, ApiError> {
    let id = state.services.job_in(&caller.scope(), id).await?;
    Ok(Json(state.services.job_detail(id).await?))
}

/// Puts a failed job back in line with a fresh budget of attempts.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/retry", tag = "jobs",
    params(("id" = i64, Path, description = "Job id")),
    responses(
        (status = 200, body = JobView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn retry(
    State(state): State<ApiState>,
    caller: Operator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<JobView>, ApiError> {
    let id = state.services.job_in(&caller.scope(), id).await?;
    Ok(Json(state.services.retry_job(id).await?))
}

/// Cancels a job that has not finished.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/cancel", tag = "jobs",
    params(("id" = i64, Path, description = "Job id")),
    responses(
        (status = 200, body = JobView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<ApiState>,
    caller: Operator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<JobView>, ApiError> {
    let id = state.services.job_in(&caller.scope(), id).await?;
    Ok(Json(state.services.cancel_job(id).await?))
}
