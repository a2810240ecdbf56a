//! `/metrics` in the Prometheus text format: the fleet's jobs by kind and status, queue depth
//! per data plane and events ingested (from the job records), then this process's own
//! counters (HTTP requests, Compliance API requests, rate-limit waits, policy evaluation,
//! worker jobs). [`process_router`] serves the process's counters alone, for the roles that
//! serve no API (`worker`, `scheduler`).

use std::fmt::Write;
use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{extract::State, Router};

use super::error::{ApiError, ErrorBody};
use super::ApiState;
use crate::infra::metrics::{label, Metrics};

pub fn router() -> Router<ApiState> {
    Router::new().route("/metrics", get(metrics))
}

/// `GET /metrics` with this process's own counters and `GET /healthz`, and nothing else:
/// the listener of `metrics_listen`. The fleet-wide figures stay on `serve`'s `/metrics`, so
/// scraping every worker does not query the database once per worker.
pub fn process_router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = metrics.clone();
                async move {
                    let mut out = String::new();
                    metrics.render(&mut out);
                    ([(header::CONTENT_TYPE, TEXT_FORMAT)], out)
                }
            }),
        )
        .route("/healthz", get(super::health::healthz))
}

/// The content type of the Prometheus text exposition format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Prometheus metrics; no token needed (no label names an integration or a project).
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String),
        (status = 500, body = ErrorBody),
    ))]
pub async fn metrics(State(state): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    let services = &state.services;
    let mut out = String::new();
    out.push_str("# HELP logwarden_jobs Jobs in the database, by kind and status.\n");
    out.push_str("# TYPE logwarden_jobs gauge\n");
    for (kind, status, count) in services.jobs_by_kind_and_status().await? {
        let _ = writeln!(
            out,
            "logwarden_jobs{{kind=\"{kind}\",status=\"{status}\"}} {count}"
        );
    }
    out.push_str("# HELP logwarden_queue_depth Jobs handed to the queue and not yet taken, per data plane.\n");
    out.push_str("# TYPE logwarden_queue_depth gauge\n");
    for (plane, count) in services.queue_depths().await? {
        let _ = writeln!(
            out,
            "logwarden_queue_depth{{data_plane=\"{}\"}} {count}",
            label(&plane)
        );
    }
    out.push_str(
        "# HELP logwarden_events_ingested_total Prompt events stored by succeeded jobs.\n",
    );
    out.push_str("# TYPE logwarden_events_ingested_total counter\n");
    let _ = writeln!(
        out,
        "logwarden_events_ingested_total {}",
        services.events_ingested().await?
    );
    state.metrics.render(&mut out);
    Ok(([(header::CONTENT_TYPE, TEXT_FORMAT)], out))
}
