//! The dashboard's page handlers: each parses its input, calls service functions (the same
//! ones as the HTTP API) and renders a template.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use chrono::Utc;
use minijinja::{context, Value};
use serde::Deserialize;

use super::session::{self, Viewer};
use super::templates::render;
use crate::http::ApiState;
use crate::service::integrations::{IntegrationQuery, IntegrationView};
use crate::service::jobs::JobQuery;
use crate::service::page::{Cursor, Limit};
use crate::service::tokens::{AuthError, Role};
use crate::service::views::Health;

/// One entry of the sidebar.
#[derive(serde::Serialize)]
struct NavItem {
    href: &'static str,
    label: &'static str,
    id: &'static str,
}

fn nav(viewer: &Viewer) -> Vec<NavItem> {
    let mut items = Vec::new();
    if viewer.may(Role::Operator) {
        items.push(NavItem {
            href: "/",
            label: "Operations",
            id: "overview",
        });
        items.push(NavItem {
            href: "/ui/sources",
            label: "Log Sources",
            id: "sources",
        });
    } else {
        items.push(NavItem {
            href: "/",
            label: "Home",
            id: "home",
        });
    }
    if viewer.may(Role::Investigator) {
        items.push(NavItem {
            href: "/ui/events",
            label: "Prompt Events",
            id: "events",
        });
        items.push(NavItem {
            href: "/ui/sessions",
            label: "Sessions",
            id: "sessions",
        });
        for (href, label, id) in [
            ("/ui/alerts", "Alerts", "alerts"),
            ("/ui/issues", "Issues", "issues"),
            ("/ui/datasets", "Datasets", "datasets"),
            ("/ui/reports", "Reports", "reports"),
        ] {
            items.push(NavItem { href, label, id });
        }
    }
    if viewer.may_read_audit() {
        items.push(NavItem {
            href: "/ui/audit",
            label: "Audit log",
            id: "audit",
        });
    }
    items
}

/// A redirect after a form that changed `target` (`integration 7`), named in its audit row.
pub(super) fn done(to: &str, target: String) -> Response {
    let mut response = Redirect::to(to).into_response();
    response
        .extensions_mut()
        .insert(crate::http::request::AuditTarget(target));
    response
}

/// What every page's layout needs.
pub(super) fn layout(viewer: Option<&Viewer>, active: &str, title: &str) -> Value {
    match viewer {
        Some(viewer) => context! {
            title => title,
            active => active,
            nav => nav(viewer),
            csrf => viewer.csrf,
            who => viewer.caller.token_name,
            role => viewer.caller.role.as_str(),
        },
        None => context! { title => title, active => active },
    }
}

pub(super) fn page(name: &str, status: StatusCode, context: Value) -> Response {
    match render(name, context) {
        Ok(html) => (
            status,
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::X_FRAME_OPTIONS, "DENY"),
            ],
            Html(html),
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, template = name, "cannot render a page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page cannot be rendered",
            )
                .into_response()
        }
    }
}

/// A page that says what went wrong.
pub fn error_page(
    viewer: Option<&Viewer>,
    status: StatusCode,
    heading: &str,
    detail: &str,
) -> Response {
    page(
        "error.html",
        status,
        context! { ..layout(viewer, "", heading), ..context! { heading => heading, detail => detail } },
    )
}

