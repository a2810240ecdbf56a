//! AI Investigation → Alerts: every alert, filtered by status, policy, user and event time,
//! newest event first, in pages. A closed alert says why (a newer evaluation superseded its
//! violation). For investigators and admins, inside their project scope, as in the API.

use axum::extract::{Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;

use super::integration::picked;
use super::pages::{layout, page, service_error};
use super::session::Viewer;
use crate::http::ApiState;
use crate::service::investigation::alerts::{AlertQuery, AlertStatus};
use crate::service::page::{Cursor, Limit, Page};
use crate::service::tokens::Role;

/// The filter form as the query string gives it; empty fields are no filter.
#[derive(Debug, Default, Deserialize)]
pub struct AlertForm {
    #[serde(default)]
    status: String,
    #[serde(default)]
    policy: String,
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
    limit: String,
    #[serde(default)]
    cursor: String,
}

/// `text` trimmed, or `None` when it is empty.
pub(super) fn given(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

/// A user filter as `(email, id)`: a text with `@` is an email, any other an id.
pub(super) fn user_of(text: &str) -> (Option<String>, Option<String>) {
    match given(text) {
        Some(user) if user.contains('@') => (Some(user), None),
        Some(user) => (None, Some(user)),
        None => (None, None),
    }
}

/// A status filter of `names`, or the error naming the field and the values it takes.
pub(super) fn status_of<T: serde::de::DeserializeOwned>(
    text: &str,
    names: &[&str],
) -> Result<Option<T>, crate::service::Error> {
    if text.is_empty() {
        return Ok(None);
    }
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map(Some)
        .map_err(|_| {
            crate::service::Error::invalid(
                "status",
                format!("{text:?} is not one of {}", names.join(", ")),
            )
        })
}

/// The page size a form asks for: 50 when it is empty.
pub(super) fn limit_of(text: &str) -> Result<Limit, crate::service::Error> {
    match text.trim() {
        "" => Ok(Limit::DEFAULT),
        text => text
            .parse::<i64>()
            .map_err(|_| {
                crate::service::Error::invalid(
                    "limit",
                    format!("{text:?} is not a whole number from 1 to 1000"),
                )
            })
            .and_then(Limit::new),
    }
}

/// A list page's rows, its next cursor and the message of a refused filter.
pub(super) struct Listed<T> {
    pub rows: Vec<T>,
    pub next: Option<String>,
    pub error: Option<String>,
}

impl<T> Listed<T> {
    /// The page `found`; a refused filter is a message on the page, any other error is
    /// returned.
    pub fn of(
        found: Result<Page<T>, crate::service::Error>,
    ) -> Result<Self, crate::service::Error> {
        match found {
            Ok(list) => Ok(Self {
                rows: list.items,
                next: list.next_cursor.map(|c| c.as_str().to_owned()),
                error: None,
            }),
            Err(err) if err.code() == "invalid" => Ok(Self {
                rows: Vec::new(),
                next: None,
                error: Some(err.to_string()),
            }),
            Err(err) => Err(err),
        }
    }

    /// 422 when a filter was refused.
    pub fn status(&self) -> StatusCode {
        if self.error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        }
    }
}

/// `raw` without its `cursor` pair, to carry a filter into links.
pub(super) fn without_cursor(raw: Option<&str>) -> String {
    raw.unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("cursor="))
        .collect::<Vec<_>>()
        .join("&")
}

pub const ALERT_STATUSES: &[&str] = &["open", "closed"];

fn query_of(form: &AlertForm) -> Result<AlertQuery, crate::service::Error> {
    let time = |field, local: &str, utc: &str| {
        (!local.trim().is_empty() || !utc.trim().is_empty())
            .then(|| picked(field, local, utc))
            .transpose()
    };
    let (user_email, user_id) = user_of(&form.user);
    Ok(AlertQuery {
        status: status_of::<AlertStatus>(&form.status, ALERT_STATUSES)?,
        policy: given(&form.policy),
        user_email,
        user_id,
        from: time("from", &form.from, &form.from_utc)?,
        to: time("to", &form.to, &form.to_utc)?,
        limit: limit_of(&form.limit)?,
        cursor: given(&form.cursor).map(Cursor::from),
        ..AlertQuery::default()
    })
}

pub async fn list(
    State(state): State<ApiState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
    Query(form): Query<AlertForm>,
) -> Response {
    if let Some(refused) = viewer.refusal(Role::Investigator) {
        return refused;
    }
    let found = match query_of(&form) {
        Ok(query) => {
            state
                .services
                .list_alerts(&viewer.caller.scope, &query)
                .await
        }
        Err(err) => Err(err),
    };
    let listed = match Listed::of(found) {
        Ok(listed) => listed,
        Err(err) => return service_error(&viewer, err),
    };
    let names = match state
        .services
        .integration_names(listed.rows.iter().map(|a| a.integration_id))
        .await
    {
        Ok(names) => names,
        Err(err) => return service_error(&viewer, err),
    };
    let rows: Vec<minijinja::Value> = listed
        .rows
        .iter()
        .map(|a| {
            context! {
                a => a,
                source => names.get(&a.integration_id).cloned().unwrap_or_default(),
            }
        })
        .collect();
    page(
        "alerts.html",
        listed.status(),
        context! { ..layout(Some(&viewer), "alerts", "Alerts"), ..context! {
            form => context! {
                status => form.status, policy => form.policy, user => form.user,
                from => form.from, to => form.to, limit => form.limit,
            },
            statuses => ALERT_STATUSES,
            filtered => raw.as_deref().is_some_and(|q| !q.is_empty()),
            kept => without_cursor(raw.as_deref()),
            rows => rows,
            next => listed.next,
            error => listed.error,
        }},
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_with_an_at_sign_is_an_email_and_any_other_an_id() {
        assert_eq!(
            user_of(" alice@example.com "),
            (Some("alice@example.com".to_owned()), None)
        );
        assert_eq!(user_of("user_01"), (None, Some("user_01".to_owned())));
        assert_eq!(user_of("  "), (None, None));
    }

    #[test]
    fn a_bad_status_or_page_size_names_the_field_and_what_it_takes() {
        let err = status_of::<AlertStatus>("gone", ALERT_STATUSES).unwrap_err();
        assert_eq!(err.field(), Some("status"));
        assert!(err.to_string().contains("open, closed"), "{err}");
        assert_eq!(
            status_of::<AlertStatus>("closed", ALERT_STATUSES).unwrap(),
            Some(AlertStatus::Closed)
        );
        for bad in ["0", "1001", "ten"] {
            let err = limit_of(bad).unwrap_err();
            assert_eq!(err.field(), Some("limit"), "{bad}");
        }
        assert_eq!(limit_of("").unwrap(), Limit::DEFAULT);
        assert_eq!(limit_of("2").unwrap().get(), 2);
    }

    #[test]
    fn links_keep_the_filters_but_not_the_cursor() {
        assert_eq!(
            without_cursor(Some("status=open&cursor=abc&policy=pii")),
            "status=open&policy=pii"
        );
        assert_eq!(without_cursor(None), "");
    }
}
