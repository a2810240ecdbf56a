//! The investigation pages in a real browser (see [`crate::browser`] for the harness): the
//! Prompt Events export downloaded through the page's link with the session cookie, Add to
//! dataset, the Access Events tab, and the Sessions list and chat. Every page visited passes
//! axe-core and is saved as a screenshot.

use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

use chrono::TimeDelta;
use fantoccini::key::Key;
use fantoccini::Locator;
use logwarden::service::audit::AuditQuery;
use logwarden::service::backfills::NewBackfill;
use logwarden::service::investigation::access::AccessEventQuery;
use logwarden::service::investigation::datasets::DatasetQuery;
use logwarden::service::investigation::events::{EventQuery, EventRow};
use logwarden::service::investigation::export::{csv_header, encode, ExportFormat, TimeZone};
use logwarden::service::investigation::sessions::SessionQuery;
use logwarden::service::page::Limit;
use logwarden::service::scope::Scope;
use logwarden::service::tokens::Role;
use serde_json::json;
use uuid::Uuid;

use crate::browser::{fill, pick, until, Browser, Dashboard, VIEWER_ZONE};
use crate::datasets_add::{prompts, rows, sources};
use crate::helpers::day;

/// A dashboard whose integration backfilled 08:00 to 18:00 UTC of the test day.
async fn investigated() -> Dashboard {
    let dashboard = Dashboard::start().await;
    let id = dashboard.integration("acme-claude").await;
    dashboard
        .app
        .services
        .start_backfill(NewBackfill {
            integration_id: id,
            from: day() + TimeDelta::hours(8),
            to: day() + TimeDelta::hours(18),
            batch_width: Some(Duration::from_secs(2 * 3600)),
            created_by: "test".into(),
        })
        .await
        .expect("backfill");
    dashboard.run_jobs().await;
    dashboard
}

/// Every event `query` matches, in the search's order.
async fn all_events(dashboard: &Dashboard, query: EventQuery) -> Vec<EventRow> {
    rows(&dashboard.app.services, query).await
}

/// The email of a user with a violating event, as the fake plants them.
async fn violating_user(dashboard: &Dashboard) -> String {
    all_events(
        dashboard,
        EventQuery {
            has_violation: Some(true),
            ..EventQuery::default()
        },
    )
    .await
    .first()
    .expect("the fake plants violations")
    .user_email
    .clone()
}

/// Searches Prompt Events for `user` between 10:00 and 20:00 in the viewer's zone (08:00 to
/// 18:00 UTC) and waits for the results.
async fn search_user(browser: &Browser, user: &str) {
    browser.open("/ui/events").await;
    fill(browser, "#ev-user", user).await;
    pick(browser, "#ev-from", "2026-04-08T10:00").await;
    pick(browser, "#ev-to", "2026-04-08T20:00").await;
    browser.click("#search").await;
    // The page the search returns, not the one it was typed on: typing sets no attribute.
    browser
        .wait_for(&format!("#ev-user[value=\"{user}\"]"))
        .await;
    browser.wait_for("#events").await;
}

/// The query of [`search_user`], as the service takes it.
fn user_query(user: &str) -> EventQuery {
    EventQuery {
        user_email: Some(user.to_owned()),
        from: Some(day() + TimeDelta::hours(8)),
        to: Some(day() + TimeDelta::hours(18)),
        ..EventQuery::default()
    }
}

/// Downloads the `href` of the link `css` with the browser's session cookie, once the page's
/// script added the viewer's time zone to it. Returns the response's content type,
/// disposition and body.
async fn download(browser: &Browser, css: &str) -> (String, String, String) {
    until(
        browser,
        "the export link carries the time zone",
        &format!("return document.querySelector(\"{css}\").getAttribute('href').includes('&tz=')"),
    )
    .await;
    let href = browser
        .client
        .find(Locator::Css(css))
        .await
        .expect("export link")
        .attr("href")
        .await
        .expect("href")
        .expect("an href");
    let cookie = browser
        .client
        .get_named_cookie("lw_session")
        .await
        .expect("the session cookie");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let url = format!("{}{href}", browser.base);
    let without = client.get(&url).send().await.expect("request");
    assert_eq!(
        without
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap()),
        Some("/login"),
        "without the cookie the export sends the visitor to log in ({})",
        without.status()
    );
    let response = client
        .get(&url)
        .header("cookie", format!("{}={}", cookie.name(), cookie.value()))
        .send()
        .await
        .expect("download");
    assert_eq!(response.status(), 200, "{url}");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let (kind, disposition) = (header("content-type"), header("content-disposition"));
    (kind, disposition, response.text().await.expect("body"))
}

