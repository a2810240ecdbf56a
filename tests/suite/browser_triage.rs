//! The dashboard's triage pages in a real browser (helpers in [`crate::browser`]): Issues
//! (acknowledge, assign, comment, resolve, each audited as the API audits it), Alerts with
//! their filters and closed (superseded) alerts, Datasets and Reports with downloads equal to
//! the API's, and an Add New Integration wizard whose steps two servers on one database
//! share. Every page is checked with axe-core and saved as a screenshot.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use logwarden::app::App;
use logwarden::roles::serve::RunningServer;
use logwarden::service::backfills::NewBackfill;
use logwarden::service::investigation::alerts::{AlertQuery, AlertStatus};
use logwarden::service::investigation::datasets::{DatasetView, NewDataset};
use logwarden::service::investigation::events::EventQuery;
use logwarden::service::investigation::issues::{IssueQuery, IssueStatusName};
use logwarden::service::investigation::reports::ReportQuery;
use logwarden::service::page::Limit;
use logwarden::service::scope::Scope;
use logwarden::service::tokens::Role;
use logwarden_entities::{alert, audit_entry, web_session_draft};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::browser::{fill, pick, Browser, Dashboard};
use crate::helpers::day;

/// The start and end of the backfilled hours: 08:00 to 18:00 UTC of [`day`].
fn hours() -> (DateTime<Utc>, DateTime<Utc>) {
    (day() + TimeDelta::hours(8), day() + TimeDelta::hours(18))
}

/// A dashboard whose integration `acme-claude` holds ten backfilled hours of the fake
/// organisation, with the violations, alerts and issues the fake's planted hits make.
async fn investigated() -> (Dashboard, i64) {
    let dashboard = Dashboard::start().await;
    let id = dashboard.integration("acme-claude").await;
    let (from, to) = hours();
    dashboard
        .app
        .services
        .start_backfill(NewBackfill {
            integration_id: id,
            from,
            to,
            batch_width: Some(Duration::from_secs(2 * 3600)),
            created_by: "test".into(),
        })
        .await
        .expect("backfill");
    dashboard.run_jobs().await;
    (dashboard, id)
}

/// A dataset `name` of every prompt stored.
async fn every_prompt(dashboard: &Dashboard, name: &str) -> DatasetView {
    dashboard
        .app
        .services
        .create_dataset(
            &Scope::Everything,
            "test",
            "",
            &EventQuery::default(),
            NewDataset {
                name: name.into(),
                policies: vec![],
            },
        )
        .await
        .expect("dataset")
}

/// The values of attribute `data-NAME` of the rows of table `table`, in page order.
async fn row_keys(browser: &Browser, table: &str, name: &str) -> Vec<String> {
    let keys = browser
        .client
        .execute(
            "return Array.from(document.querySelectorAll(arguments[0] + ' tbody tr'))
                .map(r => r.getAttribute('data-' + arguments[1]));",
            vec![json!(table), json!(name)],
        )
        .await
        .expect("row keys");
    serde_json::from_value(keys).expect("a list of keys")
}

/// The status, content type and body of `path` fetched by the page, with its session.
async fn fetched(browser: &Browser, path: &str) -> (u16, String, String) {
    let got = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             fetch(arguments[0], { credentials: 'same-origin' })
                .then(r => r.text().then(t => done([r.status, r.headers.get('content-type') || '', t])))
                .catch(e => done([0, '', String(e)]));",
            vec![json!(path)],
        )
        .await
        .expect("fetch");
    serde_json::from_value(got).expect("status, type and body")
}

