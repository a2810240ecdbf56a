//! `/api/v1/integrations`: the log sources. Create (the key is tested first), list, get with
//! the resources seen, update, pause, resume and delete. The key is write-only.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{extract::State, Json, Router};
use chrono::{DateTime, Utc};
use logwarden_jobs::kind::IntegrationKind;
use serde::Deserialize;

use super::auth::Operator;
use super::error::{ApiError, ErrorBody};
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::request::AuditTarget;
use super::ApiState;
use crate::infra::secret::Secret;
use crate::service::integration_detail::{IntegrationDetailView, IntegrationUpdate};
use crate::service::integrations::{IntegrationQuery, IntegrationView, NewIntegration};
use crate::service::island::NewIslandIntegration;
use crate::service::page::Page;

pub fn router() -> Router<ApiState> {
    Router::new()
        .route("/api/v1/integrations", get(list).post(create))
        .route(
            "/api/v1/integrations/{id}",
            get(show).patch(update).delete(delete),
        )
        .route("/api/v1/integrations/{id}/key", put(set_key))
        .route("/api/v1/integrations/{id}/pause", post(pause))
        .route("/api/v1/integrations/{id}/resume", post(resume))
}

/// A new log source.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIntegration {
    /// Unique, 1 to 100 printable characters.
    pub name: String,
    /// `anthropic_compliance_api` (pulled from the Compliance API, the default) or `island`
    /// (pushed to `POST /api/v1/ingest/{integration_id}/events`, signed with its secret).
    pub kind: Option<IntegrationKind>,
    /// The project it belongs to (created when new, unless the token is project-scoped).
    pub project: String,
    /// The data plane whose workers pull it (default `default`).
    pub data_plane: Option<String>,
    /// The Compliance API key; write-only, tested before anything is saved. Required for
    /// `anthropic_compliance_api`, refused for `island`.
    pub api_key: Option<String>,
    /// Default `https://api.anthropic.com`. Not for `island`.
    pub base_url: Option<String>,
    /// Where syncing starts (default: the `initial_lookback` setting before now). Not for
    /// `island`.
    pub sync_from: Option<DateTime<Utc>>,
    /// `island` only: the signing secret, at least 32 characters; generated when absent.
    /// Write-only: the response shows it this once.
    pub secret: Option<String>,
}

/// An added integration; for `island`, with its signing secret, shown only here.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CreatedIntegration {
    #[serde(flatten)]
    pub integration: IntegrationView,
    /// `island` only: the secret that signs its pushes. It is never shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// A new key for a log source.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetKey {
    /// Tested against the Compliance API before it replaces the old one; write-only.
    pub api_key: String,
}

/// Whether deleting also removes the ingested data.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// Also delete its events, access events, sessions, violations, alerts and issues.
    #[serde(default)]
    pub purge: bool,
}

pub(crate) fn created<T: serde::Serialize>(target: String, body: T) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response.extensions_mut().insert(AuditTarget(target));
    response
}

