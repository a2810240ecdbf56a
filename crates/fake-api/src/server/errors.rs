//! The API's error body: an [`ApiError`] travels from a handler to the middleware, which
//! writes it with the request id and the retry headers.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::config::Scope;

/// An error in the API's format. Handlers return it; the middleware writes the body, because
/// only it knows the request id.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    retry_after: Option<u64>,
    should_retry: Option<bool>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            retry_after: None,
            should_retry: None,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found_error", message)
    }

    pub(super) fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "The API key provided is invalid or has been revoked.",
        )
    }

    pub(super) fn missing_scope(got: &[Scope], needed: Scope) -> Self {
        let got: Vec<String> = got.iter().map(|s| format!("'{s}'")).collect();
        Self::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            format!(
                "Missing required scopes. Got: [{}] Needed: ['{needed}']",
                got.join(", ")
            ),
        )
    }

    pub(super) fn rate_limited(limit: u32, retry_after: Option<u64>) -> Self {
        Self {
            retry_after,
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                format!(
                    "Compliance API rate limit of {limit} requests per minute per parent organization has been exceeded. Retry after the time indicated by the retry-after header. Quote the request-id response header when contacting Anthropic support."
                ),
            )
        }
    }

    pub(super) fn server(status: u16, should_retry: Option<bool>) -> Self {
        let (code, kind, message) = match status {
            502 => (StatusCode::BAD_GATEWAY, "api_error", "Bad gateway."),
            503 => (
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded_error",
                "The service is temporarily unavailable. Try again shortly.",
            ),
            504 => (
                StatusCode::GATEWAY_TIMEOUT,
                "api_error",
                "The upstream request timed out.",
            ),
            529 => (
                StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                "overloaded_error",
                "Overloaded",
            ),
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                "Internal server error",
            ),
        };
        Self {
            should_retry,
            ..Self::new(code, kind, message)
        }
    }

    pub(super) fn into_body_response(self, request_id: &str) -> Response {
        let body = json!({
            "type": "error",
            "error": { "type": self.kind, "message": self.message },
            "request_id": request_id,
        });
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after {
            headers.insert("retry-after", HeaderValue::from(seconds));
        }
        if let Some(retry) = self.should_retry {
            headers.insert(
                "x-should-retry",
                HeaderValue::from_static(if retry { "true" } else { "false" }),
            );
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}
