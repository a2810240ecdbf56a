//! The API's one error type: each variant has a status and a stable `code`, and every error
//! body is `{"error": {"code", "message", "field"?}}`. Internals never reach the client: a
//! database failure says only that, and its cause goes to the log with the request id.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::service::Error as ServiceError;

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `invalid`: a bad parameter or body field, named in `field`.
    #[error("invalid {field}: {message}")]
    Invalid { field: String, message: String },
    /// 400 `invalid_body`: the body is not JSON, or not an object of the documented shape.
    #[error("{0}")]
    InvalidBody(String),
    /// 401 `unauthorized`: no token, or one that is malformed, unknown or revoked.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403 `forbidden`: the token's role or project scope does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// 404 `not_found`: no such object (or one outside the token's scope), or no such route.
    #[error("{0}")]
    NotFound(String),
    /// 405 `method_not_allowed`.
    #[error("this route does not accept that method")]
    MethodNotAllowed,
    /// 409 `conflict`: the operation does not fit the object's current state.
    #[error("{0}")]
    Conflict(String),
    /// 413 `payload_too_large`.
    #[error("the request body is larger than 1 MB")]
    PayloadTooLarge,
    /// 415 `unsupported_media_type`.
    #[error("the request body must be JSON, sent with content-type: application/json")]
    UnsupportedMediaType,
    /// 502 `upstream_error`: the Compliance API refused or failed.
    #[error("{0}")]
    Upstream(String),
    /// 500 `configuration_error`: the server is missing a setting (e.g. the master key).
    #[error("{0}")]
    Configuration(String),
    /// 500 `internal_error`: the database failed.
    #[error("internal error: the database failed; the server log has the details under this request's id")]
    Internal,
}

/// The error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable: `invalid`, `invalid_body`, `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `conflict`, `payload_too_large`, `unsupported_media_type`,
    /// `upstream_error`, `configuration_error`, `internal_error`.
    pub code: &'static str,
    /// For people: names the bad field and the values it accepts.
    pub message: String,
    /// The parameter or body field at fault, for `invalid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid { .. } | Self::InvalidBody(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Configuration(_) | Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid",
            Self::InvalidBody(_) => "invalid_body",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Upstream(_) => "upstream_error",
            Self::Configuration(_) => "configuration_error",
            Self::Internal => "internal_error",
        }
    }

    fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: match self {
                    Self::Invalid { field, message } => format!("invalid {field}: {message}"),
                    other => other.to_string(),
                },
                field: match self {
                    Self::Invalid { field, .. } => Some(field.clone()),
                    _ => None,
                },
            },
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::Invalid { field, message } => Self::invalid(field, message),
            ServiceError::NotFound { .. } => Self::NotFound(err.to_string()),
            ServiceError::Conflict(message) => Self::Conflict(message),
            // A key the Compliance API refuses, or one without the scope needed, is the
            // caller's to fix: a 4xx on the key, not a failure of the upstream.
            ServiceError::Upstream(ref upstream) if matches!(upstream.status(), Some(401 | 403)) => {
                Self::invalid(
                    "api_key",
                    format!(
                        "the Compliance API refused it ({}): check the key and that it has the read scopes",
                        upstream
                    ),
                )
            }
            ServiceError::Upstream(_) => Self::Upstream(err.to_string()),
            ServiceError::Configuration(message) => Self::Configuration(message),
            ServiceError::Db(source) => {
                tracing::error!(error = %source, "database error");
                Self::Internal
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, Json(self.body())).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