#[tokio::test]
async fn the_csv_and_json_exports_downloaded_from_the_page_with_the_session_cookie_equal_the_search(
) {
    let dashboard = investigated().await;
    let user = violating_user(&dashboard).await;
    let expected = all_events(&dashboard, user_query(&user)).await;
    assert!(!expected.is_empty());

    let browser = dashboard.browser(Role::Investigator).await;
    search_user(&browser, &user).await;
    assert_eq!(
        browser.text("#total").await,
        format!("{} match", expected.len())
    );
    assert!(
        browser
            .text("#export-hint")
            .await
            .contains(&expected.len().to_string()),
        "the export says it takes the whole search"
    );
    browser.check("events-export").await;

    let zone = TimeZone::parse("tz", Some(VIEWER_ZONE)).expect("zone");
    let (kind, disposition, csv) = download(&browser, "#export-csv").await;
    assert!(kind.starts_with("text/csv"), "{kind}");
    assert_eq!(disposition, "attachment; filename=\"events.csv\"");
    let mut want = csv_header();
    want.extend(encode(&expected, ExportFormat::Csv, zone));
    assert_eq!(
        csv,
        String::from_utf8(want).expect("utf-8"),
        "the CSV is the search"
    );
    let records = csv::Reader::from_reader(csv.as_bytes()).records().count();
    assert_eq!(
        records,
        expected.len(),
        "a record per event after the header"
    );
    assert!(
        csv.contains("+02:00"),
        "times are in the viewer's zone (Berlin, summer time)"
    );

    let (kind, disposition, ndjson) = download(&browser, "#export-json").await;
    assert!(kind.starts_with("application/x-ndjson"), "{kind}");
    assert_eq!(disposition, "attachment; filename=\"events.ndjson\"");
    let want = encode(&expected, ExportFormat::Ndjson, zone);
    assert_eq!(
        ndjson,
        String::from_utf8(want).expect("utf-8"),
        "the NDJSON is the search"
    );
}

/// Picks the dataset `id` in the Add to dataset form and submits it.
async fn add_to(browser: &Browser, id: i64) {
    browser.select("#ds-pick", &id.to_string()).await;
    browser.click_to_load("#add-dataset").await;
}

#[tokio::test]
async fn add_to_dataset_compiles_a_new_dataset_then_adds_another_search_to_it_counting_no_event_twice_and_each_form_is_audited(
) {
    let dashboard = investigated().await;
    let services = &dashboard.app.services;
    let everything = Scope::Everything;
    let first = violating_user(&dashboard).await;
    let all = all_events(&dashboard, EventQuery::default()).await;
    let second = all
        .iter()
        .map(|row| row.user_email.clone())
        .find(|email| *email != first)
        .expect("a second user");
    let first_rows = all_events(&dashboard, user_query(&first)).await;
    let second_rows = all_events(&dashboard, user_query(&second)).await;
    let (first_keys, first_events) = prompts(services, &first_rows).await;
    let (second_keys, second_events) = prompts(services, &second_rows).await;

    let browser = dashboard.browser(Role::Investigator).await;
    search_user(&browser, &first).await;
    // A new dataset needs a name; the form says so and keeps the search.
    browser.click("#add-dataset").await;
    let refused = browser.text("#dataset-error").await;
    assert!(
        refused.contains("name"),
        "the error names the field: {refused}"
    );
    let invalid = browser
        .client
        .find(Locator::Css("#ds-name"))
        .await
        .expect("name field")
        .attr("aria-invalid")
        .await
        .expect("aria-invalid");
    assert_eq!(invalid.as_deref(), Some("true"), "the name field is marked");
    assert_eq!(
        browser.text("#total").await,
        format!("{} match", first_rows.len())
    );
    browser.check("events-dataset-refused").await;

    fill(&browser, "#ds-name", "red team, April").await;
    browser.click("#add-dataset").await;
    let notice = browser.text("#notice").await;
    assert!(notice.contains("red team, April"), "{notice}");
    let datasets = services
        .list_datasets(&everything, &DatasetQuery::default())
        .await
        .expect("datasets")
        .items;
    assert_eq!(datasets.len(), 1, "{datasets:?}");
    let dataset = &datasets[0];
    assert_eq!(dataset.item_count as usize, first_keys.len());
    assert_eq!(dataset.source_event_count as usize, first_events.len());
    assert!(
        dataset.search.contains(&format!(
            "user_email={}",
            form_urlencoded::byte_serialize(first.as_bytes()).collect::<String>()
        )),
        "the dataset keeps the search as the API takes it: {}",
        dataset.search
    );
    assert_eq!(
        dataset.created_by.split(" (").nth(1),
        Some("investigator in the browser)")
    );
    browser.check("events-dataset-added").await;

    // The second user's search goes into the same dataset, picked in the list.
    search_user(&browser, &second).await;
    add_to(&browser, dataset.id).await;
    let notice = browser.text("#notice").await;
    let union: BTreeSet<&String> = first_keys.iter().chain(&second_keys).collect();
    assert!(
        notice.contains(&format!(
            "now holds {} prompts from {} events",
            union.len(),
            first_events.len() + second_events.len()
        )),
        "{notice}"
    );
    // The same search again adds nothing.
    add_to(&browser, dataset.id).await;
    assert!(
        browser
            .text("#notice")
            .await
            .contains("0 new prompts and 0 new events"),
        "adding a search twice changes nothing"
    );
    let after = services
        .dataset(&everything, dataset.id)
        .await
        .expect("dataset");
    assert_eq!(after.item_count as usize, union.len());
    let held = sources(services, dataset.id).await;
    let distinct: HashSet<Uuid> = held.iter().copied().collect();
    assert_eq!(held.len(), distinct.len(), "no event is a source twice");
    let want: HashSet<Uuid> = first_events.union(&second_events).copied().collect();
    assert_eq!(distinct, want, "every event of both searches is a source");
    assert_eq!(
        after.search.lines().count(),
        2,
        "both searches are kept: {}",
        after.search
    );

    let audit = services
        .list_audit(AuditQuery::default())
        .await
        .expect("audit")
        .items;
    let rows: Vec<_> = audit
        .iter()
        .filter(|entry| entry.action == "POST /ui/events/dataset")
        .collect();
    assert_eq!(rows.len(), 4, "every Add to dataset is audited: {rows:?}");
    assert_eq!(
        rows.iter()
            .filter(|entry| entry.target == format!("dataset {}", dataset.id)
                && entry.token_name == "investigator in the browser")
            .count(),
        3,
        "the three that changed or named the dataset: {rows:?}"
    );
}

