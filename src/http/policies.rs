//! Runtime policies per integration: the policy rows, the draft and its pending changes,
//! editing the draft (a whole set, or a template), installing it, resetting it, and the
//! templates.

use axum::routing::{get, post, put};
use axum::{extract::State, Json, Router};
use logwarden_policy::PolicySetConfig;
use serde::Deserialize;

use super::auth::Operator;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::ApiState;
use crate::service::policies::{PolicyChange, PolicySetView};
use crate::service::policy_rows::{template_views, PolicyRowView, TemplateView};

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/policy-templates", get(templates))
        .route("/api/v1/integrations/{id}/policies", get(rows))
        .route("/api/v1/integrations/{id}/policy-set", get(policy_set))
        .route("/api/v1/integrations/{id}/policy-set/changes", get(changes))
        .route("/api/v1/integrations/{id}/policy-set/draft", put(set_draft))
        .route(
            "/api/v1/integrations/{id}/policy-set/draft/template",
            post(draft_from_template),
        )
        .route(
            "/api/v1/integrations/{id}/policy-set/install",
            post(install),
        )
        .route("/api/v1/integrations/{id}/policy-set/reset", post(reset))
}

/// A template to start the draft from.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DraftFromTemplate {
    /// A template id from `/api/v1/policy-templates`.
    pub template: String,
}

/// The policy set templates.
#[utoipa::path(get, path = "/api/v1/policy-templates", tag = "policies",
    responses(
        (status = 200, body = Vec<TemplateView>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn templates(_caller: Operator) -> Result<Json<Vec<TemplateView>>, ApiError> {
    Ok(Json(template_views()))
}

/// One row per policy: tags, enabled, action, effective action, status.
#[utoipa::path(get, path = "/api/v1/integrations/{id}/policies", tag = "policies",
    params(("id" = i64, Path, description = "Integration id")),
    responses(
        (status = 200, body = Vec<PolicyRowView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn rows(
    State(state): State<ApiState>,
    caller: Operator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<PolicyRowView>>, ApiError> {
    let id = state.services.integration_in(&caller.scope(), id).await?;
    Ok(Json(state.services.policy_rows(id).await?))
}

/// The draft, the installed version (with its install time) and the pending changes.
#[utoipa::path(get, path = "/api/v1/integrations/{id}/policy-set", tag = "policies",
    params(("id" = i64, Path, description = "Integration id")),
    responses(
        (status = 200, body = PolicySetView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn policy_set(
    State(state): State<ApiState>,
    caller: Operator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PolicySetView>, ApiError> {
    let id = state.services.integration_in(&caller.scope(), id).await?;
    Ok(Json(state.services.policy_set(id).await?))
}

/// What installing the draft would change, policy by policy.
#[utoipa::path(get, path = "/api/v1/integrations/{id}/policy-set/changes", tag = "policies",
    params(("id" = i64, Path, description = "Integration id")),
    responses(
        (status = 200, body = Vec<PolicyChange>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn changes(
    State(state): State<ApiState>,
    caller: Operator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Vec<PolicyChange>>, ApiError> {
    let id = state.services.integration_in(&caller.scope(), id).await?;
    Ok(Json(state.services.policy_set(id).await?.pending_changes))
}

/// Replaces the draft with a whole policy set, validated and compiled first.
#[utoipa::path(put, path = "/api/v1/integrations/{id}/policy-set/draft", tag = "policies",
    params(("id" = i64, Path, description = "Integration id")),
    request_body(content = Object, description = "A policy set: `{\"policies\": [{\"id\": \"pii\", \"enabled\": true, \"action\": \"alert\"}]}`"),
    responses(
        (status = 200, body = PolicySetView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn set_draft(
    State(state): State<ApiState>,
    caller: Operator,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<PolicySetConfig>,
) -> Result<Json<PolicySetView>, ApiError> {
    let id = state.services.integration_in(&caller.scope(), id).await?;
    Ok(Json(state.services.set_draft(id, &body).await?))
}

/// Replaces the draft with a template.
#[utoipa::path(post, path = "/api/v1/integrations/{id}/policy-set/draft/template", tag = "policies",
    params(("id" = i64, Path, description = "Integration id")),
    request_body = DraftFromTemplate,
    responses(
        (status = 200, body = PolicySetView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn draft_from_template(
    State(state): State<ApiState>,
    caller: Operator,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<DraftFromTemplate>,
) -> Result<Json<PolicySetView>, ApiError> {
    let id = state.services.integration_in(&caller.scope(), id).await?;
    Ok(Json(
        state
            .services
            .draft_from_template(id, &body.template)
            .await?,
    ))
}

/// Installs the draft as the next version; new jobs evaluate with it.
#[utoipa::path(post, path = "/api/v1/integrations/{id}/policy-set/install", tag = "policies",
    params(("id" = i64, Path, description = "Integration id")),
    responses(
        (status = 200, body = PolicySetView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn install(
    State(state): State<ApiState>,
    caller: Operator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PolicySetView>, ApiError> {
    let id = state.services.integration_in(&caller.scope(), id).await?;
    let by = caller.who();
    Ok(Json(state.services.install_policy_set(id, &by).await?))
}

/// Drops the pending changes: the draft becomes the installed set again.
#[utoipa::path(post, path = "/api/v1/integrations/{id}/policy-set/reset", tag = "policies",
    params(("id" = i64, Path, description = "Integration id")),
    responses(
        (status = 200, body = PolicySetView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn reset(
    State(state): State<ApiState>,
    caller: Operator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<PolicySetView>, ApiError> {
    let id = state.services.integration_in(&caller.scope(), id).await?;
    Ok(Json(state.services.reset_draft(id).await?))
}
