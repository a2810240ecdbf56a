//! The middleware every request passes: request id, injected faults, auth and scopes, rate
//! limit, error bodies and stats.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};

use super::errors::ApiError;
use super::state::{lock, AppState};
use crate::config::{Scope, DEFAULT_RATE_LIMIT};
use crate::faults::damage;
use crate::rate_limit::Decision;
use crate::render;

/// The authenticated key's scopes, set by the middleware for the handlers.
#[derive(Debug, Clone)]
pub struct Caller {
    scopes: Vec<Scope>,
}

impl Caller {
    pub(super) fn require(&self, scope: Scope) -> Result<(), ApiError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(ApiError::missing_scope(&self.scopes, scope))
        }
    }
}

fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(key.trim());
    }
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

type RateHeaders = Option<(u32, u32, DateTime<Utc>)>;

fn with_rate_headers(mut response: Response, rate: RateHeaders) -> Response {
    if let Some((limit, remaining, reset)) = rate {
        let headers = response.headers_mut();
        headers.insert(
            "anthropic-ratelimit-requests-limit",
            HeaderValue::from(limit),
        );
        headers.insert(
            "anthropic-ratelimit-requests-remaining",
            HeaderValue::from(remaining),
        );
        if let Ok(value) = HeaderValue::from_str(&render::timestamp(reset)) {
            headers.insert("anthropic-ratelimit-requests-reset", value);
        }
    }
    response
}

fn with_request_id(mut response: Response, request_id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("request-id", value);
    }
    response
}

/// Runs every request: request id, faults, auth, rate limit, error bodies, stats.
pub(super) async fn gate(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let request_id = state.next_request_id();
    if !request.uri().path().starts_with("/v1/") {
        let response = next.run(request).await;
        let response = match response.extensions().get::<ApiError>().cloned() {
            Some(error) => error.into_body_response(&request_id),
            None => response,
        };
        return with_request_id(response, &request_id);
    }

    lock(&state.stats).received(Instant::now());
    let delay = {
        let mut faults = lock(&state.faults);
        faults.expire(state.now());
        faults.take_delay()
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let (response, rate, injected) = authorised(&state, &mut request, next).await;
    let response = with_request_id(with_rate_headers(response, rate), &request_id);
    let response = match response.extensions().get::<ApiError>().cloned() {
        Some(error) => {
            let (headers, status) = (response.headers().clone(), response.status());
            let mut rebuilt = error.into_body_response(&request_id);
            for (name, value) in headers.iter().filter(|(name, _)| *name != "content-length") {
                rebuilt.headers_mut().entry(name).or_insert(value.clone());
            }
            *rebuilt.status_mut() = status;
            rebuilt
        }
        None => response,
    };
    lock(&state.stats).responded(response.status().as_u16(), injected);
    response
}

async fn authorised(
    state: &Arc<AppState>,
    request: &mut Request,
    next: Next,
) -> (Response, RateHeaders, bool) {
    let scopes = presented_key(request.headers())
        .and_then(|key| state.keys.iter().find(|spec| spec.matches(key)))
        .map(|spec| spec.scopes().to_vec());
    let Some(scopes) = scopes else {
        // Rejected before the rate limiter: a bad key does not consume quota.
        return (ApiError::unauthenticated().into_response(), None, false);
    };

    let mut rate: RateHeaders = None;
    if let Some(limiter) = &state.limiter {
        let mut limiter = lock(limiter);
        let limit = limiter.limit();
        match limiter.charge(Instant::now(), Utc::now()) {
            Decision::Allowed { remaining, reset } => {
                drop(limiter);
                lock(&state.stats).charged(Instant::now());
                rate = Some((limit, remaining, reset));
            }
            Decision::Limited {
                retry_after_secs,
                reset,
            } => {
                return (
                    ApiError::rate_limited(limit, Some(retry_after_secs)).into_response(),
                    Some((limit, 0, reset)),
                    false,
                );
            }
        }
    }
    state.refresh();

    let injected_429 = lock(&state.faults).take_rate_limit();
    if let Some(retry_after) = injected_429 {
        let limit = state
            .limiter
            .as_ref()
            .map_or(DEFAULT_RATE_LIMIT, |l| lock(l).limit());
        let reset = Utc::now() + Duration::seconds(i64::from(retry_after.unwrap_or(1)));
        return (
            ApiError::rate_limited(limit, retry_after.map(u64::from)).into_response(),
            Some((limit, 0, reset)),
            true,
        );
    }
    let injected_error = lock(&state.faults).take_server_error();
    if let Some(error) = injected_error {
        return (
            ApiError::server(error.status, error.should_retry).into_response(),
            rate,
            true,
        );
    }

    request.extensions_mut().insert(Caller { scopes });
    let response = next.run(std::mem::take(request)).await;
    if !response.status().is_success() {
        return (response, rate, false);
    }
    let body_fault = lock(&state.faults).take_body_fault();
    let Some(kind) = body_fault else {
        return (response, rate, false);
    };
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_else(|_| Bytes::new());
    parts.headers.remove("content-length");
    (
        Response::from_parts(parts, Body::from(damage(bytes.to_vec(), kind))),
        rate,
        true,
    )
}
