//! The Add New Integration wizard: basic setup (type, name, project), connection (data plane,
//! API key, Test connection) and review. The draft stays with the session in the database
//! between steps (the key encrypted under the master key), so each step may be served by
//! another replica; the key is never sent back to the browser.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use minijinja::context;
use serde::Deserialize;

use super::pages::{layout, page, service_error};
use super::session::{self, Draft, Viewer};
use crate::http::ApiState;
use crate::infra::secret::Secret;
use crate::service::integrations::NewIntegration;
use crate::service::tokens::Role;

fn render(
    viewer: &Viewer,
    step: &str,
    draft: &Draft,
    result: Option<(bool, String)>,
    errors: Vec<(&str, String)>,
) -> Response {
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let errors: std::collections::BTreeMap<&str, String> = errors.into_iter().collect();
    page(
        "wizard.html",
        status,
        context! { ..layout(Some(viewer), "sources", "Add New Integration"), ..context! {
            step => step,
            name => draft.name,
            project => draft.project,
            data_plane => draft.data_plane,
            base_url => draft.base_url,
            key_last4 => draft.api_key.as_ref().map(|key| key.last4().to_owned()),
            tested => draft.tested,
            result_ok => result.as_ref().map(|r| r.0),
            result => result.map(|r| r.1),
            errors => errors,
        }},
    )
}

pub async fn start(State(state): State<ApiState>, viewer: Viewer) -> Response {
    if let Some(refused) = viewer.refusal(Role::Operator) {
        return refused;
    }
    if let Err(err) = state.services.clear_web_draft(&viewer.session).await {
        return service_error(&viewer, err);
    }
    render(&viewer, "basic", &Draft::default(), None, vec![])
}

#[derive(Deserialize)]
pub struct StepForm {
    #[serde(default)]
    csrf: String,
    step: String,
    #[serde(default)]
    action: String,
    name: Option<String>,
    project: Option<String>,
    data_plane: Option<String>,
    api_key: Option<String>,
    base_url: Option<String>,
}

pub async fn step(
    State(state): State<ApiState>,
    viewer: Viewer,
    Form(form): Form<StepForm>,
) -> Response {
    if let Some(refused) = viewer.form_refusal(Role::Operator, &form.csrf) {
        return refused;
    }
    let mut draft = match session::draft(&state.services, &viewer.session).await {
        Ok(draft) => draft,
        Err(err) => return service_error(&viewer, err),
    };
    let mut kept = Kept::Draft;
    let response = advance(&state, &viewer, form, &mut draft, &mut kept).await;
    let saved = match kept {
        Kept::Draft => session::set_draft(&state.services, &viewer.session, &draft).await,
        Kept::Nothing => state.services.clear_web_draft(&viewer.session).await,
    };
    match saved {
        Ok(()) => response,
        Err(err) => service_error(&viewer, err),
    }
}

/// What a step leaves in the session: the draft, or nothing once the integration is added.
enum Kept {
    Draft,
    Nothing,
}

/// The page after the step `form` submits, with `draft` changed by it.
async fn advance(
    state: &ApiState,
    viewer: &Viewer,
    form: StepForm,
    draft: &mut Draft,
    kept: &mut Kept,
) -> Response {
    match form.step.as_str() {
        "basic" => {
            draft.name = form.name.unwrap_or_default().trim().to_owned();
            draft.project = form.project.unwrap_or_default().trim().to_owned();
            let mut errors = Vec::new();
            if draft.name.is_empty() {
                errors.push(("name", "Enter a name, e.g. acme-claude.".to_owned()));
            }
            if draft.project.is_empty() {
                errors.push((
                    "project",
                    "Enter the project the events belong to, e.g. security.".to_owned(),
                ));
            }
            if !errors.is_empty() {
                return render(viewer, "basic", draft, None, errors);
            }
            if draft.data_plane.is_empty() {
                draft.data_plane = "default".to_owned();
            }
            render(viewer, "connection", draft, None, vec![])
        }
        "connection" => {
            let plane = form.data_plane.unwrap_or_default().trim().to_owned();
            let base_url = form.base_url.unwrap_or_default().trim().to_owned();
            let key = form.api_key.unwrap_or_default();
            if plane != draft.data_plane || base_url != draft.base_url {
                draft.tested = false;
            }
            draft.data_plane = plane;
            draft.base_url = base_url;
            if !key.trim().is_empty() {
                draft.api_key = Some(Secret::new(key.trim()));
                draft.tested = false;
            }
            if form.action == "back" {
                return render(viewer, "basic", draft, None, vec![]);
            }
            let Some(api_key) = draft.api_key.clone() else {
                return render(
                    viewer,
                    "connection",
                    draft,
                    None,
                    vec![("api_key", "Enter the Compliance Access Key.".to_owned())],
                );
            };
            if form.action == "test" || !draft.tested {
                let base = (!draft.base_url.is_empty()).then_some(draft.base_url.as_str());
                let result = match state.services.test_connection(base, &api_key).await {
                    Ok(check) => {
                        draft.tested = true;
                        (
                            true,
                            match check.organization_uuid {
                                Some(org) => format!(
                                    "Connected to {}: the key is accepted (organisation {org}).",
                                    check.base_url
                                ),
                                None => {
                                    format!("Connected to {}: the key is accepted.", check.base_url)
                                }
                            },
                        )
                    }
                    Err(err) => {
                        draft.tested = false;
                        (false, format!("The connection failed: {err}"))
                    }
                };
                if form.action == "test" || !draft.tested {
                    return render(viewer, "connection", draft, Some(result), vec![]);
                }
            }
            render(viewer, "review", draft, None, vec![])
        }
        "review" => {
            if form.action == "back" {
                return render(viewer, "connection", draft, None, vec![]);
            }
            let Some(api_key) = draft.api_key.clone() else {
                return render(
                    viewer,
                    "connection",
                    draft,
                    None,
                    vec![("api_key", "Enter the Compliance Access Key.".to_owned())],
                );
            };
            if !state
                .services
                .may_use_project(&viewer.caller.scope, &draft.project)
                .await
                .unwrap_or(false)
            {
                return render(
                    viewer,
                    "basic",
                    draft,
                    None,
                    vec![(
                        "project",
                        format!(
                            "Your token may not add integrations to the project {:?}.",
                            draft.project
                        ),
                    )],
                );
            }
            let added = state
                .services
                .add_integration(NewIntegration {
                    name: draft.name.clone(),
                    project: draft.project.clone(),
                    data_plane: draft.data_plane.clone(),
                    api_key,
                    base_url: (!draft.base_url.is_empty()).then(|| draft.base_url.clone()),
                    sync_from: None,
                })
                .await;
            match added {
                Ok(view) => {
                    *kept = Kept::Nothing;
                    super::pages::done(
                        &format!("/ui/sources?added={}", view.id),
                        format!("integration {}", view.id),
                    )
                }
                Err(err) => {
                    let field = err.field().unwrap_or("name");
                    render(
                        viewer,
                        "review",
                        draft,
                        Some((false, err.to_string())),
                        vec![(field, err.to_string())],
                    )
                }
            }
        }
        other => render(
            viewer,
            "basic",
            draft,
            None,
            vec![(
                "step",
                format!("{other:?} is not one of basic, connection, review"),
            )],
        ),
    }
}