/// Log sources that match the filters, in id order.
#[utoipa::path(get, path = "/api/v1/integrations", tag = "integrations",
    params(IntegrationQuery),
    responses(
        (status = 200, body = Page<IntegrationView>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<ApiState>,
    caller: Operator,
    ApiQuery(mut query): ApiQuery<IntegrationQuery>,
) -> Result<Json<Page<IntegrationView>>, ApiError> {
    query.scope = caller.scope();
    Ok(Json(state.services.list_integrations(query).await?))
}

/// Adds a log source after testing its key against the Compliance API.
#[utoipa::path(post, path = "/api/v1/integrations", tag = "integrations",
    request_body = CreateIntegration,
    responses(
        (status = 201, body = CreatedIntegration),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 502, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<ApiState>,
    caller: Operator,
    ApiJson(body): ApiJson<CreateIntegration>,
) -> Result<Response, ApiError> {
    let scope = caller.scope();
    let kind = body.kind.unwrap_or(IntegrationKind::AnthropicComplianceApi);
    if !state
        .services
        .may_use_project(&scope, &body.project)
        .await?
    {
        return Err(ApiError::Forbidden(format!(
            "this token is not scoped to the project {:?}",
            body.project
        )));
    }
    let data_plane = body.data_plane.unwrap_or_else(|| "default".to_owned());
    if kind == IntegrationKind::Island {
        for (field, given) in [
            ("api_key", body.api_key.is_some()),
            ("base_url", body.base_url.is_some()),
            ("sync_from", body.sync_from.is_some()),
        ] {
            if given {
                return Err(ApiError::invalid(
                    field,
                    "island integrations are pushed, not pulled: give only name, project, data_plane and secret",
                ));
            }
        }
        let created = state
            .services
            .add_island_integration(NewIslandIntegration {
                name: body.name,
                project: body.project,
                data_plane,
                secret: body.secret.map(Secret::new),
            })
            .await?;
        let id = created.integration.id;
        return Ok(super::integrations::created(
            format!("integration {id}"),
            CreatedIntegration {
                integration: created.integration,
                secret: Some(created.secret.expose().to_owned()),
            },
        ));
    }
    if body.secret.is_some() {
        return Err(ApiError::invalid(
            "secret",
            "only island integrations take a secret: give api_key for anthropic_compliance_api",
        ));
    }
    let Some(api_key) = body.api_key else {
        return Err(ApiError::invalid(
            "api_key",
            "required for anthropic_compliance_api integrations",
        ));
    };
    let view = state
        .services
        .add_integration(NewIntegration {
            name: body.name,
            project: body.project,
            data_plane,
            api_key: Secret::new(api_key),
            base_url: body.base_url,
            sync_from: body.sync_from,
        })
        .await?;
    Ok(created(
        format!("integration {}", view.id),
        CreatedIntegration {
            integration: view,
            secret: None,
        },
    ))
}

/// A log source's configuration and the resources it has seen.
#[utoipa::path(get, path = "/api/v1/integrations/{id}", tag = "integrations",
    params(("id" = i64, Path, description = "Integration id")),
    responses(
        (status = 200, body = IntegrationDetailView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn show(
    State(state): State<ApiState>,
    caller: Operator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<IntegrationDetailView>, ApiError> {
    let id = state.services.integration_in(&caller.scope(), id).await?;
    Ok(Json(state.services.integration_detail(id).await?))
}

/// Renames a log source, moves it to another data plane or points it at another base URL.
#[utoipa::path(patch, path = "/api/v1/integrations/{id}", tag = "integrations",
    params(("id" = i64, Path, description = "Integration id")),
    request_body = IntegrationUpdate,
    responses(
        (status = 200, body = IntegrationView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 502, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<ApiState>,
    caller: Operator,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<IntegrationUpdate>,
) -> Result<Json<IntegrationView>, ApiError> {
    let id = state.services.integration_in(&caller.scope(), id).await?;
    Ok(Json(state.services.update_integration(id, body).await?))
}

/// Deletes a log source: its unfinished jobs are canceled; ingested data stays unless
/// `purge=true`.
#[utoipa::path(delete, path = "/api/v1/integrations/{id}", tag = "integrations",
    params(("id" = i64, Path, description = "Integration id"), DeleteQuery),
    responses(
        (status = 200, body = IntegrationView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<ApiState>,
    caller: Operator,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> Result<Json<IntegrationView>, ApiError> {
    let id = state.services.integration_in(&caller.scope(), id).await?;
    Ok(Json(
        state.services.delete_integration(id, query.purge).await?,
    ))
}

/// Replaces a log source's key after testing it; responses show only its last 4.
#[utoipa::path(put, path = "/api/v1/integrations/{id}/key", tag = "integrations",
    params(("id" = i64, Path, description = "Integration id")),
    request_body = SetKey,
    responses(
        (status = 200, body = IntegrationView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 413, body = ErrorBody),
        (status = 415, body = ErrorBody), (status = 502, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn set_key(
    State(state): State<ApiState>,
    caller: Operator,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<SetKey>,
) -> Result<Json<IntegrationView>, ApiError> {
    let id = state.services.integration_in(&caller.scope(), id).await?;
    Ok(Json(
        state
            .services
            .set_integration_key(id, Secret::new(body.api_key))
            .await?,
    ))
}

/// Pauses syncing: no new sync jobs; queued jobs wait.
#[utoipa::path(post, path = "/api/v1/integrations/{id}/pause", tag = "integrations",
    params(("id" = i64, Path, description = "Integration id")),
    responses(
        (status = 200, body = IntegrationView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn pause(
    State(state): State<ApiState>,
    caller: Operator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<IntegrationView>, ApiError> {
    let id = state.services.integration_in(&caller.scope(), id).await?;
    Ok(Json(state.services.pause_integration(id).await?))
}

/// Resumes syncing from the watermark.
#[utoipa::path(post, path = "/api/v1/integrations/{id}/resume", tag = "integrations",
    params(("id" = i64, Path, description = "Integration id")),
    responses(
        (status = 200, body = IntegrationView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn resume(
    State(state): State<ApiState>,
    caller: Operator,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<IntegrationView>, ApiError> {
    let id = state.services.integration_in(&caller.scope(), id).await?;
    Ok(Json(state.services.resume_integration(id).await?))
}
