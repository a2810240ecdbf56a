//! `/api/v1/datasets`: compile the prompts of an events search into a named dataset, list,
//! get and delete datasets, and download one as JSONL. Investigators and admins may use
//! them; a project-scoped token sees only datasets of its projects, and any other id is a
//! 404. Creating and deleting are audited.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::{StreamExt, TryStreamExt};

use super::error::{ApiError, ErrorBody};
use super::events::Investigator;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::integrations::created;
use super::request::AuditTarget;
use super::ApiState;
use crate::service::investigation::datasets::{
    jsonl, DatasetItem, DatasetQuery, DatasetView, NewDataset,
};
use crate::service::investigation::events::EventQuery;
use crate::service::page::Page;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/datasets", get(list).post(create))
        .route("/api/v1/datasets/{id}", get(show).delete(delete))
        .route("/api/v1/datasets/{id}/items", get(items))
}

/// Datasets inside the caller's scope, newest first.
#[utoipa::path(get, path = "/api/v1/datasets", tag = "investigation", operation_id = "list_datasets",
    params(DatasetQuery),
    responses(
        (status = 200, body = Page<DatasetView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    caller: Investigator,
    ApiQuery(query): ApiQuery<DatasetQuery>,
) -> Result<Json<Page<DatasetView>>, ApiError> {
    Ok(Json(
        state
            .services
            .list_datasets(&caller.scope(), &query)
            .await?,
    ))
}

/// Compiles the prompts of the events search in the query string (the filters of
/// `GET /api/v1/events`) into a dataset: one item per distinct prompt, with every source
/// event id, optionally only prompts with violations of the given policies.
#[utoipa::path(post, path = "/api/v1/datasets", tag = "investigation", operation_id = "create_dataset",
    params(EventQuery),
    request_body = NewDataset,
    responses(
        (status = 201, body = DatasetView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<ApiState>,
    caller: Investigator,
    RawQuery(search): RawQuery,
    ApiQuery(query): ApiQuery<EventQuery>,
    ApiJson(new): ApiJson<NewDataset>,
) -> Result<Response, ApiError> {
    let view = state
        .services
        .create_dataset(
            &caller.scope(),
            &caller.0.token_name,
            search.as_deref().unwrap_or_default(),
            &query,
            new,
        )
        .await?;
    Ok(created(format!("dataset {}", view.id), view))
}

/// One dataset.
#[utoipa::path(get, path = "/api/v1/datasets/{id}", tag = "investigation", operation_id = "show_dataset",
    params(("id" = i64, Path, description = "Dataset id")),
    responses(
        (status = 200, body = DatasetView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<ApiState>,
    caller: Investigator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<DatasetView>, ApiError> {
    Ok(Json(state.services.dataset(&caller.scope(), id).await?))
}

/// Deletes a dataset and its items.
#[utoipa::path(delete, path = "/api/v1/datasets/{id}", tag = "investigation", operation_id = "delete_dataset",
    params(("id" = i64, Path, description = "Dataset id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<ApiState>,
    caller: Investigator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    state.services.delete_dataset(&caller.scope(), id).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .extensions_mut()
        .insert(AuditTarget(format!("dataset {id}")));
    Ok(response)
}

/// The dataset as JSONL: one `{"prompt", "response", "labels", "source_event_ids"}` object
/// per line, in order, streamed.
#[utoipa::path(get, path = "/api/v1/datasets/{id}/items", tag = "investigation", operation_id = "dataset_items",
    params(("id" = i64, Path, description = "Dataset id")),
    responses(
        (status = 200, description = "The items, one JSON object per line",
            content((DatasetItem = "application/x-ndjson"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn items(
    State(state): State<ApiState>,
    caller: Investigator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    let items = state.services.dataset_items(&caller.scope(), id).await?;
    let body = items
        .try_chunks(200)
        .map(|chunk| chunk.map(|items| jsonl(&items)).map_err(|err| err.1));
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"dataset-{id}.jsonl\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response())
}
