//! Runtime Policies of one integration: the policy table with a toggle per policy (it edits
//! the draft), reset of the pending changes, the pending changes as a diff, Install, and the
//! templates a draft can start from.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use minijinja::context;
use serde::Deserialize;

use super::pages::{done, layout, page, service_error};
use super::session::Viewer;
use crate::http::ApiState;
use crate::service::policy_rows::template_views;
use crate::service::tokens::Role;

#[derive(Deserialize, Default)]
pub struct ShowQuery {
    notice: Option<String>,
}

fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "toggled" => "The draft changed. View the pending changes, then install them.",
        "reset" => "The pending changes are dropped: the draft is the installed set again.",
        "installed" => "Installed: jobs that start from now on evaluate with this version.",
        "template" => "The draft now holds the template. Install it to apply it.",
        _ => return None,
    })
}

async fn render(
    state: &ApiState,
    viewer: &Viewer,
    id: i64,
    notice: Option<&str>,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let services = &state.services;
    let id = match services.integration_in(&viewer.caller.scope, id).await {
        Ok(id) => id,
        Err(err) => return service_error(viewer, err),
    };
    let integration = match services.integration(id).await {
        Ok(view) => view,
        Err(err) => return service_error(viewer, err),
    };
    let set = match services.policy_set(id).await {
        Ok(set) => set,
        Err(err) => return service_error(viewer, err),
    };
    let rows = match services.policy_rows(id).await {
        Ok(rows) => rows,
        Err(err) => return service_error(viewer, err),
    };
    // The toggle shows the draft: what installing would make of each policy.
    let rows: Vec<minijinja::Value> = rows
        .into_iter()
        .map(|row| {
            let draft_enabled = set
                .draft
                .policies
                .iter()
                .any(|p| p.id.as_str() == row.policy && p.enabled);
            context! { row => row, draft_enabled => draft_enabled }
        })
        .collect();
    let changes: Vec<minijinja::Value> = set
        .pending_changes
        .iter()
        .map(|change| {
            let show = |value: &Option<serde_json::Value>| {
                value
                    .as_ref()
                    .map(|v| serde_json::to_string(v).unwrap_or_default())
            };
            context! {
                policy => change.policy,
                change => change.change,
                installed => show(&change.installed),
                draft => show(&change.draft),
            }
        })
        .collect();
    let title = format!("Runtime Policies · {}", integration.name);
    page(
        "policies.html",
        status,
        context! { ..layout(Some(viewer), "sources", &title), ..context! {
            i => integration,
            rows => rows,
            changes => changes,
            installed_version => set.installed_version,
            installed_at => set.installed_at,
            draft_template => set.draft_template,
            templates => template_views(),
            notice => notice.and_then(notice_text),
            error => error,
        }},
    )
}

pub async fn show(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(query): Query<ShowQuery>,
) -> Response {
    if let Some(refused) = viewer.refusal(Role::Operator) {
        return refused;
    }
    render(
        &state,
        &viewer,
        id,
        query.notice.as_deref(),
        None,
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
pub struct ActForm {
    #[serde(default)]
    csrf: String,
    policy: Option<String>,
    enabled: Option<String>,
    template: Option<String>,
}

/// `toggle`, `reset`, `install` or `template`.
pub async fn act(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path((id, action)): Path<(i64, String)>,
    Form(form): Form<ActForm>,
) -> Response {
    if let Some(refused) = viewer.form_refusal(Role::Operator, &form.csrf) {
        return refused;
    }
    let services = &state.services;
    let id = match services.integration_in(&viewer.caller.scope, id).await {
        Ok(id) => id,
        Err(err) => return service_error(&viewer, err),
    };
    let result = match action.as_str() {
        "toggle" => services
            .set_policy_enabled(
                id,
                form.policy.as_deref().unwrap_or_default(),
                form.enabled.as_deref() == Some("true"),
            )
            .await
            .map(|_| "toggled"),
        "reset" => services.reset_draft(id).await.map(|_| "reset"),
        "install" => services
            .install_policy_set(id, &viewer.who())
            .await
            .map(|_| "installed"),
        "template" => services
            .draft_from_template(id, form.template.as_deref().unwrap_or_default())
            .await
            .map(|_| "template"),
        other => Err(crate::service::Error::invalid(
            "action",
            format!("{other:?} is not one of toggle, reset, install, template"),
        )),
    };
    match result {
        Ok(notice) => done(
            &format!("/ui/sources/{id}/policies?notice={notice}"),
            format!("policy set of integration {id}"),
        ),
        Err(err) if matches!(err.code(), "invalid" | "conflict") => {
            render(
                &state,
                &viewer,
                id,
                None,
                Some(err.to_string()),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(err) => service_error(&viewer, err),
    }
}
