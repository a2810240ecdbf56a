//! The web dashboard at `/`: server-rendered pages over the same service functions as the
//! HTTP API. Login takes an API token and keeps it server-side behind a random session id in
//! an HttpOnly, SameSite=Strict cookie; every form carries the session's CSRF token; roles and
//! project scope apply exactly as in the API, because every page authenticates the stored
//! token with the same lookup as a bearer token. Every form a logged-in viewer submits leaves
//! an audit row, as every mutating API call does. Templates and assets are embedded.

mod access;
mod alerts;
mod audit;
mod datasets;
mod events;
mod integration;
mod issues;
mod jobs;
mod pages;
mod policies;
mod reports;
mod session;
mod sessions;
mod templates;
mod wizard;

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::http::request::{AuditTarget, Audited, RequestId};
use crate::http::ApiState;
use crate::service::audit::NewAuditEntry;

/// The dashboard's routes: `/`, `/login`, `/logout`, `/ui/...` and `/assets/...`.
pub fn router(state: ApiState) -> Router<ApiState> {
    Router::new()
        .route("/", get(pages::overview))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", post(pages::logout))
        .route("/ui/sources", get(pages::sources))
        .route("/ui/sources/new", get(wizard::start).post(wizard::step))
        .route("/ui/sources/{id}", get(integration::show))
        .route("/ui/sources/{id}/settings", post(integration::update))
        .route("/ui/sources/{id}/key", post(integration::set_key))
        .route("/ui/sources/{id}/pause", post(integration::pause))
        .route("/ui/sources/{id}/resume", post(integration::resume))
        .route("/ui/sources/{id}/delete", post(integration::delete))
        .route(
            "/ui/sources/{id}/backfills",
            post(integration::start_backfill),
        )
        .route("/ui/sources/{id}/jobs", post(jobs::bulk))
        .route("/ui/sources/{id}/policies", get(policies::show))
        .route("/ui/sources/{id}/policies/{action}", post(policies::act))
        .route("/ui/backfills/{id}/progress", get(integration::progress))
        .route(
            "/ui/backfills/{id}/{action}",
            post(integration::backfill_action),
        )
        .route("/ui/jobs/{id}", get(jobs::show))
        .route("/ui/jobs/{id}/{action}", post(jobs::act))
        .route("/ui/audit", get(audit::show))
        .route("/ui/events", get(events::search))
        .route("/ui/events/{id}", get(events::show))
        .route("/ui/alerts", get(alerts::list))
        .route("/ui/issues", get(issues::list))
        .route("/ui/issues/{id}", get(issues::show))
        .route("/ui/issues/{id}/status", post(issues::set_status))
        .route("/ui/issues/{id}/assignee", post(issues::set_assignee))
        .route("/ui/issues/{id}/comments", post(issues::comment))
        .route("/ui/datasets", get(datasets::list))
        .route("/ui/datasets/{id}/items", get(datasets::download))
        .route("/ui/reports", get(reports::show))
        .route("/ui/reports/file", get(reports::file))
        .route("/ui/reports/frame", get(reports::frame))
        .route("/ui/events/export", get(events::export))
        .route("/ui/events/dataset", post(events::add_to_dataset))
        .route("/ui/access-events", get(access::search))
        .route("/ui/access-events/{id}", get(access::show))
        .route("/ui/sessions", get(sessions::list))
        .route("/ui/sessions/{id}", get(sessions::show))
        .route("/assets/app.css", get(css))
        .route("/assets/app.js", get(js))
        .route_layer(axum::middleware::from_fn_with_state(state, record_form))
}

/// Writes the audit row of a form a logged-in viewer submitted: the same record as a
/// mutating API call (`POST /ui/sources/{id}/pause`, the handler's target, the status).
/// A form without a session (the login form) has no caller to record.
async fn record_form(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let path = request.uri().path().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|route| route.as_str().to_owned())
        .unwrap_or_else(|| path.clone());
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone())
        .unwrap_or_default();
    let (mut parts, body) = request.into_parts();
    let viewer = session::Viewer::from_request_parts(&mut parts, &state)
        .await
        .ok();
    let response = next.run(Request::from_parts(parts, body)).await;
    // The service wrote this form's audit row with its change, as for the API call.
    if response.extensions().get::<Audited>().is_some() {
        return response;
    }
    if let Some(viewer) = viewer {
        let target = response
            .extensions()
            .get::<AuditTarget>()
            .map(|target| target.0.clone())
            .unwrap_or(path);
        let entry = NewAuditEntry {
            token_id: viewer.caller.token_id,
            token_name: viewer.caller.token_name.clone(),
            action: format!("POST {route}"),
            target,
            status: response.status().as_u16(),
            request_id,
            detail: None,
        };
        if let Err(err) = state.services.record_audit(entry).await {
            tracing::error!(error = %err, "cannot write the audit row of a dashboard form");
        }
    }
    response
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("assets/app.css"),
    )
}

async fn js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("assets/app.js"),
    )
}