#[tokio::test]
async fn the_access_events_tab_searches_by_actor_activity_time_and_ip_and_opens_one_event() {
    let dashboard = investigated().await;
    let services = &dashboard.app.services;
    let everything = Scope::Everything;
    let all = services
        .search_access_events(
            &everything,
            &AccessEventQuery {
                limit: Limit::LARGEST,
                ..AccessEventQuery::default()
            },
        )
        .await
        .expect("access events")
        .items;
    let sample = all
        .iter()
        .find(|a| a.actor_email.is_some() && a.ip_address.is_some())
        .expect("the fake's activities name actors and addresses")
        .clone();
    let actor = sample.actor_email.clone().unwrap_or_default();
    let ip = sample.ip_address.clone().unwrap_or_default();
    let expected = services
        .search_access_events(
            &everything,
            &AccessEventQuery {
                actor_email: Some(actor.clone()),
                activity_type: Some(sample.activity_type.clone()),
                from: Some(day() + TimeDelta::hours(8)),
                to: Some(day() + TimeDelta::hours(18)),
                ip_address: Some(ip.clone()),
                limit: Limit::LARGEST,
                ..AccessEventQuery::default()
            },
        )
        .await
        .expect("search")
        .items;
    assert!(expected.iter().any(|a| a.id == sample.id));

    let browser = dashboard.browser(Role::Investigator).await;
    browser.click("#nav-events").await;
    browser.click("#tab-access").await;
    browser.wait_for("#access-events").await;
    assert_eq!(
        browser
            .client
            .find_all(Locator::Css("#access-events tbody tr"))
            .await
            .expect("rows")
            .len(),
        all.len().min(50),
        "the first page of every access event"
    );
    browser.check("access-events").await;

    fill(&browser, "#ac-actor", &actor).await;
    fill(&browser, "#ac-activity", &sample.activity_type).await;
    pick(&browser, "#ac-from", "2026-04-08T10:00").await;
    pick(&browser, "#ac-to", "2026-04-08T20:00").await;
    fill(&browser, "#ac-ip", &ip).await;
    browser.click("#access-search-submit").await;
    browser.wait_for("#access-events").await;
    let rows = browser
        .client
        .find_all(Locator::Css("#access-events tbody tr"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), expected.len());
    for row in rows {
        let text = row.text().await.expect("row text");
        assert!(
            text.contains(&actor) && text.contains(&ip) && text.contains(&sample.activity_type),
            "every row is the search's: {text}"
        );
    }
    browser.check("access-events-search").await;

    browser
        .click(&format!(
            "#access-events a[href^='/ui/access-events/{}?']",
            sample.id
        ))
        .await;
    browser.wait_for("#access-record").await;
    assert_eq!(browser.text("#access-type").await, sample.activity_type);
    assert!(browser
        .text("#access-record")
        .await
        .contains(&sample.activity_id));
    browser.check("access-event").await;
    // Back to the search keeps its filters.
    browser.click("#back-to-access").await;
    browser.wait_for("#access-events").await;
    assert_eq!(
        browser
            .client
            .find(Locator::Css("#ac-ip"))
            .await
            .expect("ip field")
            .prop("value")
            .await
            .expect("value"),
        Some(ip)
    );

    // A malformed address is refused naming the field; an unknown actor finds nothing.
    fill(&browser, "#ac-ip", "300.1.2.3").await;
    browser.click("#access-search-submit").await;
    let refused = browser.text("#access-error").await;
    assert!(
        refused.contains("ip") && refused.contains("300.1.2.3"),
        "{refused}"
    );
    fill(&browser, "#ac-ip", "").await;
    fill(&browser, "#ac-actor", "nobody@example.invalid").await;
    browser.click("#access-search-submit").await;
    assert!(browser
        .text("#main")
        .await
        .contains("No access event matches"));
    browser.check("access-events-empty").await;
}

