//! The Compliance API client's error type: what failed, whether retrying can help, and the
//! `request-id` to quote to Anthropic support. No variant ever carries the API key.

use std::fmt;
use std::time::Duration;

/// Everything that can go wrong talking to the Compliance API.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The API answered with a non-2xx status. `error_type` is the body's `error.type` (the
    /// field clients match on), or one derived from the status when the body had none, e.g. a
    /// proxy's HTML 502.
    #[error(
        "compliance API {endpoint} returned HTTP {status} {error_type}: {message} (request-id {})",
        RequestId(.request_id)
    )]
    Api {
        endpoint: String,
        status: u16,
        error_type: String,
        message: String,
        request_id: Option<String>,
        /// From `retry-after` / `retry-after-ms`, when the response carried one.
        retry_after: Option<Duration>,
        /// The `x-should-retry` header, when present.
        should_retry: Option<bool>,
    },

    /// No response: connection refused or reset, DNS, TLS, or a timeout.
    #[error(
        "compliance API {endpoint} {}: {message}",
        if *.timeout { "timed out" } else { "could not be reached" }
    )]
    Transport {
        endpoint: String,
        timeout: bool,
        message: String,
    },

    /// A 2xx response whose body is not the expected JSON. `transient` is true when the body was
    /// cut short or is not JSON at all (a truncation in transit, worth retrying) and false when
    /// it is well-formed JSON of the wrong shape (retrying returns the same thing).
    #[error(
        "compliance API {endpoint} returned HTTP {status} with a malformed body ({}): {detail} (request-id {})",
        if *.transient { "truncated or not JSON" } else { "unexpected shape" },
        RequestId(.request_id)
    )]
    MalformedResponse {
        endpoint: String,
        status: u16,
        request_id: Option<String>,
        transient: bool,
        detail: String,
    },

    /// A response body larger than the client's limit, refused from its `Content-Length` or
    /// as soon as the bytes read pass the limit, so no more than the limit is ever held.
    /// Fetching it again returns the same body: never retried.
    #[error(
        "compliance API {endpoint} returned HTTP {status} with a body larger than the limit of {limit} bytes{} (setting api_max_response_size) (request-id {})",
        DeclaredLength(.declared),
        RequestId(.request_id)
    )]
    ResponseTooLarge {
        endpoint: String,
        status: u16,
        request_id: Option<String>,
        /// The limit, in bytes.
        limit: u64,
        /// The `Content-Length` the response declared, when it declared one.
        declared: Option<u64>,
    },

    /// Rejected before sending: an argument the API documents as invalid.
    #[error("invalid argument `{field}`: {message}")]
    InvalidArgument { field: String, message: String },
}

impl Error {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Whether the same request may succeed if sent again.
    ///
    /// 429, 408, 5xx (except a 500 carrying `x-should-retry: false`), 529, connection errors,
    /// timeouts and truncated bodies are retryable; 400, 401, 403, 404 and client-side
    /// validation never are.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api {
                status,
                should_retry,
                ..
            } => match (*status, *should_retry) {
                (400 | 401 | 403 | 404, _) => false,
                (_, Some(explicit)) => explicit,
                (408 | 429, None) => true,
                (status, None) => status >= 500,
            },
            Error::Transport { .. } => true,
            Error::MalformedResponse { transient, .. } => *transient,
            Error::ResponseTooLarge { .. } | Error::InvalidArgument { .. } => false,
        }
    }

    /// A stable class for job records and metrics: the API's `error.type` for API errors
    /// (`authentication_error`, `permission_error`, `invalid_request_error`, `not_found_error`,
    /// `conflict_error`, `request_too_large`, `rate_limit_error`, `overloaded_error`,
    /// `api_error`), otherwise `transport_error`, `timeout_error`, `malformed_response`,
    /// `response_too_large` or `invalid_argument`. An unrecognised `error.type` is classed by its status.
    pub fn class(&self) -> &'static str {
        match self {
            Error::Api {
                status, error_type, ..
            } => known_error_type(error_type).unwrap_or_else(|| error_type_for_status(*status)),
            Error::Transport { timeout: true, .. } => "timeout_error",
            Error::Transport { timeout: false, .. } => "transport_error",
            Error::MalformedResponse { .. } => "malformed_response",
            Error::ResponseTooLarge { .. } => "response_too_large",
            Error::InvalidArgument { .. } => "invalid_argument",
        }
    }

    /// The HTTP status, when a response was received.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. }
            | Error::MalformedResponse { status, .. }
            | Error::ResponseTooLarge { status, .. } => Some(*status),
            Error::Transport { .. } | Error::InvalidArgument { .. } => None,
        }
    }

    /// The response's `request-id`, when a response was received and carried one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api { request_id, .. }
            | Error::MalformedResponse { request_id, .. }
            | Error::ResponseTooLarge { request_id, .. } => request_id.as_deref(),
            Error::Transport { .. } | Error::InvalidArgument { .. } => None,
        }
    }

    /// The server-requested wait before retrying (429 `retry-after`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether this is a 429 from the rate limiter.
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, Error::Api { status: 429, .. })
    }
}

