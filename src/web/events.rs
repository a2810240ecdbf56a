//! AI Investigation → Prompt Events: the search (user, date range, filters, refresh), the
//! results table with violation markers, and one event's detail with its violating spans
//! highlighted in place.

use axum::body::Body;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use chrono::SecondsFormat;
use minijinja::context;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::integration::picked;
use super::pages::{done, layout, page, service_error};
use super::session::Viewer;
use crate::http::ApiState;
use crate::service::investigation::datasets::{DatasetQuery, NewDataset};
use crate::service::investigation::events::{EventQuery, EventViolation};
use crate::service::investigation::export::{ExportFormat, ExportOptions};
use crate::service::page::{Cursor, Limit};
use crate::service::tokens::Role;

/// The search form as the query string gives it; empty fields are no filter.
#[derive(Debug, Default, Clone, Deserialize)]
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

/// A user given as an email or an id: `(email, id)`, at most one of them set.
pub(super) fn user_filter(text: &str) -> (Option<String>, Option<String>) {
    match given(text) {
        Some(user) if user.contains('@') => (Some(user), None),
        Some(user) => (None, Some(user)),
        None => (None, None),
    }
}

/// `text` trimmed, when it is not empty.
pub(super) fn given(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

/// The instant of an optional date-time picker `field` (see [`picked`]).
pub(super) fn optional_time(
    field: &'static str,
    local: &str,
    utc: &str,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, crate::service::Error> {
    (!local.trim().is_empty() || !utc.trim().is_empty())
        .then(|| picked(field, local, utc))
        .transpose()
}

/// The violations select: `with`, `without`, or empty for either.
pub(super) fn violation_filter(value: &str) -> Result<Option<bool>, crate::service::Error> {
    match value {
        "" => Ok(None),
        "with" => Ok(Some(true)),
        "without" => Ok(Some(false)),
        other => Err(crate::service::Error::invalid(
            "violations",
            format!("{other:?} is not one of with, without"),
        )),
    }
}

/// A search's results, or the message of the input it refused (its page shows it, with
/// [`status`] 422); any other error stays an error, for the error page.
pub(super) fn searched<T>(
    result: Result<T, crate::service::Error>,
) -> Result<(Option<T>, Option<String>), crate::service::Error> {
    match result {
        Ok(found) => Ok((Some(found), None)),
        Err(err) if err.code() == "invalid" => Ok((None, Some(err.to_string()))),
        Err(err) => Err(err),
    }
}

/// The status of a search page: 422 when it shows refused input.
pub(super) fn status(refused: bool) -> StatusCode {
    if refused {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

/// The non-empty `pairs` as a query string, to carry a search into links and forms.
pub(super) fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        if !value.trim().is_empty() {
            out.append_pair(name, value);
        }
    }
    out.finish()
}

/// The service query of the form, or the error naming the field that is wrong.
fn query_of(form: &SearchForm) -> Result<EventQuery, crate::service::Error> {
    let (user_email, user_id) = user_filter(&form.user);
    Ok(EventQuery {
        user_email,
        user_id,
        from: optional_time("from", &form.from, &form.from_utc)?,
        to: optional_time("to", &form.to, &form.to_utc)?,
        has_violation: violation_filter(&form.violations)?,
        q: given(&form.q),
        cursor: given(&form.cursor).map(Cursor::from),
        ..EventQuery::default()
    })
}

/// `form`'s search as a query string (without its page), to carry it into links and forms.
fn kept_of(form: &SearchForm) -> String {
    query_string(&[
        ("user", &form.user),
        ("from", &form.from),
        ("to", &form.to),
        ("from_utc", &form.from_utc),
        ("to_utc", &form.to_utc),
        ("violations", &form.violations),
        ("q", &form.q),
    ])
}

/// `query` as the query string of `GET /api/v1/events`, kept with a dataset as its search.
fn api_search(query: &EventQuery) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    let time = |at: chrono::DateTime<chrono::Utc>| at.to_rfc3339_opts(SecondsFormat::Secs, true);
    let pairs = [
        ("user_email", query.user_email.clone()),
        ("user_id", query.user_id.clone()),
        ("from", query.from.map(time)),
        ("to", query.to.map(time)),
        ("has_violation", query.has_violation.map(|b| b.to_string())),
        ("q", query.q.clone()),
    ];
    for (name, value) in pairs {
        if let Some(value) = value {
            out.append_pair(name, &value);
        }
    }
    out.finish()
}

/// The notice of an Add to dataset that led back to the search.
#[derive(Debug, Default, Deserialize)]
pub struct AddedQuery {
    added_to: Option<i64>,
    new_items: Option<u64>,
    new_events: Option<u64>,
}

pub async fn search(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(form): Query<SearchForm>,
    Query(added): Query<AddedQuery>,
) -> Response {
    if let Some(refused) = viewer.refusal(Role::Investigator) {
        return refused;
    }
    render_search(&state, &viewer, &form, &added, None).await
}

/// The Prompt Events page for `form`'s search; `failed` is an Add to dataset form and what
/// it got wrong, shown again with its answers.
async fn render_search(
    state: &ApiState,
    viewer: &Viewer,
    form: &SearchForm,
    added: &AddedQuery,
    failed: Option<(&DatasetForm, crate::service::Error)>,
) -> Response {
    let services = &state.services;
    let scope = &viewer.caller.scope;
    let result = async { services.search_events(scope, &query_of(form)?).await }.await;
    let (page_of, error) = match searched(result) {
        Ok(found) => found,
        Err(err) => return service_error(viewer, err),
    };
    let has_events = page_of.as_ref().is_some_and(|p| !p.items.is_empty());
    // The datasets a search may be added to, newest first.
    let datasets = if has_events {
        let query = DatasetQuery {
            limit: Limit::LARGEST,
            cursor: None,
        };
        match services.list_datasets(scope, &query).await {
            Ok(list) => list.items,
            Err(err) => return service_error(viewer, err),
        }
    } else {
        Vec::new()
    };
    let notice = match added.added_to {
        Some(id) => match services.dataset(scope, id).await {
            Ok(dataset) => Some(format!(
                "Dataset “{}” now holds {} prompts from {} events: {} new prompts and {} new events from this search.",
                dataset.name,
                dataset.item_count,
                dataset.source_event_count,
                added.new_items.unwrap_or(0),
                added.new_events.unwrap_or(0),
            )),
            Err(_) => None,
        },
        None => None,
    };
    let kept = kept_of(form);
    page(
        "events.html",
        status(error.is_some() || failed.is_some()),
        context! { ..layout(Some(viewer), "events", "Prompt Events"), ..context! {
            tab => "prompt",
            form => context! {
                user => form.user, from => form.from, to => form.to,
                from_utc => form.from_utc, to_utc => form.to_utc,
                violations => form.violations, q => form.q,
            },
            searched => !kept.is_empty() || !form.cursor.is_empty(),
            kept => kept,
            next => page_of.as_ref().and_then(|p| p.next_cursor.as_ref().map(|c| c.as_str().to_owned())),
            total => page_of.as_ref().map(|p| p.total.count),
            capped => page_of.as_ref().is_some_and(|p| p.total.capped),
            events => page_of.map(|p| p.items).unwrap_or_default(),
            datasets => datasets,
            dataset => failed.as_ref().map(|(form, err)| context! {
                pick => form.dataset, name => form.name, policies => form.policies,
                field => err.field(), error => err.to_string(),
            }),
            notice => notice,
            error => error,
        }},
    )
}

/// How the export link asks for the search: `format` (`csv` or `ndjson`) and the viewer's
/// time zone, which the page's script adds.
#[derive(Debug, Default, Deserialize)]
pub struct ExportForm {
    #[serde(default)]
    format: String,
    #[serde(default)]
    tz: String,
}

/// Every event of the search, as the API's export streams it: the download of the page's
/// Export links, authenticated by the session cookie.
pub async fn export(
    State(state): State<ApiState>,
    viewer: Viewer,
    Query(form): Query<SearchForm>,
    Query(how): Query<ExportForm>,
) -> Response {
    if let Some(refused) = viewer.refusal(Role::Investigator) {
        return refused;
    }
    let format = match how.format.as_str() {
        "csv" => ExportFormat::Csv,
        "ndjson" => ExportFormat::Ndjson,
        other => {
            return service_error(
                &viewer,
                crate::service::Error::invalid(
                    "format",
                    format!("{other:?} is not one of csv, ndjson"),
                ),
            )
        }
    };
    let options = ExportOptions {
        format,
        tz: Some(how.tz.trim().to_owned()).filter(|tz| !tz.is_empty()),
    };
    let scope = &viewer.caller.scope;
    let exported = async {
        let query = query_of(&form)?;
        state.services.export_events(scope, &query, &options).await
    }
    .await;
    let export = match exported {
        Ok(export) => export,
        Err(err) => return service_error(&viewer, err),
    };
    let disposition = format!(
        "attachment; filename=\"events.{}\"",
        export.format.extension()
    );
    (
        [
            (
                header::CONTENT_TYPE,
                export.format.content_type().to_owned(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        Body::from_stream(export.body),
    )
        .into_response()
}

/// The Add to dataset form: an existing dataset's id, or `new` with a name (and, if any,
/// the policies to keep), and the search.
#[derive(Debug, Deserialize)]
pub struct DatasetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    dataset: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    policies: String,
    #[serde(flatten)]
    search: SearchForm,
}

/// Compiles the search's prompts into a new dataset, or adds them to an existing one.
pub async fn add_to_dataset(
    State(state): State<ApiState>,
    viewer: Viewer,
    Form(form): Form<DatasetForm>,
) -> Response {
    if let Some(refused) = viewer.form_refusal(Role::Investigator, &form.csrf) {
        return refused;
    }
    let services = &state.services;
    let scope = &viewer.caller.scope;
    let result: Result<(i64, u64, u64), crate::service::Error> = async {
        let query = query_of(&form.search)?;
        let search = api_search(&query);
        match form.dataset.trim() {
            "new" => {
                let policies = form.policies.split(',').filter_map(given).collect();
                let new = NewDataset {
                    name: form.name.clone(),
                    policies,
                };
                let view = services
                    .create_dataset(scope, &viewer.who(), &search, &query, new)
                    .await?;
                let (items, events) = (view.item_count as u64, view.source_event_count as u64);
                Ok((view.id, items, events))
            }
            id => {
                let id = id.parse::<i64>().map_err(|_| {
                    crate::service::Error::invalid(
                        "dataset",
                        format!(
                            "{id:?} is neither new nor a dataset id: pick a dataset in the list"
                        ),
                    )
                })?;
                let added = services.add_to_dataset(scope, id, &search, &query).await?;
                Ok((added.dataset.id, added.new_items, added.new_source_events))
            }
        }
    }
    .await;
    match result {
        Ok((id, items, events)) => {
            let kept = kept_of(&form.search);
            let sep = if kept.is_empty() { "" } else { "&" };
            done(
                &format!(
                    "/ui/events?{kept}{sep}added_to={id}&new_items={items}&new_events={events}"
                ),
                format!("dataset {id}"),
            )
        }
        Err(err) if err.code() == "invalid" => {
            let mut search = form.search.clone();
            search.cursor.clear();
            let failed = Some((&form, err));
            render_search(&state, &viewer, &search, &AddedQuery::default(), failed).await
        }
        Err(err) => service_error(&viewer, err),
    }
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
            session => super::sessions::session_href(detail.integration_id, &detail.chat_id),
            e => detail,
        }},
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::investigation::events::TagCounts;

    /// A navigation of one entry: the layout draws a page's content only with one.
    fn nav() -> Vec<minijinja::Value> {
        vec![context! { id => "events", href => "/ui/events", label => "Prompt Events" }]
    }

    fn side_tags() -> TagCounts {
        TagCounts::of(
            &serde_json::json!(["Injection", "No Injection"]),
            Some(
                &serde_json::json!({"input": ["Injection"], "output": ["No Injection"], "tool": []}),
            ),
        )
    }

    #[test]
    fn the_events_table_counts_tags_per_side_and_names_them_on_hover() {
        let row = serde_json::json!({
            "id": Uuid::nil(), "event_time": "2026-04-08T10:00:00Z", "tags": side_tags(),
            "violations": {"total": 0, "input": 0, "output": 0, "tool": 0},
        });
        let html = crate::web::templates::render(
            "events.html",
            context! { ..layout(None, "events", "Prompt Events"), ..context! {
                events => vec![row], form => context! {}, dataset => context! {}, nav => nav(),
            }},
        )
        .expect("renders");
        assert!(html.contains("in 1 · out 1</span>"), "{html}");
        assert!(
            html.contains("Injection in the input; No Injection in the output; none in tool calls"),
            "{html}"
        );
        let unsided = serde_json::json!({
            "id": Uuid::nil(), "event_time": "2026-04-08T10:00:00Z",
            "tags": TagCounts::of(&serde_json::json!(["Injection"]), None),
            "violations": {"total": 0, "input": 0, "output": 0, "tool": 0},
        });
        let html = crate::web::templates::render(
            "events.html",
            context! { ..layout(None, "events", "Prompt Events"), ..context! {
                events => vec![unsided], form => context! {}, dataset => context! {}, nav => nav(),
            }},
        )
        .expect("renders");
        assert!(
            html.contains(">Injection</span>") && !html.contains("in 0 ·"),
            "{html}"
        );
    }

    #[test]
    fn an_event_page_lists_its_tags_by_side() {
        let tags = side_tags();
        let detail = serde_json::json!({
            "id": Uuid::nil(), "tags": tags.labels, "tags_by_side": tags.by_side,
            "violations": [], "token_usage": {},
        });
        let html = crate::web::templates::render(
            "event.html",
            context! { ..layout(None, "events", "Prompt event"), ..context! { e => detail, nav => nav() }},
        )
        .expect("renders");
        assert!(
            html.contains("Input (1):</span> <span class=\"badge badge-neutral\">Injection</span>"),
            "{html}"
        );
        assert!(html.contains(
            "Output (1):</span> <span class=\"badge badge-neutral\">No Injection</span>"
        ));
        assert!(html.contains("Tool calls (0):</span> —"));
    }

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
    fn a_dashboard_search_is_kept_with_a_dataset_as_the_api_query_string() {
        let form = SearchForm {
            user: " alice@example.com ".into(),
            from: "2026-04-08T10:00".into(),
            from_utc: "2026-04-08T08:00:00.000Z".into(),
            violations: "with".into(),
            q: "deploy key".into(),
            ..SearchForm::default()
        };
        let query = query_of(&form).expect("a valid search");
        assert_eq!(
            api_search(&query),
            "user_email=alice%40example.com&from=2026-04-08T08%3A00%3A00Z&has_violation=true&q=deploy+key"
        );
        assert_eq!(
            kept_of(&form),
            "user=+alice%40example.com+&from=2026-04-08T10%3A00&from_utc=2026-04-08T08%3A00%3A00.000Z&violations=with&q=deploy+key"
        );
        let bad = SearchForm {
            violations: "maybe".into(),
            ..SearchForm::default()
        };
        let err = query_of(&bad).expect_err("refused");
        assert_eq!(err.field(), Some("violations"), "{err}");
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
