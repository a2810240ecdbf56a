//! `/api/v1/exports/events` and `/api/v1/exports/access-events`: an events search or an
//! access events search as CSV or NDJSON, streamed as it is read. The filters are those of
//! `GET /api/v1/events` and `GET /api/v1/access-events` (their `limit` and `cursor` are
//! ignored: an export holds every match); `format` and `tz` say how to encode it.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::error::{ApiError, ErrorBody};
use super::events::Investigator;
use super::extract::{ApiQueryPair, QueryNames};
use super::ApiState;
use crate::service::investigation::access::AccessEventQuery;
use crate::service::investigation::events::EventQuery;
use crate::service::investigation::export::{
    AccessExportRecord, Export, ExportOptions, ExportRecord,
};

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/exports/events", get(events))
        .route("/api/v1/exports/access-events", get(access_events))
}

impl QueryNames for ExportOptions {
    const NAMES: &'static [&'static str] = &["format", "tz"];
}

/// Every prompt event that matches the filters, in the search's order, as CSV (columns: id,
/// event_time, integration_id, resource_name, project_id, chat_id, user_id, user_email,
/// model, input_excerpt, output_excerpt, tags, input_tags, output_tags, tool_tags (each
/// `;`-separated), violations,
/// input_violations, output_violations, tool_violations, violations_by_policy
/// (`policy=count;…`)) or NDJSON (one `ExportRecord` per line). Times are RFC 3339 in `tz`.
/// A CSV cell beginning with `=`, `+`, `-`, `@`, a tab or a carriage return gets a `'` in
/// front, so spreadsheets show it as text.
#[utoipa::path(get, path = "/api/v1/exports/events", tag = "investigation",
    params(ExportOptions, EventQuery),
    responses(
        (status = 200, description = "The matching events, streamed", content(
            (String = "text/csv"),
            (ExportRecord = "application/x-ndjson"),
        )),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn events(
    State(state): State<ApiState>,
    caller: Investigator,
    ApiQueryPair(options, query): ApiQueryPair<ExportOptions, EventQuery>,
) -> Result<Response, ApiError> {
    let export = state
        .services
        .export_events(&caller.scope(), &query, &options)
        .await?;
    Ok(attachment(export, "events"))
}

/// Every access event that matches the filters, newest first, as CSV (columns: id,
/// event_time, integration_id, activity_id, activity_type, actor_type, actor_user_id,
/// actor_email, ip_address, organization_uuid, ingested_at) or NDJSON (one
/// `AccessExportRecord` per line). Times are RFC 3339 in `tz`. A CSV cell beginning with `=`,
/// `+`, `-`, `@`, a tab or a carriage return gets a `'` in front.
#[utoipa::path(get, path = "/api/v1/exports/access-events", tag = "investigation",
    operation_id = "export_access_events",
    params(ExportOptions, AccessEventQuery),
    responses(
        (status = 200, description = "The matching access events, streamed", content(
            (String = "text/csv"),
            (AccessExportRecord = "application/x-ndjson"),
        )),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn access_events(
    State(state): State<ApiState>,
    caller: Investigator,
    ApiQueryPair(options, query): ApiQueryPair<ExportOptions, AccessEventQuery>,
) -> Result<Response, ApiError> {
    let export = state
        .services
        .export_access_events(&caller.scope(), &query, &options)
        .await?;
    Ok(attachment(export, "access-events"))
}

/// `export` as a download named `{name}.{extension}`.
fn attachment(export: Export, name: &str) -> Response {
    let disposition = format!(
        "attachment; filename=\"{name}.{}\"",
        export.format.extension()
    );
    (
        [
            (
                header::CONTENT_TYPE,
                export.format.content_type().to_owned(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        Body::from_stream(export.body),
    )
        .into_response()
}