/// The body of the API's `GET path` for `token`.
async fn api_get(dashboard: &Dashboard, path: &str, token: &str) -> String {
    let response = reqwest::Client::new()
        .get(format!("{}{path}", dashboard.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("API call");
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.text().await.expect("API body")
}

/// The `href` of the element `css`, as the page resolved it, without the origin.
async fn href(browser: &Browser, css: &str) -> String {
    let href = browser
        .client
        .execute(
            "const a = document.querySelector(arguments[0]); return a.pathname + a.search;",
            vec![json!(css)],
        )
        .await
        .expect("href");
    href.as_str().expect("a link").to_owned()
}

#[tokio::test]
async fn an_investigator_acknowledges_assigns_comments_on_and_resolves_an_issue_each_audited_as_the_api_audits_it(
) {
    let (dashboard, _) = investigated().await;
    let services = &dashboard.app.services;
    let everything = Scope::Everything;
    let open = IssueQuery {
        status: Some(IssueStatusName::Open),
        ..IssueQuery::default()
    };
    let listed = services
        .list_issues(&everything, &IssueQuery::default())
        .await
        .expect("issues");
    let issue = services
        .list_issues(&everything, &open)
        .await
        .expect("open issues")
        .items
        .first()
        .cloned()
        .expect("the fake's planted hits open issues");
    let id = issue.id;

    let browser = dashboard.browser(Role::Investigator).await;
    browser.click("#nav-issues").await;
    browser.wait_for("#issues").await;
    let shown: Vec<String> = listed.items.iter().map(|i| i.id.to_string()).collect();
    assert_eq!(row_keys(&browser, "#issues", "issue").await, shown);
    browser.check("issues").await;

    pick(&browser, "#is-status", "open").await;
    fill(&browser, "#is-user", &issue.user_email).await;
    browser.click("#apply-filters").await;
    browser.wait_for("#clear-filters").await;
    let expected = services
        .list_issues(
            &everything,
            &IssueQuery {
                user_email: Some(issue.user_email.clone()),
                ..open.clone()
            },
        )
        .await
        .expect("filtered issues");
    let expected: Vec<String> = expected.items.iter().map(|i| i.id.to_string()).collect();
    assert_eq!(row_keys(&browser, "#issues", "issue").await, expected);

    browser
        .click(&format!("#issues a[href='/ui/issues/{id}']"))
        .await;
    assert_eq!(browser.text("#issue-status").await.to_lowercase(), "open");
    browser.check("issue").await;

    // A form whose CSRF token is not the session's is refused and changes nothing.
    browser
        .client
        .execute(
            "document.querySelector('#acknowledge').form.elements.csrf.value = 'forged';",
            vec![],
        )
        .await
        .expect("forge the token");
    browser.click("#acknowledge").await;
    assert!(browser.text("#main").await.contains("The form has expired"));
    let unchanged = services.issue_detail(&everything, id).await.expect("issue");
    assert_eq!(unchanged.issue.status, IssueStatusName::Open);

    // Step 11: acknowledge, assign, comment and resolve.
    browser.open(&format!("/ui/issues/{id}")).await;
    browser.click("#acknowledge").await;
    assert_eq!(browser.text("#notice").await, "The status is changed.");
    assert_eq!(
        browser.text("#issue-status").await.to_lowercase(),
        "acknowledged"
    );
    fill(&browser, "#assignee", "bob@example.com").await;
    browser.click("#assign").await;
    assert_eq!(browser.text("#notice").await, "The assignee is changed.");
    assert_eq!(browser.text("#issue-assignee").await, "bob@example.com");
    let note = "Checked with the user: a test key, now revoked.";
    fill(&browser, "#comment-body", note).await;
    browser.click("#add-comment").await;
    assert_eq!(browser.text("#notice").await, "Your comment is added.");
    assert!(browser.text("#comments").await.contains(note));
    browser.click("#resolve").await;
    assert_eq!(
        browser.text("#issue-status").await.to_lowercase(),
        "resolved"
    );
    browser.check("issue-resolved").await;

    let detail = services.issue_detail(&everything, id).await.expect("issue");
    assert_eq!(detail.issue.status, IssueStatusName::Resolved);
    assert_eq!(detail.issue.assignee.as_deref(), Some("bob@example.com"));
    assert_eq!(detail.comments.len(), 1);
    assert_eq!(detail.comments[0].body, note);

    // Each change wrote exactly one audit row, with what changed, as the API's do.
    let rows = audit_entry::Entity::find()
        .filter(audit_entry::Column::Target.eq(format!("issue {id}")))
        .order_by_asc(audit_entry::Column::Id)
        .all(&dashboard.test.db)
        .await
        .expect("audit rows");
    let seen: Vec<(String, Option<String>, i32)> = rows
        .iter()
        .map(|row| (row.action.clone(), row.detail.clone(), row.status))
        .collect();
    let comment = detail.comments[0].id;
    assert_eq!(
        seen,
        vec![
            (
                "POST /ui/issues/{id}/status".to_owned(),
                Some("status open -> acknowledged".to_owned()),
                200
            ),
            (
                "POST /ui/issues/{id}/assignee".to_owned(),
                Some("assignee none -> bob@example.com".to_owned()),
                200
            ),
            (
                "POST /ui/issues/{id}/comments".to_owned(),
                Some(format!("comment {comment}")),
                200
            ),
            (
                "POST /ui/issues/{id}/status".to_owned(),
                Some("status acknowledged -> resolved".to_owned()),
                200
            ),
        ]
    );
    assert!(rows
        .iter()
        .all(|row| row.token_name == "investigator in the browser" && !row.request_id.is_empty()));

    // The same change through the API leaves the same row, but for the route.
    let token = dashboard.token(Role::Investigator).await;
    let reopened = reqwest::Client::new()
        .post(format!("{}/api/v1/issues/{id}/status", dashboard.base))
        .bearer_auth(&token)
        .json(&json!({ "status": "open" }))
        .send()
        .await
        .expect("API call");
    assert_eq!(reopened.status(), reqwest::StatusCode::OK);
    let api_row = audit_entry::Entity::find()
        .filter(audit_entry::Column::Target.eq(format!("issue {id}")))
        .order_by_desc(audit_entry::Column::Id)
        .one(&dashboard.test.db)
        .await
        .expect("audit row")
        .expect("the API's row");
    assert_eq!(
        (
            api_row.action.as_str(),
            api_row.detail.as_deref(),
            api_row.status
        ),
        (
            "POST /api/v1/issues/{id}/status",
            Some("status resolved -> open"),
            200
        )
    );

    // The audit log shows each change to an admin.
    let admin = dashboard.browser(Role::Admin).await;
    admin.visit("/ui/audit", "#audit", "audit-triage").await;
    let log = admin.text("#audit").await;
    for change in [
        "status open -> acknowledged",
        "assignee none -> bob@example.com",
        &format!("comment {comment}"),
        "status acknowledged -> resolved",
    ] {
        assert!(
            log.contains(change),
            "the audit log shows {change:?}: {log}"
        );
    }
    assert!(log.contains("POST /ui/issues/{id}/status"), "{log}");
}

#[tokio::test]
async fn the_alerts_list_filters_by_status_policy_user_and_time_and_shows_a_superseded_alert_as_closed(
) {
    let (dashboard, _) = investigated().await;
    let services = &dashboard.app.services;
    let everything = Scope::Everything;
    let first = services
        .list_alerts(&everything, &AlertQuery::default())
        .await
        .expect("alerts");
    let closed = first
        .items
        .first()
        .cloned()
        .expect("the fake's planted hits raise alerts");
    // A newer evaluation no longer finds this alert's violation.
    alert::ActiveModel {
        id: Set(closed.id),
        closed_at: Set(Some(Utc::now())),
        close_reason: Set(Some("superseded".into())),
        ..Default::default()
    }
    .update(&dashboard.test.db)
    .await
    .expect("close an alert");

    let browser = dashboard.browser(Role::Investigator).await;
    browser.click("#nav-alerts").await;
    browser.wait_for("#alerts").await;
    let ids = |page: &[logwarden::service::investigation::alerts::AlertView]| -> Vec<String> {
        page.iter().map(|a| a.id.to_string()).collect()
    };
    assert_eq!(
        row_keys(&browser, "#alerts", "alert").await,
        ids(&first.items)
    );
    browser.check("alerts").await;

    // Paging, two a page: each page is the service's.
    let two = AlertQuery {
        limit: Limit::new(2).expect("a limit"),
        ..AlertQuery::default()
    };
    let page_one = services.list_alerts(&everything, &two).await.expect("page");
    let next = page_one
        .next_cursor
        .clone()
        .expect("more than two alerts: ten hours of planted hits");
    let page_two = services
        .list_alerts(
            &everything,
            &AlertQuery {
                cursor: Some(next),
                ..two.clone()
            },
        )
        .await
        .expect("second page");
    fill(&browser, "#al-limit", "2").await;
    browser.click("#apply-filters").await;
    browser.wait_for("#clear-filters").await;
    assert_eq!(
        row_keys(&browser, "#alerts", "alert").await,
        ids(&page_one.items)
    );
    browser.click("#next-page").await;
    browser.wait_for("#clear-filters").await;
    assert_eq!(
        row_keys(&browser, "#alerts", "alert").await,
        ids(&page_two.items)
    );

    browser.open("/ui/alerts").await;
    pick(&browser, "#al-status", "closed").await;
    browser.click("#apply-filters").await;
    browser.wait_for("#clear-filters").await;
    assert_eq!(
        row_keys(&browser, "#alerts", "alert").await,
        vec![closed.id.to_string()]
    );
    let row = browser.text("#alerts tbody tr").await.to_lowercase();
    assert!(
        row.contains("closed") && row.contains("superseded"),
        "{row}"
    );
    browser.check("alerts-closed").await;

    // Open alerts of one policy and user between 12:00 and 16:00 in Berlin (10:00 to 14:00
    // UTC) are exactly the service's.
    browser.open("/ui/alerts").await;
    pick(&browser, "#al-status", "open").await;
    fill(&browser, "#al-policy", &closed.policy).await;
    fill(&browser, "#al-user", &closed.user_email).await;
    pick(&browser, "#al-from", "2026-04-08T12:00").await;
    pick(&browser, "#al-to", "2026-04-08T16:00").await;
    browser.click("#apply-filters").await;
    browser.wait_for("#clear-filters").await;
    let expected = services
        .list_alerts(
            &everything,
            &AlertQuery {
                status: Some(AlertStatus::Open),
                policy: Some(closed.policy.clone()),
                user_email: Some(closed.user_email.clone()),
                from: Some(day() + TimeDelta::hours(10)),
                to: Some(day() + TimeDelta::hours(14)),
                ..AlertQuery::default()
            },
        )
        .await
        .expect("filtered alerts");
    assert_eq!(
        row_keys(&browser, "#alerts", "alert").await,
        ids(&expected.items)
    );
    assert!(!expected.items.iter().any(|a| a.id == closed.id));

    // A bad filter says which field is wrong.
    browser.open("/ui/alerts?status=gone").await;
    let error = browser.text("#filter-error").await;
    assert!(
        error.contains("status") && error.contains("open, closed"),
        "{error}"
    );
}

#[tokio::test]
async fn the_datasets_and_reports_pages_download_exactly_what_the_api_serves() {
    let (dashboard, id) = investigated().await;
    let services = &dashboard.app.services;
    let everything = Scope::Everything;
    let dataset = every_prompt(&dashboard, "every prompt").await;
    let token = dashboard.token(Role::Investigator).await;

    let browser = dashboard.browser(Role::Investigator).await;
    browser.click("#nav-datasets").await;
    browser.wait_for("#datasets").await;
    assert_eq!(
        row_keys(&browser, "#datasets", "dataset").await,
        vec![dataset.id.to_string()]
    );
    browser.check("datasets").await;
    let link = href(&browser, &format!("#download-{}", dataset.id)).await;
    let (status, kind, body) = fetched(&browser, &link).await;
    assert_eq!((status, kind.as_str()), (200, "application/x-ndjson"));
    let api = api_get(
        &dashboard,
        &format!("/api/v1/datasets/{}/items", dataset.id),
        &token,
    )
    .await;
    assert_eq!(body, api, "the JSONL download is the API's");
    assert_eq!(body.lines().count() as i64, dataset.item_count);

    browser.click("#nav-reports").await;
    browser.wait_for("#subjects").await;
    browser.check("reports").await;
    // 10:00 to 20:00 in Berlin is 08:00 to 18:00 UTC.
    pick(&browser, "#rp-subject", &format!("integration:{id}")).await;
    pick(&browser, "#rp-from", "2026-04-08T10:00").await;
    pick(&browser, "#rp-to", "2026-04-08T20:00").await;
    browser.click("#make-report").await;
    browser.wait_for("#report-frame").await;
    let (from, to) = hours();
    let report = services
        .period_report(
            &everything,
            &ReportQuery {
                project_id: None,
                integration_id: Some(id),
                from,
                to,
                format: None,
            },
        )
        .await
        .expect("report");
    assert!(report.totals.events > 0);
    assert_eq!(
        browser.text("#total-events").await,
        report.totals.events.to_string()
    );
    assert_eq!(
        browser.text("#total-violations").await,
        report.totals.violations.to_string()
    );
    browser.check("report").await;

    let query = format!(
        "integration_id={id}&from={}&to={}",
        crate::investigation::encoded(&from.to_rfc3339()),
        crate::investigation::encoded(&to.to_rfc3339())
    );
    let (status, kind, csv) = fetched(&browser, &href(&browser, "#download-csv").await).await;
    assert_eq!((status, kind.as_str()), (200, "text/csv"));
    let api_csv = api_get(
        &dashboard,
        &format!("/api/v1/reports?{query}&format=csv"),
        &token,
    )
    .await;
    assert_eq!(csv, api_csv, "the CSV download is the API's");

    let without_time = |text: &str| {
        let mut value: Value = serde_json::from_str(text).expect("JSON");
        value
            .as_object_mut()
            .expect("an object")
            .remove("generated_at");
        value
    };
    let (status, _, report_json) = fetched(&browser, &href(&browser, "#download-json").await).await;
    assert_eq!(status, 200);
    let api_json = api_get(&dashboard, &format!("/api/v1/reports?{query}"), &token).await;
    assert_eq!(
        without_time(&report_json),
        without_time(&api_json),
        "the JSON download is the API's"
    );

    let frame = browser
        .client
        .execute(
            "const f = document.querySelector('#report-frame'); return f.getAttribute('src');",
            vec![],
        )
        .await
        .expect("frame");
    let (status, kind, html) = fetched(&browser, frame.as_str().expect("src")).await;
    assert_eq!((status, kind.as_str()), (200, "text/html; charset=utf-8"));
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains("<svg"),
        "the frame shows the server-rendered report with its charts"
    );
    let (status, _, download) = fetched(&browser, &href(&browser, "#download-html").await).await;
    assert_eq!(status, 200);
    assert!(download.contains("<svg") && download.contains("acme-claude"));
}

#[tokio::test]
async fn a_wizard_begun_on_one_server_is_finished_on_another_sharing_the_database_and_its_key_is_never_stored_in_clear(
) {
    let dashboard = Dashboard::start().await;
    let services = &dashboard.app.services;
    let key = logwarden_fake_api::DEFAULT_TEST_KEY;
    let second_app = App::with_database(dashboard.test.db.clone(), &dashboard.settings)
        .await
        .expect("app");
    let shutdown = CancellationToken::new();
    let second = RunningServer::start(&second_app, "127.0.0.1:0", shutdown.clone())
        .await
        .expect("second server");
    let second_url = second.url();

    let browser = dashboard.browser(Role::Operator).await;
    browser.open("/ui/sources/new").await;
    fill(&browser, "#name", "fleet-claude").await;
    fill(&browser, "#project", "security").await;
    browser.click("#wizard-next").await;
    fill(&browser, "#api_key", key).await;
    fill(&browser, "#base_url", &dashboard.fake.base_url()).await;
    browser.click("#test-connection").await;
    assert!(browser
        .text("#test-result")
        .await
        .contains("the key is accepted"));

    let drafts = web_session_draft::Entity::find()
        .all(&dashboard.test.db)
        .await
        .expect("drafts");
    assert_eq!(drafts.len(), 1, "one draft, for the one session");
    let draft = &drafts[0];
    assert!(draft.answers.contains("fleet-claude"), "{}", draft.answers);
    assert!(!draft.answers.contains(key), "the answers hold no key");
    let sealed = draft.api_key_encrypted.as_deref().expect("the key, sealed");
    assert!(!sealed.contains(key), "the key is stored encrypted");
    assert_eq!(
        services
            .master_key()
            .expect("master key")
            .decrypt(sealed)
            .expect("decrypts")
            .expose(),
        key
    );

    // The next step goes to the other server, as a load balancer may send it.
    browser
        .client
        .execute(
            "document.querySelector('#wizard-next').form.action = arguments[0];",
            vec![json!(format!("{second_url}/ui/sources/new"))],
        )
        .await
        .expect("point the form at the second server");
    browser.click("#wizard-next").await;
    let url = browser.client.current_url().await.expect("url");
    assert_eq!(
        url.port(),
        Some(second.addr.port()),
        "the review step was served by the second server"
    );
    let review = browser.text(".review").await;
    assert!(
        review.contains("fleet-claude") && review.contains("security"),
        "the second server read the draft: {review}"
    );
    browser.click("#wizard-finalize").await;
    assert!(browser.text("#added").await.contains("fleet-claude"));
    let added = services
        .resolve_integration("fleet-claude")
        .await
        .expect("added");
    let detail = services
        .list_integrations(Default::default())
        .await
        .expect("integrations")
        .items
        .into_iter()
        .find(|i| i.id == added)
        .expect("listed");
    assert_eq!(detail.api_key_last4, &key[key.len() - 4..]);
    let left = web_session_draft::Entity::find()
        .all(&dashboard.test.db)
        .await
        .expect("drafts");
    assert!(left.is_empty(), "the finished draft is deleted: {left:?}");

    // A draft ends with its session.
    browser.open("/ui/sources/new").await;
    fill(&browser, "#name", "left-behind").await;
    fill(&browser, "#project", "security").await;
    browser.click("#wizard-next").await;
    browser.wait_for("#api_key").await;
    assert_eq!(
        web_session_draft::Entity::find()
            .all(&dashboard.test.db)
            .await
            .expect("drafts")
            .len(),
        1
    );
    browser.click("#logout").await;
    browser.wait_for("#token").await;
    let left = web_session_draft::Entity::find()
        .all(&dashboard.test.db)
        .await
        .expect("drafts");
    assert!(left.is_empty(), "logout deletes the draft: {left:?}");
    shutdown.cancel();
}

#[tokio::test]
async fn a_project_scoped_investigator_sees_nothing_of_another_project_even_by_id_and_an_operator_is_refused_triage(
) {
    use logwarden::infra::secret::Secret;
    use logwarden::service::integrations::NewIntegration;
    use logwarden::service::tokens::NewToken;
    let (dashboard, id) = investigated().await;
    let services = &dashboard.app.services;
    let everything = Scope::Everything;
    services
        .add_integration(NewIntegration {
            name: "other-claude".into(),
            project: "other".into(),
            data_plane: "default".into(),
            api_key: Secret::new(logwarden_fake_api::DEFAULT_TEST_KEY),
            base_url: Some(dashboard.fake.base_url()),
            sync_from: None,
        })
        .await
        .expect("another project's integration");
    let token = services
        .create_token(NewToken {
            name: "other project's investigator".into(),
            role: Role::Investigator,
            projects: vec!["other".into()],
        })
        .await
        .expect("token")
        .token;
    let issue = services
        .list_issues(&everything, &IssueQuery::default())
        .await
        .expect("issues")
        .items
        .first()
        .cloned()
        .expect("an issue of the security project");
    let dataset = every_prompt(&dashboard, "security prompts").await;

    let browser = Browser::start(&dashboard.base).await;
    browser.log_in(token.expose()).await;
    browser
        .visit("/ui/alerts", "#alerts-h", "alerts-empty")
        .await;
    assert!(
        !browser.exists("#alerts").await,
        "no alert of another project"
    );
    assert!(browser.text("#main").await.contains("No alerts yet"));
    browser.open("/ui/issues").await;
    assert!(
        !browser.exists("#issues").await,
        "no issue of another project"
    );

    // By id, the issue does not exist, and a form posted to it changes nothing.
    browser.open(&format!("/ui/issues/{}", issue.id)).await;
    let page = browser.text("#main").await;
    assert!(
        page.contains(&format!("issue {} does not exist", issue.id)),
        "{page}"
    );
    browser
        .client
        .execute(
            "const f = document.createElement('form');
             f.method = 'post'; f.action = arguments[0];
             for (const [k, v] of [['csrf', document.querySelector('input[name=csrf]').value], ['status', 'resolved']]) {
                 const i = document.createElement('input'); i.type = 'hidden'; i.name = k; i.value = v; f.appendChild(i);
             }
             document.body.appendChild(f); f.submit();",
            vec![json!(format!("/ui/issues/{}/status", issue.id))],
        )
        .await
        .expect("post the form");
    browser.wait_for("h1").await;
    let page = browser.text("#main").await;
    assert!(page.contains("does not exist"), "{page}");
    let after = services
        .issue_detail(&everything, issue.id)
        .await
        .expect("issue");
    assert_eq!(after.issue.status, issue.status, "nothing changed");

    browser.open("/ui/datasets").await;
    browser.wait_for("#datasets-h").await;
    assert!(
        !browser.exists("#datasets").await,
        "no dataset of another project"
    );
    let (status, _, _) = fetched(&browser, &format!("/ui/datasets/{}/items", dataset.id)).await;
    assert_eq!(status, 404);

    browser.open("/ui/reports").await;
    assert_eq!(
        row_keys(&browser, "#subjects", "subject").await.len(),
        2,
        "only the other project and its log source"
    );
    let (from, to) = hours();
    browser
        .open(&format!(
            "/ui/reports?subject=integration:{id}&from_utc={}&to_utc={}",
            crate::investigation::encoded(&from.to_rfc3339()),
            crate::investigation::encoded(&to.to_rfc3339())
        ))
        .await;
    let error = browser.text("#report-error").await;
    assert!(error.contains("does not exist"), "{error}");
    assert!(!browser.exists("#report-frame").await);

    // As in the API, triage is for investigators and admins: an operator is refused.
    let operator = dashboard.browser(Role::Operator).await;
    assert!(
        !operator.exists("#nav-issues").await,
        "no Issues in the sidebar"
    );
    for path in [
        "/ui/alerts",
        "/ui/issues",
        &format!("/ui/issues/{}", issue.id),
        "/ui/datasets",
        "/ui/reports",
    ] {
        operator.open(path).await;
        let refusal = operator.text("#main").await;
        assert!(
            refusal.contains("needs a token with the role investigator"),
            "{path} says which role it needs: {refusal}"
        );
    }
}