pub(super) fn service_error(viewer: &Viewer, err: crate::service::Error) -> Response {
    let status = match err.code() {
        "not_found" => StatusCode::NOT_FOUND,
        "invalid" => StatusCode::UNPROCESSABLE_ENTITY,
        "conflict" => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error_page(
        Some(viewer),
        status,
        "Something went wrong",
        &err.to_string(),
    )
}

#[derive(Deserialize)]
pub struct LoginQuery {
    error: Option<String>,
}

pub async fn login_form(Query(query): Query<LoginQuery>) -> Response {
    let csrf = session::random_id();
    let error = match query.error.as_deref() {
        Some("refused") => Some("That token is not valid: it is unknown, revoked or mistyped."),
        Some("expired") => Some("The login form expired. Paste your token again."),
        _ => None,
    };
    let mut response = page(
        "login.html",
        StatusCode::OK,
        context! { ..layout(None, "login", "Log in"), ..context! { csrf => csrf, error => error } },
    );
    if let Ok(value) = session::set_cookie(session::LOGIN_COOKIE, &csrf, Some(1800)).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
    #[serde(default)]
    csrf: String,
}

pub async fn login(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = session::cookie(&headers, session::LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !session::constant_eq(expected.as_bytes(), form.csrf.as_bytes()) {
        return Redirect::to("/login?error=expired").into_response();
    }
    let token = form.token.trim();
    let started = match state.services.authenticate(token).await {
        Ok(caller) => state
            .services
            .start_web_session(caller.token_id)
            .await
            .map_err(AuthError::Service),
        Err(err) => Err(err),
    };
    match started {
        Ok(id) => {
            let mut response = Redirect::to("/").into_response();
            let headers = response.headers_mut();
            for cookie in [
                session::set_cookie(session::COOKIE, &id, None),
                session::set_cookie(session::LOGIN_COOKIE, "", Some(0)),
            ] {
                if let Ok(value) = cookie.parse() {
                    headers.append(header::SET_COOKIE, value);
                }
            }
            response
        }
        Err(AuthError::Malformed | AuthError::Unknown) => {
            Redirect::to("/login?error=refused").into_response()
        }
        Err(AuthError::Service(err)) => error_page(
            None,
            StatusCode::SERVICE_UNAVAILABLE,
            "Cannot check your token",
            &format!("The database did not answer: {err}"),
        ),
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    State(state): State<ApiState>,
    viewer: Viewer,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Some(refused) = viewer.csrf_refusal(&form.csrf) {
        return refused;
    }
    if let Err(err) = state.services.end_web_session(&viewer.session).await {
        return service_error(&viewer, err);
    }
    let mut response = Redirect::to("/login").into_response();
    if let Ok(value) = session::set_cookie(session::COOKIE, "", Some(0)).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Integrations that need attention first: failing, then lagging, then the rest.
fn attention_order(items: &mut [IntegrationView]) {
    items.sort_by_key(|item| {
        (
            match item.health {
                Health::Failing => 0,
                Health::Lagging => 1,
                Health::Healthy => 2,
            },
            item.id,
        )
    });
}

/// One bar of the events-per-hour chart, drawn on the server.
#[derive(serde::Serialize)]
struct Bar {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
    label: String,
    events: i64,
    tick: Option<String>,
}

const CHART_WIDTH: f64 = 720.0;
/// The window of the rate-budget chart.
const BUDGET_MINUTES: u32 = 60;
const CHART_HEIGHT: f64 = 160.0;

fn bars(counts: &[crate::service::overview::HourCount]) -> (Vec<Bar>, i64) {
    let max = counts.iter().map(|c| c.events).max().unwrap_or(0).max(1);
    let slot = CHART_WIDTH / counts.len().max(1) as f64;
    let bars = counts
        .iter()
        .enumerate()
        .map(|(index, count)| {
            let height = (count.events as f64 / max as f64) * CHART_HEIGHT;
            Bar {
                x: index as f64 * slot + 2.0,
                y: CHART_HEIGHT - height,
                width: (slot - 4.0).max(1.0),
                height,
                label: count.hour.format("%H:00 UTC").to_string(),
                events: count.events,
                tick: (index % 4 == 0).then(|| count.hour.format("%H:00").to_string()),
            }
        })
        .collect();
    (bars, max)
}

pub async fn overview(State(state): State<ApiState>, viewer: Viewer) -> Response {
    if !viewer.may(Role::Operator) {
        return page(
            "home.html",
            StatusCode::OK,
            layout(Some(&viewer), "home", "Home"),
        );
    }
    let scope = viewer.caller.scope.clone();
    let services = &state.services;
    let counts = match services
        .job_status_counts(JobQuery {
            scope: scope.clone(),
            ..JobQuery::default()
        })
        .await
    {
        Ok(counts) => counts,
        Err(err) => return service_error(&viewer, err),
    };
    let mut totals = [0u64; 6];
    for row in &counts {
        for (slot, count) in totals.iter_mut().zip([
            row.pending,
            row.enqueued,
            row.processing,
            row.succeeded,
            row.failed,
            row.canceled,
        ]) {
            *slot += count;
        }
    }
    let statuses: Vec<Value> = [
        "pending",
        "enqueued",
        "processing",
        "succeeded",
        "failed",
        "canceled",
    ]
    .iter()
    .zip(totals)
    .map(|(name, count)| context! { name => name, count => count })
    .collect();
    let depths = match services.queue_depths().await {
        Ok(depths) => depths,
        Err(err) => return service_error(&viewer, err),
    };
    let hours = match services.events_per_hour(&scope, Utc::now(), 24).await {
        Ok(hours) => hours,
        Err(err) => return service_error(&viewer, err),
    };
    let budget_report = match services
        .budget_use(&scope, Utc::now(), BUDGET_MINUTES)
        .await
    {
        Ok(report) => report,
        Err(err) => return service_error(&viewer, err),
    };
    let per_minute_limit = i64::from(services.settings.rate_limit_per_minute).max(1);
    let budgets: Vec<Value> = budget_report
        .organizations
        .iter()
        .map(|b| {
            let percent = b.requests as f64 * 100.0 / b.budget.max(1) as f64;
            let busiest = b.per_minute.iter().copied().max().unwrap_or(0);
            context! {
                organization => b.organization,
                requests => b.requests,
                budget => b.budget,
                percent => percent,
                width => percent.min(100.0),
                busiest => busiest,
                per_minute_limit => per_minute_limit,
            }
        })
        .collect();
    let total_events: i64 = hours.iter().map(|h| h.events).sum();
    let (bars, max) = bars(&hours);
    let mut integrations = match services
        .list_integrations(IntegrationQuery {
            scope,
            limit: Limit::LARGEST,
            ..IntegrationQuery::default()
        })
        .await
    {
        Ok(page) => page.items,
        Err(err) => return service_error(&viewer, err),
    };
    integrations.retain(|item| item.status != logwarden_jobs::kind::IntegrationStatus::Deleted);
    attention_order(&mut integrations);
    let attention = integrations
        .iter()
        .filter(|item| item.health != Health::Healthy)
        .count();
    integrations.truncate(10);
    page(
        "overview.html",
        StatusCode::OK,
        context! { ..layout(Some(&viewer), "overview", "Operations"), ..context! {
            statuses => statuses,
            depths => depths,
            bars => bars,
            max => max,
            chart_width => CHART_WIDTH,
            chart_height => CHART_HEIGHT,
            total_events => total_events,
            integrations => integrations,
            attention => attention,
            budgets => budgets,
            budget_minutes => BUDGET_MINUTES,
            budget_unavailable => budget_report.unavailable,
        }},
    )
}

#[derive(Deserialize)]
pub struct SourcesQuery {
    cursor: Option<String>,
    added: Option<i64>,
}

pub async fn sources(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(query): Query<SourcesQuery>,
) -> Response {
    if let Some(refused) = viewer.refusal(Role::Operator) {
        return refused;
    }
    let list = state
        .services
        .list_integrations(IntegrationQuery {
            scope: viewer.caller.scope.clone(),
            cursor: query.cursor.filter(|c| !c.is_empty()).map(Cursor::from),
            ..IntegrationQuery::default()
        })
        .await;
    let list = match list {
        Ok(list) => list,
        Err(err) => return service_error(&viewer, err),
    };
    page(
        "sources.html",
        StatusCode::OK,
        context! { ..layout(Some(&viewer), "sources", "Log Sources"), ..context! {
            added => query.added.and_then(|id| list.items.iter().find(|i| i.id == id).map(|i| i.name.clone())),
            integrations => list.items,
            next => list.next_cursor.as_ref().map(|c| c.as_str().to_owned()),
        }},
    )
}
