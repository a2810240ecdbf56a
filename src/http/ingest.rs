//! `/api/v1/ingest/{integration_id}/events`: Island's push. No bearer token: the batch is
//! signed with the integration's own secret (see [`crate::service::island`]). This route
//! takes bodies up to 5 MB, above the API's 1 MB.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use super::error::{ApiError, ErrorBody, ErrorDetail};
use super::extract::ApiPath;
use super::ApiState;
use crate::service::island::{
    IslandBatch, IslandReceipt, PushError, MAX_BATCH_BYTES, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};

pub fn router() -> Router<ApiState> {
    Router::new().route(
        "/api/v1/ingest/{integration_id}/events",
        // One byte over the limit still reaches the handler's own check, so the 413 names it.
        post(push).layer(DefaultBodyLimit::max(MAX_BATCH_BYTES + 1)),
    )
}

/// The security scheme of the push: the signature header (see [`push`]).
pub struct IslandSignature;

impl utoipa::Modify for IslandSignature {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "island_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                SIGNATURE_HEADER,
                "sha256=<hex HMAC-SHA256 of \"{x-logwarden-timestamp}.{body}\"> keyed by the island integration's secret",
            ))),
        );
    }
}

fn too_large(message: String) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        Json(ErrorBody {
            error: ErrorDetail {
                code: "payload_too_large",
                message,
                field: None,
            },
        }),
    )
        .into_response()
}

/// Stores a signed batch of Island records, evaluated like pulled events; all or nothing.
///
/// Headers: `x-logwarden-timestamp` (Unix seconds, within 5 minutes of the server's clock)
/// and `x-logwarden-signature: sha256=<hex>`, the HMAC-SHA256 keyed by the integration's
/// secret of `"{timestamp}.{body}"`. At most 1,000 records and 5 MB. A record sent again
/// with the same `id` leaves the stored event as it is when unchanged.
#[utoipa::path(post, path = "/api/v1/ingest/{integration_id}/events", tag = "ingest",
    params(
        ("integration_id" = i64, Path, description = "An `island` integration's id"),
        ("x-logwarden-timestamp" = String, Header, description = "Unix seconds when the batch was signed"),
        ("x-logwarden-signature" = String, Header, description = "`sha256=` and the hex HMAC-SHA256 of `{timestamp}.{body}` keyed by the integration's secret"),
    ),
    request_body = IslandBatch,
    responses(
        (status = 200, body = IslandReceipt, description = "The batch is stored"),
        (status = 400, body = ErrorBody, description = "A bad record: `field` names its index and field, e.g. `records[3].time`"),
        (status = 401, body = ErrorBody, description = "Unknown integration, bad signature or stale timestamp"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The integration is paused"),
        (status = 413, body = ErrorBody, description = "More than 1,000 records or 5 MB"),
    ),
    security(("island_signature" = [])))]
pub async fn push(
    State(state): State<ApiState>,
    ApiPath(integration_id): ApiPath<i64>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<IslandReceipt>, Response> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large(format!("a batch is at most {MAX_BATCH_BYTES} bytes"))
        } else {
            ApiError::InvalidBody(rejection.body_text()).into_response()
        }
    })?;
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    state
        .services
        .push_island_batch(
            integration_id,
            header(TIMESTAMP_HEADER),
            header(SIGNATURE_HEADER),
            &body,
        )
        .await
        .map(Json)
        .map_err(|err| match err {
            PushError::Unauthorized(message) => {
                let mut response = ApiError::Unauthorized(message).into_response();
                response
                    .headers_mut()
                    .remove(axum::http::header::WWW_AUTHENTICATE);
                response
            }
            PushError::TooLarge(message) => too_large(message),
            PushError::Invalid { field, message } => {
                ApiError::invalid(field, message).into_response()
            }
            PushError::Service(err) => ApiError::from(err).into_response(),
        })
}
