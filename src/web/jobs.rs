//! A job's detail (every attempt with its error, the completeness record), retry and cancel
//! of one job, and bulk retry or cancel of the jobs the Jobs tab's filters match.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Form;
use minijinja::context;
use serde::Deserialize;

use super::integration::{duration, job_filters};
use super::pages::{done, layout, page, service_error};
use super::session::Viewer;
use crate::http::ApiState;
use crate::service::jobs::JobQuery;
use crate::service::tokens::Role;

#[derive(Deserialize, Default)]
pub struct Notice {
    notice: Option<String>,
}

pub async fn show(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    axum::extract::Query(query): axum::extract::Query<Notice>,
) -> Response {
    if let Some(refused) = viewer.refusal(Role::Operator) {
        return refused;
    }
    let services = &state.services;
    let detail = match services.job_in(&viewer.caller.scope, id).await {
        Ok(id) => services.job_detail(id).await,
        Err(err) => Err(err),
    };
    let detail = match detail {
        Ok(detail) => detail,
        Err(err) => return service_error(&viewer, err),
    };
    let integration = match services.integration(detail.job.integration_id).await {
        Ok(view) => view,
        Err(err) => return service_error(&viewer, err),
    };
    let notice = match query.notice.as_deref() {
        Some("retried") => Some("The job is back in line with a fresh budget of attempts."),
        Some("canceled") => Some("The job is canceled."),
        _ => None,
    };
    page(
        "job.html",
        StatusCode::OK,
        context! { ..layout(Some(&viewer), "sources", &format!("Job {id}")), ..context! {
            duration => duration(&detail.job),
            retryable => detail.job.status == logwarden_jobs::kind::JobStatus::Failed,
            cancelable => !detail.job.status.is_terminal(),
            job => detail.job,
            attempts => detail.attempts,
            integration => integration,
            notice => notice,
        }},
    )
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// Retry or cancel of one job.
pub async fn act(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path((id, action)): Path<(i64, String)>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Some(refused) = viewer.form_refusal(Role::Operator, &form.csrf) {
        return refused;
    }
    let services = &state.services;
    let id = match services.job_in(&viewer.caller.scope, id).await {
        Ok(id) => id,
        Err(err) => return service_error(&viewer, err),
    };
    let result = match action.as_str() {
        "retry" => services.retry_job(id).await.map(|_| "retried"),
        "cancel" => services.cancel_job(id).await.map(|_| "canceled"),
        other => Err(crate::service::Error::invalid(
            "action",
            format!("{other:?} is not one of retry, cancel"),
        )),
    };
    match result {
        Ok(notice) => done(
            &format!("/ui/jobs/{id}?notice={notice}"),
            format!("job {id}"),
        ),
        Err(err) => service_error(&viewer, err),
    }
}

#[derive(Deserialize)]
pub struct BulkForm {
    #[serde(default)]
    csrf: String,
    action: String,
    status: Option<String>,
    kind: Option<String>,
}

/// Retries the failed jobs, or cancels the unfinished ones, among those the filters match.
pub async fn bulk(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<BulkForm>,
) -> Response {
    if let Some(refused) = viewer.form_refusal(Role::Operator, &form.csrf) {
        return refused;
    }
    let services = &state.services;
    let id = match services.integration_in(&viewer.caller.scope, id).await {
        Ok(id) => id,
        Err(err) => return service_error(&viewer, err),
    };
    let (status, kind, problems) = job_filters(form.status.as_deref(), form.kind.as_deref());
    if let Some(problem) = problems.into_iter().next() {
        return service_error(&viewer, crate::service::Error::invalid("filter", problem));
    }
    let query = JobQuery {
        integration_id: Some(id),
        status,
        kind,
        scope: viewer.caller.scope.clone(),
        ..JobQuery::default()
    };
    let (result, notice) = match form.action.as_str() {
        "retry" => (services.retry_jobs(query).await, "retried"),
        "cancel" => (services.cancel_jobs(query).await, "canceled_jobs"),
        other => (
            Err(crate::service::Error::invalid(
                "action",
                format!("{other:?} is not one of retry, cancel"),
            )),
            "",
        ),
    };
    let filters: String = [
        ("status", status.map(|s| s.as_str())),
        ("kind", kind.map(|k| k.as_str())),
    ]
    .iter()
    .filter_map(|(name, value)| value.map(|value| format!("&{name}={value}")))
    .collect();
    match result {
        Ok(count) => done(
            &format!("/ui/sources/{id}?tab=jobs&notice={notice}&count={count}{filters}"),
            format!("jobs of integration {id}"),
        ),
        Err(err) => service_error(&viewer, err),
    }
}