#[tokio::test]
async fn opening_a_session_shows_its_whole_chat_in_order_with_the_violation_highlighted_in_place() {
    let dashboard = investigated().await;
    let services = &dashboard.app.services;
    let everything = Scope::Everything;
    let violating = services
        .list_sessions(
            &everything,
            &SessionQuery {
                has_violations: Some(true),
                ..SessionQuery::default()
            },
        )
        .await
        .expect("sessions")
        .items;
    let session = violating
        .first()
        .expect("a session with violations")
        .clone();
    let chat = services
        .session_chat(&everything, &session.id)
        .await
        .expect("chat");

    let browser = dashboard.browser(Role::Investigator).await;
    browser.click("#nav-sessions").await;
    browser.wait_for("#sessions").await;
    browser.check("sessions").await;
    fill(&browser, "#se-user", &session.user_email).await;
    browser.select("#se-violations", "with").await;
    browser.click("#session-search-submit").await;
    browser.wait_for("#sessions").await;
    let listed = browser.text("#sessions tbody").await;
    assert!(listed.contains(&session.user_email), "{listed}");
    let expected_rows = services
        .list_sessions(
            &everything,
            &SessionQuery {
                user_email: Some(session.user_email.clone()),
                has_violations: Some(true),
                ..SessionQuery::default()
            },
        )
        .await
        .expect("sessions")
        .items;
    assert_eq!(
        browser
            .client
            .find_all(Locator::Css("#sessions tbody tr"))
            .await
            .expect("rows")
            .len(),
        expected_rows.len()
    );

    let href = format!(
        "/ui/sessions/{}",
        form_urlencoded::byte_serialize(session.id.as_bytes()).collect::<String>()
    );
    // Opened from the keyboard: the title link takes the focus and Enter follows it.
    let link = browser
        .client
        .find(Locator::Css(&format!("#sessions a[href='{href}']")))
        .await
        .expect("the session's link");
    link.send_keys(&Key::Enter.to_string())
        .await
        .expect("Enter");
    browser.wait_for("#chat").await;
    // Every event of the chat, oldest first, each with its own input.
    let shown = browser
        .client
        .execute(
            "return Array.from(document.querySelectorAll('#chat > li')).map(li => [
                li.getAttribute('data-event'),
                li.querySelector('[data-side=input]').textContent]);",
            vec![],
        )
        .await
        .expect("turns");
    let want: Vec<_> = chat
        .events
        .iter()
        .map(|e| json!([e.id.to_string(), e.input]))
        .collect();
    assert_eq!(shown, json!(want), "the chat in chronological order");
    assert_eq!(
        browser.text("#session-violations").await,
        session.violation_count.to_string()
    );

    // A violation of the chat: the marks of its policy on its side of its turn are its span.
    let (turn, event, violation) = chat
        .events
        .iter()
        .enumerate()
        .find_map(|(index, e)| {
            e.violations
                .iter()
                .find(|v| v.direction == "input" || v.direction == "output")
                .map(|v| (index + 1, e, v))
        })
        .expect("a violation in an input or output");
    let text = if violation.direction == "input" {
        &event.input
    } else {
        &event.output
    };
    let span = &text[violation.span_start as usize..violation.span_end as usize];
    let marked = browser
        .client
        .execute(
            "return Array.from(document.querySelectorAll(arguments[0]))
                .map(m => m.textContent).join('');",
            vec![json!(format!(
                "#turn-{turn} [data-side={}] mark[data-policy~='{}']",
                violation.direction, violation.policy
            ))],
        )
        .await
        .expect("marks");
    assert_eq!(
        marked,
        json!(span),
        "the violating span is highlighted in place"
    );
    assert!(browser
        .text(&format!("#turn-{turn}"))
        .await
        .contains(&violation.masked_evidence));
    browser.check("session").await;
    browser.click("#theme-toggle").await;
    browser.check("session-dark").await;

    // An event's page leads to its session.
    browser.open(&format!("/ui/events/{}", event.id)).await;
    browser.click("#open-session").await;
    browser.wait_for("#chat").await;
    assert_eq!(browser.path().await, href, "the event's session");
}
