//! AI Investigation → Access Events: the Compliance API's activity feed (logins, uploads,
//! views, admin actions) searched by actor, activity type, date range and IP address, and
//! one access event with the record as the API sent it.

use std::net::IpAddr;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::{context, Value};
use serde::Deserialize;

use super::events::{given, optional_time, query_string, searched, status, user_filter};
use super::pages::{layout, page, service_error};
use super::session::Viewer;
use crate::http::ApiState;
use crate::service::investigation::access::{AccessEventQuery, AccessEventRow};
use crate::service::page::Cursor;
use crate::service::tokens::Role;

/// The search form as the query string gives it; empty fields are no filter.
#[derive(Debug, Default, Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    activity: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    from_utc: String,
    #[serde(default)]
    to_utc: String,
    #[serde(default)]
    ip: String,
    #[serde(default)]
    cursor: String,
}

/// The service query of the form, or the error naming the field that is wrong.
fn query_of(form: &SearchForm) -> Result<AccessEventQuery, crate::service::Error> {
    let (actor_email, actor_user_id) = user_filter(&form.actor);
    let ip_address = match given(&form.ip) {
        Some(ip) => match ip.parse::<IpAddr>() {
            Ok(parsed) => Some(parsed.to_string()),
            Err(_) => {
                return Err(crate::service::Error::invalid(
                    "ip",
                    format!("{ip:?} is not an IP address such as 203.0.113.7 or 2001:db8::1"),
                ))
            }
        },
        None => None,
    };
    Ok(AccessEventQuery {
        actor_email,
        actor_user_id,
        activity_type: given(&form.activity),
        from: optional_time("from", &form.from, &form.from_utc)?,
        to: optional_time("to", &form.to, &form.to_utc)?,
        ip_address,
        cursor: given(&form.cursor).map(Cursor::from),
        ..AccessEventQuery::default()
    })
}

/// `form`'s search as a query string (without its page), for links.
fn kept_of(form: &SearchForm) -> String {
    query_string(&[
        ("actor", &form.actor),
        ("activity", &form.activity),
        ("from", &form.from),
        ("to", &form.to),
        ("from_utc", &form.from_utc),
        ("to_utc", &form.to_utc),
        ("ip", &form.ip),
    ])
}

/// Rows with the name of their integration, the resource column.
async fn with_names(
    state: &ApiState,
    rows: Vec<AccessEventRow>,
) -> Result<Vec<Value>, crate::service::Error> {
    let names = state
        .services
        .integration_names(rows.iter().map(|row| row.integration_id))
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let resource = names.get(&row.integration_id).cloned().unwrap_or_default();
            context! { a => row, resource => resource }
        })
        .collect())
}

pub async fn search(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(form): Query<SearchForm>,
) -> Response {
    if let Some(refused) = viewer.refusal(Role::Investigator) {
        return refused;
    }
    let scope = &viewer.caller.scope;
    let result = async {
        let query = query_of(&form)?;
        state.services.search_access_events(scope, &query).await
    }
    .await;
    let (list, error) = match searched(result) {
        Ok(found) => found,
        Err(err) => return service_error(&viewer, err),
    };
    let next = list
        .as_ref()
        .and_then(|l| l.next_cursor.as_ref().map(|c| c.as_str().to_owned()));
    let rows = match list {
        Some(list) => match with_names(&state, list.items).await {
            Ok(rows) => rows,
            Err(err) => return service_error(&viewer, err),
        },
        None => Vec::new(),
    };
    let kept = kept_of(&form);
    page(
        "access_events.html",
        status(error.is_some()),
        context! { ..layout(Some(&viewer), "events", "Access Events"), ..context! {
            tab => "access",
            form => context! {
                actor => form.actor, activity => form.activity, from => form.from, to => form.to,
                ip => form.ip,
            },
            searched => !kept.is_empty() || !form.cursor.is_empty(),
            kept => kept,
            next => next,
            rows => rows,
            error => error,
        }},
    )
}

pub async fn show(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(back): Query<SearchForm>,
) -> Response {
    if let Some(refused) = viewer.refusal(Role::Investigator) {
        return refused;
    }
    let Ok(id) = id.parse::<i64>() else {
        return service_error(
            &viewer,
            crate::service::Error::not_found("access event", id),
        );
    };
    let detail = match state
        .services
        .access_event_detail(&viewer.caller.scope, id)
        .await
    {
        Ok(detail) => detail,
        Err(err) => return service_error(&viewer, err),
    };
    let resource = match state
        .services
        .integration_names(std::iter::once(detail.event.integration_id))
        .await
    {
        Ok(names) => names.into_values().next().unwrap_or_default(),
        Err(err) => return service_error(&viewer, err),
    };
    let record = serde_json::to_string_pretty(&detail.record).unwrap_or_default();
    page(
        "access_event.html",
        StatusCode::OK,
        context! { ..layout(Some(&viewer), "events", "Access event"), ..context! {
            a => detail.event,
            resource => resource,
            record => record,
            back => kept_of(&back),
        }},
    )
}
