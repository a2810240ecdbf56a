//! The layer every request passes: it gives the request an id (kept from a sane
//! `x-request-id` header, or new) that the logs, the response and the audit log carry,
//! recognises the bearer token, counts the request by route and status, and writes an audit
//! row for every mutating call an authenticated caller makes.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::auth::Bearer;
use super::ApiState;
use crate::service::audit::{Actor, NewAuditEntry};
use crate::service::tokens::AuthError;

/// The id of a request, in its extensions and its response's `x-request-id` header.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The route a request matched (`/api/v1/jobs/{id}`), passed out in the response.
#[derive(Debug, Clone)]
pub struct RouteOf(pub String);

/// What a mutating handler created or changed, for its audit row (`integration 7`).
#[derive(Debug, Clone)]
pub struct AuditTarget(pub String);

/// Marks a response whose service already wrote the call's audit row, in the transaction of
/// its change: this layer writes no second one.
#[derive(Debug, Clone, Copy)]
pub struct Audited;

/// The [`Actor`] of a mutating call: the authenticated token, the matched route and the
/// request id, for a service that audits its own change.
pub struct CallActor(pub Actor);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for CallActor {
    type Rejection = super::error::ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        let caller = super::auth::Authed::from_request_parts(parts, state)
            .await?
            .0;
        let route = parts
            .extensions
            .get::<MatchedPath>()
            .map(|path| path.as_str().to_owned())
            .unwrap_or_else(|| parts.uri.path().to_owned());
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        Ok(Self(Actor {
            token_id: caller.token_id,
            token_name: caller.token_name,
            action: format!("{} {route}", parts.method),
            request_id,
        }))
    }
}

const REQUEST_ID: &str = "x-request-id";

fn request_id(request: &Request) -> String {
    request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Records the matched route in the response, for the outer layer's metrics and audit.
pub async fn record_route(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(RouteOf(route));
    }
    response
}

pub async fn around(State(state): State<ApiState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(&request);
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %id, %method, %path);

    let bearer = match request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
    {
        None => Bearer::Missing,
        Some(value) => match value.strip_prefix("Bearer ") {
            None => Bearer::Refused,
            Some(token) => match state.services.authenticate(token.trim()).await {
                Ok(caller) => Bearer::Valid(caller),
                Err(AuthError::Malformed | AuthError::Unknown) => Bearer::Refused,
                Err(AuthError::Service(err)) => {
                    tracing::error!(parent: &span, error = %err, "cannot check a token");
                    Bearer::Refused
                }
            },
        },
    };
    request.extensions_mut().insert(RequestId(id.clone()));
    request.extensions_mut().insert(bearer.clone());

    let mut response = next.run(request).instrument(span.clone()).await;

    let status = response.status();
    let route = response
        .extensions()
        .get::<RouteOf>()
        .map(|route| route.0.clone())
        .unwrap_or_else(|| "unmatched".to_owned());
    state
        .metrics
        .http_request(method.as_str(), &route, status.as_u16());
    if let Bearer::Valid(caller) = &bearer {
        let audited = response.extensions().get::<Audited>().is_some();
        if !audited && !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
            let target = response
                .extensions()
                .get::<AuditTarget>()
                .map(|target| target.0.clone())
                .unwrap_or_else(|| path.clone());
            let entry = NewAuditEntry {
                token_id: caller.token_id,
                token_name: caller.token_name.clone(),
                action: format!("{method} {route}"),
                target,
                status: status.as_u16(),
                request_id: id.clone(),
                detail: None,
            };
            if let Err(err) = state.services.record_audit(entry).await {
                tracing::error!(parent: &span, error = %err, "cannot write the audit row");
            }
        }
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    tracing::info!(
        parent: &span,
        status = status.as_u16(),
        millis = started.elapsed().as_millis() as u64,
        "request finished"
    );
    response
}
