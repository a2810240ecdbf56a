//! One integration's page, with the tabs Configuration, Resources, Backfill and Jobs, and the
//! forms on it: edit, set key, pause, resume, delete, new backfill and the backfill actions.
//! Each form calls the service function the API calls, then returns to its tab with a notice.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use chrono::{DateTime, NaiveDateTime, Utc};
use logwarden_jobs::kind::{JobKind, JobStatus};
use minijinja::{context, Value};
use serde::Deserialize;

use super::pages::{done, layout, page, service_error};
use super::session::Viewer;
use crate::http::ApiState;
use crate::infra::secret::Secret;
use crate::service::backfills::{BackfillQuery, NewBackfill};
use crate::service::integration_detail::IntegrationUpdate;
use crate::service::jobs::{JobQuery, JobView};
use crate::service::page::Cursor;
use crate::service::tokens::Role;

/// The tabs of the page, in order: (id, label).
const TABS: &[(&str, &str)] = &[
    ("configuration", "Configuration"),
    ("resources", "Resources"),
    ("backfill", "Backfill"),
    ("jobs", "Jobs"),
];

/// What the page's query string may hold: the tab, the Jobs filters and page, and the
/// notice of the form that led here.
#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    tab: Option<String>,
    status: Option<String>,
    kind: Option<String>,
    cursor: Option<String>,
    notice: Option<String>,
    count: Option<u64>,
}

/// The text of a notice code a form redirects with.
fn notice_text(code: &str, count: Option<u64>) -> Option<String> {
    let text = match code {
        "updated" => "Saved the configuration.".to_owned(),
        "key" => "The new key is tested and stored; jobs that start from now on use it.".to_owned(),
        "paused" => "Syncing is paused: no new sync jobs until you resume.".to_owned(),
        "resumed" => "Syncing resumed: it catches up from where it stopped.".to_owned(),
        "deleted" => "The integration is deleted: it no longer syncs.".to_owned(),
        "backfill" => {
            "The backfill is recorded; its batches start as the rate budget allows.".to_owned()
        }
        "canceled" | "paused_backfill" | "resumed_backfill" | "retried_backfill" => match code {
            "canceled" => "The backfill is canceled.",
            "paused_backfill" => "The backfill is paused.",
            "resumed_backfill" => "The backfill resumed.",
            _ => "Its failed batches are back in line.",
        }
        .to_owned(),
        "retried" => format!("{} failed job(s) are back in line.", count.unwrap_or(0)),
        "canceled_jobs" => format!("{} job(s) canceled.", count.unwrap_or(0)),
        _ => return None,
    };
    Some(text)
}

/// `value` parsed as `T`, or an error naming `field` and the values it accepts.
fn parse_filter<T: std::str::FromStr>(
    field: &'static str,
    value: Option<&str>,
    valid: &[&str],
) -> Result<Option<T>, String> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| {
            format!(
                "{field} {text:?} is not one of {}: showing every {field}",
                valid.join(", ")
            )
        }),
    }
}

fn texts<T: Copy>(all: &[T], as_str: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|v| as_str(*v)).collect()
}

/// The Jobs tab's filters from the query string; a bad value is dropped with a message.
pub(super) fn job_filters(
    status: Option<&str>,
    kind: Option<&str>,
) -> (Option<JobStatus>, Option<JobKind>, Vec<String>) {
    let mut problems = Vec::new();
    let status = parse_filter("status", status, &texts(JobStatus::ALL, JobStatus::as_str))
        .unwrap_or_else(|problem| {
            problems.push(problem);
            None
        });
    let kind = parse_filter("kind", kind, &texts(JobKind::ALL, JobKind::as_str)).unwrap_or_else(
        |problem| {
            problems.push(problem);
            None
        },
    );
    (status, kind, problems)
}

