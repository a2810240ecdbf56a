//! AI Investigation → Sessions: the list of chats (user, date range and violation filters,
//! sortable columns, pages), and one session's whole chat in chronological order, each turn
//! with its violating spans highlighted in place and the session policies' findings.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{context, Value};
use serde::Deserialize;

use super::events::{
    given, optional_time, query_string, searched, segments, status, user_filter, violation_filter,
};
use super::pages::{layout, page, service_error};
use super::session::Viewer;
use crate::http::ApiState;
use crate::service::investigation::sessions::{SessionQuery, SessionRow};
use crate::service::page::Cursor;
use crate::service::tokens::Role;

/// The dashboard path of the session of chat `chat_id` on integration `integration_id`.
pub(super) fn session_href(integration_id: i64, chat_id: &str) -> String {
    let id = format!("{integration_id}:{chat_id}");
    let encoded: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
    format!("/ui/sessions/{}", encoded.replace('+', "%20"))
}

/// The list's filters as the query string gives them; empty fields are no filter.
#[derive(Debug, Default, Deserialize)]
pub struct ListForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    from_utc: String,
    #[serde(default)]
    to_utc: String,
    #[serde(default)]
    violations: String,
    #[serde(default)]
    cursor: String,
}

/// The service query of the form, or the error naming the field that is wrong.
fn query_of(form: &ListForm) -> Result<SessionQuery, crate::service::Error> {
    let (user_email, user_id) = user_filter(&form.user);
    Ok(SessionQuery {
        user_email,
        user_id,
        from: optional_time("from", &form.from, &form.from_utc)?,
        to: optional_time("to", &form.to, &form.to_utc)?,
        has_violations: violation_filter(&form.violations)?,
        cursor: given(&form.cursor).map(Cursor::from),
        ..SessionQuery::default()
    })
}

/// `form`'s filters as a query string (without its page), for the next page's link.
fn kept_of(form: &ListForm) -> String {
    query_string(&[
        ("user", &form.user),
        ("from", &form.from),
        ("to", &form.to),
        ("from_utc", &form.from_utc),
        ("to_utc", &form.to_utc),
        ("violations", &form.violations),
    ])
}

/// A session of the list with the path of its page.
fn listed(row: SessionRow) -> Value {
    let href = session_href(row.integration_id, &row.chat_id);
    context! { s => row, href => href }
}

pub async fn list(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(form): Query<ListForm>,
) -> Response {
    if let Some(refused) = viewer.refusal(Role::Investigator) {
        return refused;
    }
    let scope = &viewer.caller.scope;
    let result = async { state.services.list_sessions(scope, &query_of(&form)?).await }.await;
    let (list, error) = match searched(result) {
        Ok(found) => found,
        Err(err) => return service_error(&viewer, err),
    };
    let kept = kept_of(&form);
    page(
        "sessions.html",
        status(error.is_some()),
        context! { ..layout(Some(&viewer), "sessions", "Sessions"), ..context! {
            form => context! {
                user => form.user, from => form.from, to => form.to, violations => form.violations,
            },
            searched => !kept.is_empty() || !form.cursor.is_empty(),
            next => list.as_ref().and_then(|l| l.next_cursor.as_ref().map(|c| c.as_str().to_owned())),
            kept => kept,
            sessions => list.map(|l| l.items.into_iter().map(listed).collect::<Vec<_>>()).unwrap_or_default(),
            error => error,
        }},
    )
}

pub async fn show(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = viewer.refusal(Role::Investigator) {
        return refused;
    }
    let chat = match state.services.session_chat(&viewer.caller.scope, &id).await {
        Ok(chat) => chat,
        Err(err) => return service_error(&viewer, err),
    };
    let pretty = |value: &serde_json::Value| {
        let empty = value.is_null() || value.as_array().is_some_and(|a| a.is_empty());
        (!empty).then(|| serde_json::to_string_pretty(value).unwrap_or_default())
    };
    let turns: Vec<Value> = chat
        .events
        .iter()
        .enumerate()
        .map(|(index, e)| {
            context! {
                number => index + 1,
                e => e,
                input => segments(&e.input, &e.violations, "input"),
                output => segments(&e.output, &e.violations, "output"),
                tool_calls => pretty(&e.tool_calls),
                attachments => pretty(&e.attachments),
                tool_violations => e.violations.iter().filter(|v| v.direction == "tool").count(),
                findings => chat.session_findings.iter().filter(|f| f.event_ids.contains(&e.id)).map(|f| f.rule.clone()).collect::<Vec<_>>(),
            }
        })
        .collect();
    let violations: usize = chat.events.iter().map(|e| e.violations.len()).sum();
    let title = if chat.session.title.trim().is_empty() {
        "Untitled session".to_owned()
    } else {
        chat.session.title.clone()
    };
    page(
        "session.html",
        StatusCode::OK,
        context! { ..layout(Some(&viewer), "sessions", &title), ..context! {
            s => chat.session,
            turns => turns,
            violations => violations,
            findings => chat.session_findings,
        }},
    )
}