const KNOWN_ERROR_TYPES: [&str; 9] = [
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "not_found_error",
    "conflict_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "overloaded_error",
];

fn known_error_type(error_type: &str) -> Option<&'static str> {
    KNOWN_ERROR_TYPES
        .iter()
        .find(|known| **known == error_type)
        .copied()
}

/// The `error.type` the API uses for a status, for responses whose body does not say.
pub(crate) fn error_type_for_status(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        409 => "conflict_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ if status >= 500 => "api_error",
        _ => "invalid_request_error",
    }
}

/// Displays an optional declared body length as `, Content-Length N`, or nothing.
struct DeclaredLength<'a>(&'a Option<u64>);

impl fmt::Display for DeclaredLength<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(length) => write!(f, " (Content-Length {length})"),
            None => Ok(()),
        }
    }
}

/// Displays an optional request id as the id or `none`.
struct RequestId<'a>(&'a Option<String>);

impl fmt::Display for RequestId<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) => f.write_str(id),
            None => f.write_str("none"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, error_type: &str, should_retry: Option<bool>) -> Error {
        Error::Api {
            endpoint: "GET /v1/compliance/activities".to_owned(),
            status,
            error_type: error_type.to_owned(),
            message: "msg".to_owned(),
            request_id: Some("req_011".to_owned()),
            retry_after: None,
            should_retry,
        }
    }

    #[test]
    fn retry_decisions_follow_the_documented_table() {
        let cases = [
            (api(400, "invalid_request_error", None), false),
            (api(401, "authentication_error", None), false),
            (api(403, "permission_error", None), false),
            (api(404, "not_found_error", None), false),
            (api(404, "not_found_error", Some(true)), false),
            (api(409, "conflict_error", None), false),
            (api(429, "rate_limit_error", None), true),
            (api(500, "api_error", None), true),
            (api(500, "api_error", Some(false)), false),
            (api(502, "api_error", None), true),
            (api(503, "api_error", None), true),
            (api(504, "api_error", None), true),
            (api(529, "overloaded_error", None), true),
        ];
        for (error, retryable) in cases {
            assert_eq!(error.is_retryable(), retryable, "{error}");
        }
        let transport = Error::Transport {
            endpoint: "GET /x".into(),
            timeout: true,
            message: "deadline".into(),
        };
        assert!(transport.is_retryable());
        assert!(!Error::invalid("limit", "too big").is_retryable());
    }

    #[test]
    fn malformed_bodies_retry_only_when_truncated() {
        let malformed = |transient| Error::MalformedResponse {
            endpoint: "GET /x".into(),
            status: 200,
            request_id: None,
            transient,
            detail: "EOF while parsing".into(),
        };
        assert!(malformed(true).is_retryable());
        assert!(!malformed(false).is_retryable());
        assert_eq!(malformed(true).class(), "malformed_response");
    }

    #[test]
    fn class_is_the_api_error_type_or_derived_from_status() {
        assert_eq!(
            api(401, "authentication_error", None).class(),
            "authentication_error"
        );
        assert_eq!(
            api(529, "overloaded_error", None).class(),
            "overloaded_error"
        );
        assert_eq!(api(503, "brand_new_error", None).class(), "api_error");
        assert_eq!(
            api(403, "brand_new_error", None).class(),
            "permission_error"
        );
        let timeout = Error::Transport {
            endpoint: "GET /x".into(),
            timeout: true,
            message: "t".into(),
        };
        let refused = Error::Transport {
            endpoint: "GET /x".into(),
            timeout: false,
            message: "refused".into(),
        };
        assert_eq!(timeout.class(), "timeout_error");
        assert_eq!(refused.class(), "transport_error");
        assert_eq!(Error::invalid("limit", "x").class(), "invalid_argument");
    }

    #[test]
    fn display_is_one_line_with_status_type_message_and_request_id() {
        let text = api(401, "authentication_error", None).to_string();
        assert_eq!(
            text,
            "compliance API GET /v1/compliance/activities returned HTTP 401 authentication_error: msg (request-id req_011)"
        );
        let without_id = Error::MalformedResponse {
            endpoint: "GET /v1/compliance/apps/chats".into(),
            status: 200,
            request_id: None,
            transient: true,
            detail: "EOF while parsing a value at line 1 column 9".into(),
        };
        let text = without_id.to_string();
        assert!(text.contains("request-id none"), "{text}");
        assert!(text.contains("truncated"), "{text}");
        assert!(!text.contains('\n'));
    }

    #[test]
    fn accessors_expose_status_and_request_id() {
        let error = api(429, "rate_limit_error", None);
        assert_eq!(error.status(), Some(429));
        assert_eq!(error.request_id(), Some("req_011"));
        assert!(error.is_rate_limited());
        let invalid = Error::invalid("limit", "must be between 1 and 5000, got 0");
        assert_eq!(invalid.status(), None);
        assert_eq!(
            invalid.to_string(),
            "invalid argument `limit`: must be between 1 and 5000, got 0"
        );
    }
}