/// How long a job's last attempt ran, e.g. `1.2 s` or `3 min 4 s`.
pub(super) fn duration(job: &JobView) -> Option<String> {
    let (start, end) = (job.started_at?, job.finished_at?);
    let millis = (end - start).num_milliseconds().max(0);
    Some(if millis < 60_000 {
        format!("{:.1} s", millis as f64 / 1000.0)
    } else {
        format!("{} min {} s", millis / 60_000, (millis % 60_000) / 1000)
    })
}

/// The integration page with `tab` shown, `errors` by field and `notice` on top.
async fn render(
    state: &ApiState,
    viewer: &Viewer,
    id: i64,
    query: ShowQuery,
    errors: BTreeMap<&'static str, String>,
    status: StatusCode,
) -> Response {
    let services = &state.services;
    let id = match services.integration_in(&viewer.caller.scope, id).await {
        Ok(id) => id,
        Err(err) => return service_error(viewer, err),
    };
    let detail = match services.integration_detail(id).await {
        Ok(detail) => detail,
        Err(err) => return service_error(viewer, err),
    };
    let tab = query
        .tab
        .as_deref()
        .filter(|tab| TABS.iter().any(|(id, _)| id == tab))
        .unwrap_or("configuration");
    let mut extra = context! {};
    match tab {
        "backfill" => {
            let list = services
                .list_backfills(BackfillQuery {
                    integration_id: Some(id),
                    cursor: query
                        .cursor
                        .clone()
                        .filter(|c| !c.is_empty())
                        .map(Cursor::from),
                    scope: viewer.caller.scope.clone(),
                    ..BackfillQuery::default()
                })
                .await;
            match list {
                Ok(list) => {
                    extra = context! {
                        backfills => list.items,
                        next => list.next_cursor.map(|c| c.as_str().to_owned()),
                    }
                }
                Err(err) => return service_error(viewer, err),
            }
        }
        "jobs" => {
            let (job_status, kind, problems) =
                job_filters(query.status.as_deref(), query.kind.as_deref());
            let filter = JobQuery {
                integration_id: Some(id),
                status: job_status,
                kind,
                scope: viewer.caller.scope.clone(),
                ..JobQuery::default()
            };
            let matching = match services.count_jobs(filter.clone()).await {
                Ok(count) => count,
                Err(err) => return service_error(viewer, err),
            };
            let list = services
                .list_jobs(JobQuery {
                    cursor: query
                        .cursor
                        .clone()
                        .filter(|c| !c.is_empty())
                        .map(Cursor::from),
                    ..filter
                })
                .await;
            match list {
                Ok(list) => {
                    let rows: Vec<Value> = list
                        .items
                        .iter()
                        .map(|job| context! { job => job, duration => duration(job) })
                        .collect();
                    extra = context! {
                        jobs => rows,
                        matching => matching,
                        status_filter => job_status.map(JobStatus::as_str),
                        kind_filter => kind.map(JobKind::as_str),
                        statuses => texts(JobStatus::ALL, JobStatus::as_str),
                        kinds => texts(JobKind::ALL, JobKind::as_str),
                        filter_problems => problems,
                        next => list.next_cursor.map(|c| c.as_str().to_owned()),
                    }
                }
                Err(err) => return service_error(viewer, err),
            }
        }
        _ => {}
    }
    let tabs: Vec<Value> = TABS
        .iter()
        .map(|(id, label)| context! { id => id, label => label })
        .collect();
    let title = detail.integration.name.clone();
    page(
        "integration.html",
        status,
        context! { ..layout(Some(viewer), "sources", &title), ..context! {
            i => detail.integration,
            resources => detail.resources,
            tab => tab,
            tabs => tabs,
            errors => errors,
            notice => query.notice.as_deref().and_then(|code| notice_text(code, query.count)),
        }, ..extra },
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
    render(&state, &viewer, id, query, BTreeMap::new(), StatusCode::OK).await
}

/// The page again with the error of a form, on the form's field, with 422.
async fn refused_form(
    state: &ApiState,
    viewer: &Viewer,
    id: i64,
    tab: &str,
    err: crate::service::Error,
    default_field: &'static str,
) -> Response {
    if matches!(
        err.code(),
        "not_found" | "internal_error" | "configuration_error"
    ) {
        return service_error(viewer, err);
    }
    let field = err.field().unwrap_or(default_field);
    let errors = BTreeMap::from([(field, err.to_string())]);
    let query = ShowQuery {
        tab: Some(tab.to_owned()),
        ..ShowQuery::default()
    };
    render(
        state,
        viewer,
        id,
        query,
        errors,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// Checks role, CSRF and scope for a form on integration `id`; the response refuses it.
async fn admit(state: &ApiState, viewer: &Viewer, csrf: &str, id: i64) -> Result<i64, Response> {
    if let Some(refused) = viewer.form_refusal(Role::Operator, csrf) {
        return Err(refused);
    }
    state
        .services
        .integration_in(&viewer.caller.scope, id)
        .await
        .map_err(|err| service_error(viewer, err))
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: String,
    name: String,
    data_plane: String,
    base_url: String,
}

/// Saves the fields that changed; a new base URL is tested with the stored key first.
pub async fn update(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<SettingsForm>,
) -> Response {
    let id = match admit(&state, &viewer, &form.csrf, id).await {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let current = match state.services.integration(id).await {
        Ok(view) => view,
        Err(err) => return service_error(&viewer, err),
    };
    let changed = |new: &str, old: &str| (new.trim() != old).then(|| new.trim().to_owned());
    let update = IntegrationUpdate {
        name: changed(&form.name, &current.name),
        data_plane: changed(&form.data_plane, &current.data_plane),
        base_url: changed(&form.base_url, &current.base_url),
    };
    match state.services.update_integration(id, update).await {
        Ok(_) => done(
            &format!("/ui/sources/{id}?notice=updated"),
            format!("integration {id}"),
        ),
        Err(err) => refused_form(&state, &viewer, id, "configuration", err, "name").await,
    }
}

#[derive(Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    csrf: String,
    api_key: String,
}

pub async fn set_key(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<KeyForm>,
) -> Response {
    let id = match admit(&state, &viewer, &form.csrf, id).await {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let key = Secret::new(form.api_key.trim());
    match state.services.set_integration_key(id, key).await {
        Ok(_) => done(
            &format!("/ui/sources/{id}?notice=key"),
            format!("integration {id}"),
        ),
        Err(err) => refused_form(&state, &viewer, id, "configuration", err, "api_key").await,
    }
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

pub async fn pause(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let id = match admit(&state, &viewer, &form.csrf, id).await {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    match state.services.pause_integration(id).await {
        Ok(_) => done(
            &format!("/ui/sources/{id}?notice=paused"),
            format!("integration {id}"),
        ),
        Err(err) => refused_form(&state, &viewer, id, "configuration", err, "status").await,
    }
}

pub async fn resume(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let id = match admit(&state, &viewer, &form.csrf, id).await {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    match state.services.resume_integration(id).await {
        Ok(_) => done(
            &format!("/ui/sources/{id}?notice=resumed"),
            format!("integration {id}"),
        ),
        Err(err) => refused_form(&state, &viewer, id, "configuration", err, "status").await,
    }
}

#[derive(Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm: String,
}

/// Deletes the integration once the name typed into the confirmation matches.
pub async fn delete(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<DeleteForm>,
) -> Response {
    let id = match admit(&state, &viewer, &form.csrf, id).await {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let name = match state.services.integration(id).await {
        Ok(view) => view.name,
        Err(err) => return service_error(&viewer, err),
    };
    if form.confirm.trim() != name {
        let err = crate::service::Error::invalid(
            "confirm",
            format!("type the integration's name, {name:?}, to confirm the deletion"),
        );
        return refused_form(&state, &viewer, id, "configuration", err, "confirm").await;
    }
    match state.services.delete_integration(id, false).await {
        Ok(_) => done(
            &format!("/ui/sources/{id}?notice=deleted"),
            format!("integration {id}"),
        ),
        Err(err) => refused_form(&state, &viewer, id, "configuration", err, "confirm").await,
    }
}

#[derive(Deserialize)]
pub struct BackfillForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
    /// The pickers' instants in UTC (RFC 3339), which the page's script fills in from the
    /// viewer's zone on submit; without the script the pickers are read as UTC.
    #[serde(default)]
    start_utc: String,
    #[serde(default)]
    end_utc: String,
}

/// The instant of a date-time picker: its UTC twin when the script sent one, else the
/// `datetime-local` value (`2026-04-08T10:00`, seconds optional) read as UTC.
pub(super) fn picked(
    field: &'static str,
    local: &str,
    utc: &str,
) -> Result<DateTime<Utc>, crate::service::Error> {
    if let Ok(at) = DateTime::parse_from_rfc3339(utc.trim()) {
        return Ok(at.with_timezone(&Utc));
    }
    let text = local.trim();
    if text.is_empty() {
        return Err(crate::service::Error::invalid(
            field,
            "choose a date and time",
        ));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .map(|at| at.and_utc())
        .map_err(|_| {
            crate::service::Error::invalid(
                field,
                format!("{text:?} is not a date and time like 2026-04-08T10:00"),
            )
        })
}

pub async fn start_backfill(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Form(form): Form<BackfillForm>,
) -> Response {
    let id = match admit(&state, &viewer, &form.csrf, id).await {
        Ok(id) => id,
        Err(refused) => return refused,
    };
    let range = picked("start", &form.start, &form.start_utc)
        .and_then(|from| Ok((from, picked("end", &form.end, &form.end_utc)?)));
    let started = match range {
        Ok((from, to)) => {
            state
                .services
                .start_backfill(NewBackfill {
                    integration_id: id,
                    from,
                    to,
                    batch_width: None,
                    created_by: viewer.who(),
                })
                .await
        }
        Err(err) => Err(err),
    };
    match started {
        Ok(view) => done(
            &format!("/ui/sources/{id}?tab=backfill&notice=backfill"),
            format!("backfill {}", view.id),
        ),
        Err(err) => refused_form(&state, &viewer, id, "backfill", err, "start").await,
    }
}

/// A backfill's progress as JSON, for the page's live progress bars.
pub async fn progress(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<i64>,
) -> Response {
    if !viewer.may(Role::Operator) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let view = match state.services.backfill_in(&viewer.caller.scope, id).await {
        Ok(id) => state.services.backfill(id).await,
        Err(err) => Err(err),
    };
    match view {
        Ok(view) => Json(view).into_response(),
        Err(err) if err.code() == "not_found" => StatusCode::NOT_FOUND.into_response(),
        Err(err) => {
            tracing::error!(error = %err, backfill = id, "cannot read a backfill's progress");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Cancel, pause, resume or retry-failed of a backfill.
pub async fn backfill_action(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path((id, action)): Path<(i64, String)>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if let Some(refused) = viewer.form_refusal(Role::Operator, &form.csrf) {
        return refused;
    }
    let services = &state.services;
    let id = match services.backfill_in(&viewer.caller.scope, id).await {
        Ok(id) => id,
        Err(err) => return service_error(&viewer, err),
    };
    let (result, notice) = match action.as_str() {
        "cancel" => (services.cancel_backfill(id).await, "canceled"),
        "pause" => (services.pause_backfill(id).await, "paused_backfill"),
        "resume" => (services.resume_backfill(id).await, "resumed_backfill"),
        "retry" => (services.retry_failed_batches(id).await, "retried_backfill"),
        other => {
            return service_error(
                &viewer,
                crate::service::Error::invalid(
                    "action",
                    format!("{other:?} is not one of cancel, pause, resume, retry"),
                ),
            )
        }
    };
    match result {
        Ok(view) => done(
            &format!(
                "/ui/sources/{}?tab=backfill&notice={notice}",
                view.integration_id
            ),
            format!("backfill {id}"),
        ),
        Err(err) => {
            let integration = match services.backfill(id).await {
                Ok(view) => view.integration_id,
                Err(err) => return service_error(&viewer, err),
            };
            refused_form(&state, &viewer, integration, "backfill", err, "backfill").await
        }
    }
}
