//! AI Investigation → Prompt Events: the search (user, date range, filters, refresh), the
//! results table with violation markers, and one event's detail with its violating spans
//! highlighted in place.

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::integration::picked;
use super::pages::{layout, page, service_error};
use super::session::Viewer;
use crate::http::ApiState;
use crate::service::investigation::events::{EventQuery, EventViolation};
use crate::service::page::Cursor;
use crate::service::tokens::Role;

/// The search form as the query string gives it; empty fields are no filter.
#[derive(Debug, Default, Deserialize)]
pub struct SearchForm {
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
    q: String,
    #[serde(default)]
    cursor: String,
}

/// The service query of the form, or the error naming the field that is wrong.
fn query_of(form: &SearchForm) -> Result<EventQuery, crate::service::Error> {
    let given = |text: &str| Some(text.trim().to_owned()).filter(|t| !t.is_empty());
    let user = given(&form.user);
    let (user_email, user_id) = match user {
        Some(user) if user.contains('@') => (Some(user), None),
        Some(user) => (None, Some(user)),
        None => (None, None),
    };
    let time = |field, local: &str, utc: &str| {
        (!local.trim().is_empty() || !utc.trim().is_empty())
            .then(|| picked(field, local, utc))
            .transpose()
    };
    let has_violation = match form.violations.as_str() {
        "" => None,
        "with" => Some(true),
        "without" => Some(false),
        other => {
            return Err(crate::service::Error::invalid(
                "violations",
                format!("{other:?} is not one of with, without"),
            ))
        }
    };
    Ok(EventQuery {
        user_email,
        user_id,
        from: time("from", &form.from, &form.from_utc)?,
        to: time("to", &form.to, &form.to_utc)?,
        has_violation,
        q: given(&form.q),
        cursor: given(&form.cursor).map(Cursor::from),
        ..EventQuery::default()
    })
}

pub async fn search(
    State(state): State<ApiState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
    Query(form): Query<SearchForm>,
) -> Response {
    if let Some(refused) = viewer.refusal(Role::Investigator) {
        return refused;
    }
    let result = match query_of(&form) {
        Ok(query) => state
            .services
            .search_events(&viewer.caller.scope, &query)
            .await
            .map(|page| (query, page)),
        Err(err) => Err(err),
    };
    let (page_of, error) = match result {
        Ok((_, page)) => (Some(page), None),
        Err(err) if err.code() == "invalid" => (None, Some(err.to_string())),
        Err(err) => return service_error(&viewer, err),
    };
    // The next page keeps the search: the query string with its cursor replaced.
    let kept: String = form_urlencoded_without_cursor(raw.as_deref().unwrap_or(""));
    page(
        "events.html",
        if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        context! { ..layout(Some(&viewer), "events", "Prompt Events"), ..context! {
            form => context! {
                user => form.user, from => form.from, to => form.to,
                violations => form.violations, q => form.q,
            },
            searched => raw.as_deref().is_some_and(|q| !q.is_empty()),
            kept => kept,
            next => page_of.as_ref().and_then(|p| p.next_cursor.as_ref().map(|c| c.as_str().to_owned())),
            total => page_of.as_ref().map(|p| p.total.count),
            capped => page_of.as_ref().is_some_and(|p| p.total.capped),
            events => page_of.map(|p| p.items).unwrap_or_default(),
            error => error,
        }},
    )
}

/// `raw` without its `cursor` pair, to carry a search into links.
fn form_urlencoded_without_cursor(raw: &str) -> String {
    raw.split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("cursor="))
        .collect::<Vec<_>>()
        .join("&")
}

/// A piece of an event's text: plain, or inside the span of violations.
#[derive(Debug, PartialEq, Serialize)]
pub struct Segment {
    text: String,
    /// The policies whose findings cover this piece; empty for plain text.
    policies: Vec<String>,
}

/// `text` cut at the byte spans of `violations` on `side`, so each violating piece can be
/// marked. Spans out of range or off a character boundary are moved to the nearest boundary.
pub fn segments(text: &str, violations: &[EventViolation], side: &str) -> Vec<Segment> {
    let floor = |at: usize| {
        let mut at = at.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    let spans: Vec<(usize, usize, &str)> = violations
        .iter()
        .filter(|v| v.direction == side)
        .map(|v| {
            let start = floor(usize::try_from(v.span_start).unwrap_or(0));
            let end = floor(usize::try_from(v.span_end).unwrap_or(0));
            (start, end.max(start), v.policy.as_str())
        })
        .filter(|(start, end, _)| start < end)
        .collect();
    let mut cuts: Vec<usize> = spans
        .iter()
        .flat_map(|(start, end, _)| [*start, *end])
        .chain([0, text.len()])
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2)
        .map(|pair| {
            let (from, to) = (pair[0], pair[1]);
            let mut policies: Vec<String> = spans
                .iter()
                .filter(|(start, end, _)| *start <= from && to <= *end)
                .map(|(_, _, policy)| (*policy).to_owned())
                .collect();
            policies.dedup();
            Segment {
                text: text[from..to].to_owned(),
                policies,
            }
        })
        .collect()
}

pub async fn show(
    State(state): State<ApiState>,
    viewer: Viewer,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Some(refused) = viewer.refusal(Role::Investigator) {
        return refused;
    }
    let Ok(id) = Uuid::parse_str(&id) else {
        return service_error(&viewer, crate::service::Error::not_found("event", id));
    };
    let detail = match state.services.event_detail(&viewer.caller.scope, id).await {
        Ok(detail) => detail,
        Err(err) => return service_error(&viewer, err),
    };
    let pretty = |value: &serde_json::Value| {
        let empty = value.is_null() || value.as_array().is_some_and(|a| a.is_empty());
        (!empty).then(|| serde_json::to_string_pretty(value).unwrap_or_default())
    };
    page(
        "event.html",
        StatusCode::OK,
        context! { ..layout(Some(&viewer), "events", "Prompt event"), ..context! {
            input => segments(&detail.input, &detail.violations, "input"),
            output => segments(&detail.output, &detail.violations, "output"),
            tool_calls => pretty(&detail.tool_calls),
            attachments => pretty(&detail.attachments),
            back => raw.unwrap_or_default(),
            e => detail,
        }},
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation(side: &str, start: i32, end: i32, policy: &str) -> EventViolation {
        EventViolation {
            id: Uuid::nil(),
            policy: policy.into(),
            rule: "rule".into(),
            direction: side.into(),
            span_start: start,
            span_end: end,
            masked_evidence: "****".into(),
            severity: "high".into(),
            configured_action: "alert".into(),
            effective_action: "alert".into(),
            action_label: "ALERT - Input".into(),
        }
    }

    #[test]
    fn spans_of_the_side_are_cut_out_and_named_by_policy() {
        let text = "my key is sk-123 ok";
        let found = segments(
            text,
            &[
                violation("input", 10, 16, "secrets"),
                violation("output", 0, 2, "pii"),
            ],
            "input",
        );
        let pieces: Vec<(&str, Vec<String>)> = found
            .iter()
            .map(|s| (s.text.as_str(), s.policies.clone()))
            .collect();
        assert_eq!(
            pieces,
            vec![
                ("my key is ", vec![]),
                ("sk-123", vec!["secrets".to_owned()]),
                (" ok", vec![]),
            ]
        );
    }

    #[test]
    fn a_span_inside_a_character_or_past_the_end_stops_at_a_boundary() {
        let text = "é€x";
        let found = segments(text, &[violation("input", 1, 99, "pii")], "input");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].text, "é€x");
        assert_eq!(found[0].policies, vec!["pii".to_owned()]);
    }
}
