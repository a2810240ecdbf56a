//! `/api/v1/reports`: the period report of a project or an integration, as JSON, CSV or a
//! self-contained HTML page with SVG charts. A project-scoped token gets reports of its own
//! projects only; any other id is a 404.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::error::{ApiError, ErrorBody};
use super::events::Investigator;
use super::extract::ApiQuery;
use super::ApiState;
use crate::service::investigation::reports::{
    report_csv, report_html, Report, ReportFormat, ReportQuery,
};

pub fn router() -> Router<ApiState> {
    Router::new().route("/api/v1/reports", get(report))
}

/// Events, users and violations per policy per UTC day, top users by violations, open
/// issues, and sync health with gaps, for exactly one of `project_id` and `integration_id`
/// over `from <= t < to` (at most 366 days).
#[utoipa::path(get, path = "/api/v1/reports", tag = "investigation",
    params(ReportQuery),
    responses(
        (status = 200, description = "The report", content(
            (Report = "application/json"),
            (String = "text/csv"),
            (String = "text/html"),
        )),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn report(
    State(state): State<ApiState>,
    caller: Investigator,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> Result<Response, ApiError> {
    let report = state
        .services
        .period_report(&caller.scope(), &query)
        .await?;
    Ok(match query.format.unwrap_or_default() {
        ReportFormat::Json => Json(report).into_response(),
        ReportFormat::Csv => {
            ([(header::CONTENT_TYPE, "text/csv")], report_csv(&report)).into_response()
        }
        ReportFormat::Html => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            report_html(&report),
        )
            .into_response(),
    })
}
