//! `POST /api/v1/violations/{id}/reveal`: a violation's evidence unmasked, for a stated
//! reason. Admin and investigator tokens may reveal (the roles that read events; operators
//! may not); a project-scoped token only its projects' violations, any other id is a 404.
//! The reveal and its reason are in the audit log before the evidence is returned.

use axum::response::Response;
use axum::routing::post;
use axum::{extract::State, Router};
use uuid::Uuid;

use super::error::{ApiError, ErrorBody};
use super::events::Investigator;
use super::extract::{ApiJson, ApiPath};
use super::issues::audited;
use super::request::CallActor;
use super::ApiState;
use crate::service::investigation::reveal::{RevealRequest, RevealedEvidence};

pub fn router() -> Router<ApiState> {
    Router::new().route("/api/v1/violations/{id}/reveal", post(reveal))
}

/// The unmasked evidence of a violation: its span in the text it was found in. The reason
/// is required and kept in the audit log.
#[utoipa::path(post, path = "/api/v1/violations/{id}/reveal", tag = "investigation", operation_id = "reveal_violation",
    params(("id" = String, Path, description = "Violation id (UUID)")),
    request_body = RevealRequest,
    responses(
        (status = 200, body = RevealedEvidence),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn reveal(
    State(state): State<ApiState>,
    caller: Investigator,
    CallActor(actor): CallActor,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<RevealRequest>,
) -> Result<Response, ApiError> {
    let evidence = state
        .services
        .reveal_violation(&caller.scope(), &actor, id, body)
        .await?;
    Ok(audited(axum::http::StatusCode::OK, evidence))
}
