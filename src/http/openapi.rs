//! The OpenAPI 3.1 document of the API, generated from the handlers' annotations and the
//! views' schemas, served at `/api/v1/openapi.json`.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::ingest::IslandSignature;
use super::ApiState;

/// The bearer token scheme every `/api/v1` route but this document uses.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("lw_ token from `logwarden token create`")
                    .build(),
            ),
        );
    }
}

/// Makes the document valid: every operationId unique (`<tag>_<handler>`, since handlers in
/// different modules share names such as `list` and `show`) and every response described
/// (a response without a description is invalid OpenAPI; the status' reason phrase is used
/// where a handler gave none).
struct UniqueOperations;

impl Modify for UniqueOperations {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ]
            .into_iter()
            .flatten()
            {
                let tag = operation
                    .tags
                    .as_ref()
                    .and_then(|tags| tags.first())
                    .cloned();
                if let (Some(tag), Some(id)) = (tag, operation.operation_id.as_mut()) {
                    if !id.starts_with(&format!("{tag}_")) {
                        *id = format!("{tag}_{id}");
                    }
                }
                for (status, response) in operation.responses.responses.iter_mut() {
                    if let RefOr::T(response) = response {
                        describe(status, &mut response.description);
                    }
                }
            }
        }
        if let Some(components) = openapi.components.as_mut() {
            for (name, response) in components.responses.iter_mut() {
                if let RefOr::T(response) = response {
                    describe(name, &mut response.description);
                }
            }
        }
    }
}

/// Fills an empty response description with the status' reason phrase.
fn describe(status: &str, description: &mut String) {
    if description.trim().is_empty() {
        *description = status
            .parse::<u16>()
            .ok()
            .and_then(|code| axum::http::StatusCode::from_u16(code).ok())
            .and_then(|code| code.canonical_reason())
            .unwrap_or("Response")
            .to_owned();
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "logwarden operator API",
        description = "Integrations, backfills, jobs, runtime policies and the audit log. Errors are `{\"error\": {\"code\", \"message\", \"field\"}}`.",
    ),
    modifiers(&BearerScheme, &IslandSignature, &UniqueOperations),
    paths(
        super::health::healthz,
        super::health::readyz,
        super::metrics::metrics,
        openapi_json,
        super::integrations::list,
        super::integrations::create,
        super::integrations::show,
        super::integrations::update,
        super::integrations::delete,
        super::integrations::set_key,
        super::integrations::pause,
        super::integrations::resume,
        super::backfills::list,
        super::backfills::create,
        super::backfills::show,
        super::backfills::cancel,
        super::backfills::pause,
        super::backfills::resume,
        super::backfills::retry_failed,
        super::jobs::list,
        super::jobs::counts,
        super::jobs::retry_matching,
        super::jobs::cancel_matching,
        super::jobs::show,
        super::jobs::retry,
        super::jobs::cancel,
        super::policies::templates,
        super::policies::rows,
        super::policies::policy_set,
        super::policies::changes,
        super::policies::set_draft,
        super::policies::draft_from_template,
        super::policies::install,
        super::policies::reset,
        super::audit::list,
        super::ingest::push,
        super::events::search,
        super::events::show,
        super::sessions::list,
        super::sessions::show,
        super::alerts::list,
        super::issues::list,
        super::issues::show,
        super::issues::set_status,
        super::issues::set_assignee,
        super::issues::comment,
        super::reveal::reveal,
        super::access::search,
        super::access::show,
        super::export::events,
        super::export::access_events,
        super::datasets::list,
        super::datasets::create,
        super::datasets::show,
        super::datasets::delete,
        super::datasets::items,
        super::reports::report,
    ),
)]
pub struct ApiDoc;

pub fn router() -> Router<ApiState> {
    Router::new().route("/api/v1/openapi.json", get(openapi_json))
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
