//! `/api/v1/audit`: the audit log, for admins.

use axum::routing::get;
use axum::{extract::State, Json, Router};

use super::auth::Authed;
use super::error::{ApiError, ErrorBody};
use super::extract::ApiQuery;
use super::ApiState;
use crate::service::audit::{AuditEntryView, AuditQuery};
use crate::service::page::Page;
use crate::service::scope::Scope;
use crate::service::tokens::Role;

pub fn router() -> Router<ApiState> {
    Router::new().route("/api/v1/audit", get(list))
}

/// Mutating calls, newest first.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, body = Page<AuditEntryView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    caller: Authed,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<Page<AuditEntryView>>, ApiError> {
    // The log names objects of every project: a project-scoped admin may not read it.
    if caller.require(Role::Admin)?.scope != Scope::Everything {
        return Err(ApiError::Forbidden(
            "the audit log is for admin tokens without a project scope".to_owned(),
        ));
    }
    Ok(Json(state.services.list_audit(query).await?))
}
