//! The web dashboard in a real browser: headless Chromium driven over WebDriver (a
//! chromedriver of each test's own on a random port) against the real server on a
//! PostgreSQL schema of its own. Every page visited is checked with axe-core (no serious or
//! critical violation) and saved as a screenshot under `target/test-artifacts/screenshots`
//! (and into `docs/screenshots` with `LOGWARDEN_UPDATE_SCREENSHOTS=1`).

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use fantoccini::{Client, ClientBuilder, Locator};
use logwarden::app::App;
use logwarden::infra::secret::Secret;
use logwarden::roles::scheduler::{payload, Scheduler};
use logwarden::roles::serve::RunningServer;
use logwarden::roles::worker::Worker;
use logwarden::service::audit::AuditQuery;
use logwarden::service::backfills::{BackfillQuery, NewBackfill};
use logwarden::service::integrations::NewIntegration;
use logwarden::service::investigation::events::EventQuery;
use logwarden::service::scope::Scope;
use logwarden::service::tokens::{NewToken, Role};
use logwarden_entities::job;
use logwarden_fake_api::faults::FaultConfig;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::helpers::{day, seed_integration, test_settings, unique_name, TestDb};

/// How long `text` and `click` keep finding an element again that a live refresh replaced.
const STALE_RETRY: Duration = Duration::from_secs(10);

/// A chromedriver process of this test's own, and the browser session it drives.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
    /// The dashboard's URL, e.g. `http://127.0.0.1:40123`.
    pub(crate) base: String,
}

impl Drop for Browser {
    /// Kills chromedriver's whole process group: the Chromium it started too, which would
    /// otherwise outlive the test.
    fn drop(&mut self) {
        Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.driver.id())])
            .status()
            .ok();
        self.driver.kill().ok();
        self.driver.wait().ok();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

impl Browser {
    /// A browser for the dashboard at `base`, in the time zone Europe/Berlin, so times shown
    /// in the viewer's zone differ from UTC.
    pub(crate) async fn start(base: &str) -> Self {
        let chromedriver = which("chromedriver").expect(
            "chromedriver is not installed: apt-get install -y chromium chromium-driver (.ci/run does this)",
        );
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .env("TZ", VIEWER_ZONE)
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({ "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-dev-shm-usage", "--window-size=1366,900"
            ]}),
        );
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver takes a moment to listen: retry the connection until it answers.
        let mut tries = 0;
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(err) if tries < 100 => {
                    tries += 1;
                    let _ = err;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => panic!("cannot reach chromedriver on {url}: {err}"),
            }
        };
        client
            .set_window_size(1366, 900)
            .await
            .expect("window size");
        Self {
            client,
            driver,
            base: base.to_owned(),
        }
    }

    /// Opens `path` of the dashboard.
    pub(crate) async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|err| panic!("open {path}: {err}"));
    }

    /// Opens `path`, waits for `ready`, then checks and saves the page as `name`.
    pub(crate) async fn visit(&self, path: &str, ready: &str, name: &str) {
        self.open(path).await;
        self.wait_for(ready).await;
        self.check(name).await;
    }

    pub(crate) async fn wait_for(&self, css: &str) {
        self.client
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("no {css} on the page: {err}"));
    }

    /// Runs axe-core on the page shown and fails on any serious or critical violation.
    pub(crate) async fn assert_accessible(&self, page: &str) {
        let axe = std::fs::read_to_string(axe_path()).expect(
            "axe-core is not installed: (cd .ci/node && npm install axe-core@4) (.ci/run does this)",
        );
        self.client.execute(&axe, vec![]).await.expect("inject axe");
        let result = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                    .then(r => done(r.violations
                        .filter(v => v.impact === 'serious' || v.impact === 'critical')
                        .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                                     nodes: v.nodes.map(n => n.target.join(' ')) }))))
                    .catch(e => done([{ id: 'axe-error', help: String(e) }]));",
                vec![],
            )
            .await
            .expect("run axe");
        assert_eq!(
            result,
            Value::Array(vec![]),
            "axe-core found serious or critical violations on {page}"
        );
    }

    /// Saves a screenshot of the page shown as `name.png`.
    pub(crate) async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts/screenshots");
        std::fs::create_dir_all(&dir).expect("artifacts dir");
        std::fs::write(dir.join(format!("{name}.png")), &png).expect("write screenshot");
        if std::env::var_os("LOGWARDEN_UPDATE_SCREENSHOTS").is_some() {
            let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
            std::fs::create_dir_all(&docs).expect("docs dir");
            std::fs::write(docs.join(format!("{name}.png")), &png).expect("write screenshot");
        }
    }

    /// Checks the page, then saves it.
    pub(crate) async fn check(&self, name: &str) {
        self.assert_accessible(name).await;
        self.screenshot(name).await;
    }

    /// Runs `act` on the first element matching `css`. A page that refreshes itself may
    /// replace the element between finding and acting on it; then it is found again.
    async fn on_element<T, F, Fut>(&self, css: &str, what: &str, act: F) -> T
    where
        F: Fn(fantoccini::elements::Element) -> Fut,
        Fut: std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
    {
        let deadline = Instant::now() + STALE_RETRY;
        loop {
            let element = self
                .client
                .wait()
                .for_element(Locator::Css(css))
                .await
                .unwrap_or_else(|err| panic!("no {css} on the page: {err}"));
            match act(element).await {
                Ok(value) => return value,
                Err(err) if err.is_stale_element_reference() && Instant::now() < deadline => {}
                Err(err) => panic!("{what} {css}: {err}"),
            }
        }
    }

    /// The text of the first element matching `css`.
    pub(crate) async fn text(&self, css: &str) -> String {
        self.on_element(
            css,
            "text of",
            |element| async move { element.text().await },
        )
        .await
    }

    pub(crate) async fn exists(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("find")
            .is_empty()
    }

    /// Clicks the first element matching `css`.
    pub(crate) async fn click(&self, css: &str) {
        self.on_element(css, "click", |element| async move { element.click().await })
            .await;
    }

    /// Clicks the first element matching `css` and waits until the page it loads has replaced
    /// the one shown, so that what is read next is the new page's.
    pub(crate) async fn click_to_load(&self, css: &str) {
        let shown = self
            .client
            .find(Locator::Css("html"))
            .await
            .expect("the page shown");
        self.click(css).await;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            // Chromium reports the old page's element stale, or as belonging to no document.
            match shown.tag_name().await {
                Err(_) => return,
                Ok(_) => assert!(
                    Instant::now() < deadline,
                    "clicking {css} loaded no new page"
                ),
            }
        }
    }

    /// Selects the option `value` of the first `select` matching `css`.
    pub(crate) async fn select(&self, css: &str, value: &str) {
        self.on_element(css, &format!("select {value} in"), |element| async move {
            element.select_by_value(value).await
        })
        .await;
    }

    /// Logs in with `token` through the login form.
    pub(crate) async fn log_in(&self, token: &str) {
        self.open("/login").await;
        self.client
            .wait()
            .for_element(Locator::Css("#token"))
            .await
            .expect("token field")
            .send_keys(token)
            .await
            .expect("type token");
        self.click("#login-submit").await;
        self.client
            .wait()
            .for_element(Locator::Css("#logout"))
            .await
            .expect("logged in: the sidebar's Log out button");
    }

    pub(crate) async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("url")
            .path()
            .to_owned()
    }
}

/// The time zone of the browser in every test.
pub(crate) const VIEWER_ZONE: &str = "Europe/Berlin";

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|path| path.is_file())
    })
}

fn axe_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/node/node_modules/axe-core/axe.min.js")
}

/// The server on a test database and the fake Compliance API, with a scheduler and a worker
/// the test steps itself, and a token per role.
pub(crate) struct Dashboard {
    pub(crate) base: String,
    pub(crate) fake: logwarden_fake_api::FakeServer,
    pub(crate) app: App,
    scheduler: Scheduler,
    worker: Worker,
    pub(crate) settings: std::sync::Arc<logwarden::config::Settings>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) test: TestDb,
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Dashboard {
    pub(crate) async fn start() -> Self {
        let test = TestDb::postgres().await;
        let fake = logwarden_fake_api::spawn(logwarden_fake_api::FakeConfig {
            rate_limit: None,
            ..logwarden_fake_api::FakeConfig::default()
        })
        .await
        .expect("fake API");
        fake.set_now(day() + TimeDelta::days(2));
        let settings = test_settings(|args| {
            args.allow_loopback_http = Some("true".into());
            args.backfill_batch_width = Some("30m".into());
        });
        let app = App::with_database(test.db.clone(), &settings)
            .await
            .expect("app");
        let shutdown = CancellationToken::new();
        let server = RunningServer::start(&app, "127.0.0.1:0", shutdown.clone())
            .await
            .expect("server");
        let scheduler = Scheduler::new(app.services.clone(), app.transport.clone());
        let worker = Worker::new(&app, unique_name("worker"), shutdown.clone());
        Self {
            base: server.url(),
            fake,
            app,
            scheduler,
            worker,
            settings,
            shutdown,
            test,
        }
    }

    pub(crate) async fn token(&self, role: Role) -> String {
        self.app
            .services
            .create_token(NewToken {
                name: format!("{role} in the browser"),
                role,
                projects: vec![],
            })
            .await
            .expect("token")
            .token
            .expose()
            .to_owned()
    }

    /// A browser logged in with a new token of `role`.
    pub(crate) async fn browser(&self, role: Role) -> Browser {
        let token = self.token(role).await;
        let browser = Browser::start(&self.base).await;
        browser.log_in(&token).await;
        browser
    }

    /// An integration that pulls from the fake API; returns its id.
    pub(crate) async fn integration(&self, name: &str) -> i64 {
        self.app
            .services
            .add_integration(NewIntegration {
                name: name.into(),
                project: "security".into(),
                data_plane: "default".into(),
                api_key: Secret::new(logwarden_fake_api::DEFAULT_TEST_KEY),
                base_url: Some(self.fake.base_url()),
                sync_from: Some(day()),
            })
            .await
            .expect("add integration")
            .id
    }

    /// Pumps, then runs the oldest job the queue holds; false when none was ready.
    pub(crate) async fn run_one_job(&self) -> bool {
        self.scheduler.pump(Utc::now()).await.expect("pump");
        let ready = job::Entity::find()
            .filter(job::Column::Status.eq("enqueued"))
            .order_by_asc(job::Column::Id)
            .one(&self.app.services.db)
            .await
            .expect("enqueued jobs");
        match ready {
            Some(row) => {
                self.worker.process(payload(&row)).await;
                true
            }
            None => false,
        }
    }

    /// Runs jobs until none is ready.
    pub(crate) async fn run_jobs(&self) {
        for _ in 0..1000 {
            if !self.run_one_job().await {
                return;
            }
        }
        panic!("jobs kept coming after 1,000 runs");
    }
}

/// Polls `condition` (a script returning a boolean) until it holds, failing after 20 s.
pub(crate) async fn until(browser: &Browser, what: &str, condition: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let held = browser
            .client
            .execute(condition, vec![])
            .await
            .unwrap_or_else(|err| panic!("evaluate {what}: {err}"));
        if held == json!(true) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_operator_logs_in_with_a_token_sees_the_overview_and_logs_out() {
    let dashboard = Dashboard::start().await;
    let token = dashboard.token(Role::Operator).await;
    let browser = Browser::start(&dashboard.base).await;

    browser.open("/").await;
    assert_eq!(
        browser.path().await,
        "/login",
        "a visitor without a session is sent to log in"
    );
    browser.check("login").await;

    browser.log_in(&token).await;
    assert_eq!(browser.path().await, "/");
    assert_eq!(browser.text("h1").await, "Operations");
    assert_eq!(browser.text("#jobs-failed").await, "0");
    assert!(
        browser.text("#main").await.contains("No integrations yet"),
        "an empty fleet says what to do next"
    );
    browser.check("overview-empty").await;

    browser.click("#logout").await;
    browser.wait_for("#token").await;
    browser.open("/").await;
    assert_eq!(
        browser.path().await,
        "/login",
        "the session ended at logout"
    );
}

#[tokio::test]
async fn a_wrong_token_is_refused_with_a_message_naming_the_problem() {
    let dashboard = Dashboard::start().await;
    let browser = Browser::start(&dashboard.base).await;
    browser.open("/login").await;
    fill(&browser, "#token", "lw_not-a-real-token").await;
    browser.click("#login-submit").await;
    let error = browser.text("#login-error").await;
    assert!(
        error.contains("not valid"),
        "the message says the token is refused: {error}"
    );
    assert!(!browser.exists("#logout").await, "no session was started");
    browser.check("login-refused").await;
}

#[tokio::test]
async fn failing_integrations_are_listed_first_on_the_overview_and_log_sources_shows_every_column()
{
    use logwarden_entities::integration;
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    let dashboard = Dashboard::start().await;
    let db = &dashboard.app.services.db;
    let healthy = seed_integration(db, "billing-claude", "finance", "eu").await;
    let failing = seed_integration(db, "research-claude", "research", "us").await;
    integration::ActiveModel {
        id: Set(failing),
        sync_failures: Set(5),
        last_error: Set(Some("authentication_error: the API key was revoked".into())),
        last_error_class: Set(Some("authentication_error".into())),
        ..Default::default()
    }
    .update(db)
    .await
    .expect("mark failing");
    integration::ActiveModel {
        id: Set(healthy),
        last_synced_at: Set(Some(chrono::Utc::now())),
        last_sync_succeeded_at: Set(Some(chrono::Utc::now())),
        ..Default::default()
    }
    .update(db)
    .await
    .expect("mark synced");
    let browser = dashboard.browser(Role::Admin).await;

    let first = browser.text("#attention tbody tr:first-child").await;
    assert!(
        first.starts_with("research-claude"),
        "the failing one leads: {first}"
    );
    assert!(
        first.to_lowercase().contains("failing") && first.contains("revoked"),
        "{first}"
    );
    browser.check("overview").await;

    browser.click("#nav-sources").await;
    browser.wait_for("#sources").await;
    let headings = browser.text("#sources thead").await.to_lowercase();
    for column in [
        "Name",
        "Type",
        "Project",
        "Data plane",
        "Status",
        "Health",
        "Last synced",
        "Last error",
    ] {
        assert!(
            headings.contains(&column.to_lowercase()),
            "the Log Sources table has {column}: {headings}"
        );
    }
    let rows = browser
        .client
        .find_all(Locator::Css("#sources tbody tr"))
        .await
        .expect("rows");
    assert_eq!(rows.len(), 2);
    assert!(browser.text("#sources tbody").await.contains("Pull"));
    // Sorting by name descending puts research-claude first.
    browser.click("#sources thead th:first-child button").await;
    browser.click("#sources thead th:first-child button").await;
    let first = browser
        .text("#sources tbody tr:first-child td:first-child")
        .await;
    assert!(
        first.starts_with("research-claude"),
        "sorted by name, descending: {first}"
    );
    browser.check("log-sources").await;

    // The dark theme passes the same checks.
    browser.click("#theme-toggle").await;
    let theme = browser
        .client
        .execute(
            "return document.documentElement.getAttribute('data-theme')",
            vec![],
        )
        .await
        .expect("theme");
    assert_eq!(theme, json!("dark"));
    browser.check("log-sources-dark").await;
}

#[tokio::test]
async fn an_investigator_sees_neither_log_sources_nor_operations() {
    let dashboard = Dashboard::start().await;
    let browser = dashboard.browser(Role::Investigator).await;
    assert!(
        !browser.exists("#nav-sources").await,
        "no Log Sources in the sidebar"
    );
    assert!(
        !browser.exists("#nav-overview").await,
        "no Operations in the sidebar"
    );
    assert!(!browser.exists("#nav-audit").await, "no Audit log");
    browser.check("investigator-home").await;

    for path in ["/ui/sources", "/ui/sources/new"] {
        browser.open(path).await;
        let refusal = browser.text("#main").await;
        assert!(
            refusal.contains("needs a token with the role operator"),
            "{path} says which role it needs: {refusal}"
        );
        assert!(!browser.exists("#sources").await, "no integration table");
        assert!(!browser.exists("#wizard-next").await, "no wizard on {path}");
    }
}

/// Types `text` into the field `css`, replacing what it held.
pub(crate) async fn fill(browser: &Browser, css: &str, text: &str) {
    let field = browser
        .client
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("no {css}: {err}"));
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

/// Sets a date-time picker, as choosing a date and time in it does.
pub(crate) async fn pick(browser: &Browser, css: &str, value: &str) {
    browser.wait_for(css).await;
    browser
        .client
        .execute(
            "document.querySelector(arguments[0]).value = arguments[1];",
            vec![json!(css), json!(value)],
        )
        .await
        .expect("set the picker");
}

#[tokio::test]
async fn the_wizard_shows_a_failed_connection_test_for_a_wrong_key_then_adds_the_integration() {
    let dashboard = Dashboard::start().await;
    let browser = dashboard.browser(Role::Operator).await;
    browser.click("#nav-sources").await;
    browser.check("log-sources-empty").await;
    browser.click("#add-integration").await;

    // Step 1 refuses an empty name, naming the field.
    browser.click("#wizard-next").await;
    assert!(browser.text("#name-error").await.contains("Enter a name"));
    fill(&browser, "#name", "acme-claude").await;
    fill(&browser, "#project", "security").await;
    browser.check("wizard-basic").await;
    browser.click("#wizard-next").await;

    // Step 2: a wrong key fails the test and says so.
    fill(&browser, "#api_key", "sk-ant-wrong-key").await;
    fill(&browser, "#base_url", &dashboard.fake.base_url()).await;
    browser.click("#test-connection").await;
    let failed = browser.text("#test-result").await;
    assert!(failed.starts_with("The connection failed"), "{failed}");
    assert!(
        !failed.contains("sk-ant-wrong-key"),
        "the key never shows: {failed}"
    );
    browser.check("wizard-connection-failed").await;

    fill(&browser, "#api_key", logwarden_fake_api::DEFAULT_TEST_KEY).await;
    browser.click("#test-connection").await;
    // The failed result stays on the page until the second test's answer replaces it.
    until(
        &browser,
        "the second connection test's result",
        "return !document.querySelector('#test-result').textContent.includes('The connection failed');",
    )
    .await;
    let passed = browser.text("#test-result").await;
    assert!(passed.contains("the key is accepted"), "{passed}");
    browser.check("wizard-connection-ok").await;
    browser.click("#wizard-next").await;

    // Step 3: review, then the integration is listed.
    let review = browser.text(".review").await;
    assert!(
        review.contains("acme-claude") && review.contains("security"),
        "{review}"
    );
    browser.check("wizard-review").await;
    browser.click("#wizard-finalize").await;
    let added = browser.text("#added").await;
    assert!(added.contains("acme-claude"), "{added}");
    let row = browser.text("#sources tbody tr:first-child").await;
    assert!(
        row.starts_with("acme-claude") && row.contains("security"),
        "{row}"
    );
    let services = &dashboard.app.services;
    let stored = services
        .resolve_integration("acme-claude")
        .await
        .expect("stored");
    // The creation left an audit row, as the API's does.
    let audit = services
        .list_audit(AuditQuery::default())
        .await
        .expect("audit");
    assert!(
        audit
            .items
            .iter()
            .any(|entry| entry.action == "POST /ui/sources/new"
                && entry.target == format!("integration {stored}")
                && entry.token_name == "operator in the browser"),
        "the wizard's create is audited: {:?}",
        audit.items
    );
}

#[tokio::test]
async fn a_backfill_started_on_the_backfill_tab_shows_its_progress_live_until_100_percent() {
    let dashboard = Dashboard::start().await;
    let id = dashboard.integration("acme-claude").await;
    let browser = dashboard.browser(Role::Operator).await;
    browser
        .visit(
            &format!("/ui/sources/{id}"),
            "#save-settings",
            "integration-configuration",
        )
        .await;
    assert_eq!(
        browser.text("#key-last4").await,
        format!(
            "••••{}",
            &logwarden_fake_api::DEFAULT_TEST_KEY[logwarden_fake_api::DEFAULT_TEST_KEY.len() - 4..]
        )
    );
    browser.click("#tab-backfill").await;
    browser.wait_for("#start-backfill").await;
    assert!(
        browser.text("#main").await.contains("No backfills yet"),
        "an empty list says what to do next"
    );

    // An end before the start is refused on the field, in words.
    pick(&browser, "#bf-start", "2026-04-08T14:00").await;
    pick(&browser, "#bf-end", "2026-04-08T12:00").await;
    browser.click("#start-backfill").await;
    let refused = browser.text("#end-error").await;
    assert!(refused.contains("range"), "{refused}");
    browser.check("backfill-validation").await;

    // 12:00 to 14:00 in Berlin (UTC+2 in April) is 10:00 to 12:00 UTC: four 30-minute batches.
    pick(&browser, "#bf-start", "2026-04-08T12:00").await;
    pick(&browser, "#bf-end", "2026-04-08T14:00").await;
    browser.click("#start-backfill").await;
    assert!(browser
        .text("#notice")
        .await
        .contains("backfill is recorded"));
    let listed = dashboard
        .app
        .services
        .list_backfills(BackfillQuery {
            integration_id: Some(id),
            ..BackfillQuery::default()
        })
        .await
        .expect("backfills")
        .items;
    assert_eq!(listed.len(), 1);
    let backfill = &listed[0];
    assert_eq!(backfill.range_start, day() + TimeDelta::hours(10));
    assert_eq!(backfill.range_end, day() + TimeDelta::hours(12));
    assert_eq!(backfill.batches_total, 4);
    let bar = format!("#backfill-{} [role=progressbar]", backfill.id);

    // Each batch the worker finishes moves the bar on the open page, without a reload.
    for done in 1..=4 {
        assert!(dashboard.run_one_job().await, "batch {done} runs");
        let percent = done * 25;
        until(
            &browser,
            &format!("the bar shows {percent} %"),
            &format!(
                "return document.querySelector('{bar}').getAttribute('aria-valuenow') === '{percent}'"
            ),
        )
        .await;
        if done == 2 {
            browser.check("backfill-running").await;
        }
    }
    // The scheduler's next pass marks the backfill completed; the page shows it.
    assert!(!dashboard.run_one_job().await, "no batch is left");
    until(
        &browser,
        "the backfill shows completed",
        &format!(
            "return document.querySelector('#backfill-{} [data-field=status]').textContent === 'completed'",
            backfill.id
        ),
    )
    .await;
    assert!(browser
        .text(&format!("#backfill-{}", backfill.id))
        .await
        .contains("4/4 batches"));
    browser.check("backfill-done").await;

    browser.click("#tab-resources").await;
    let events: u64 = browser.text("#res-events").await.parse().expect("a count");
    assert!(events > 0, "the backfilled events are counted");
    browser.check("integration-resources").await;

    // What the rate limiter admitted for the organisation, the batches' requests among it,
    // shows as its rate-budget use on the overview.
    let report = dashboard
        .app
        .services
        .budget_use(&Scope::Everything, Utc::now(), 60)
        .await
        .expect("budget use");
    assert_eq!(report.unavailable, None);
    let used = &report.organizations;
    assert_eq!(used.len(), 1, "one organisation: {used:?}");
    let batch_requests: i64 = job::Entity::find()
        .all(&dashboard.test.db)
        .await
        .expect("jobs")
        .iter()
        .map(|row| row.requests)
        .sum();
    assert!(batch_requests > 0, "the batches sent requests");
    assert!(
        used[0].requests >= batch_requests,
        "every request of the batches was admitted: {used:?}, {batch_requests}"
    );
    assert_eq!(used[0].per_minute.iter().sum::<i64>(), used[0].requests);
    browser.visit("/", "#budgets", "overview-budget").await;
    let shown = browser.text("#budgets").await;
    assert!(
        shown.contains(&used[0].organization)
            && shown.contains(&format!("{} / {}", used[0].requests, used[0].budget)),
        "{shown}"
    );
}

#[tokio::test]
async fn a_job_failed_by_an_injected_fault_shows_its_attempt_and_bulk_retry_runs_it_again() {
    let dashboard = Dashboard::start().await;
    let id = dashboard.integration("acme-claude").await;
    let services = &dashboard.app.services;
    services
        .start_backfill(NewBackfill {
            integration_id: id,
            from: day() + TimeDelta::hours(10),
            to: day() + TimeDelta::hours(11),
            batch_width: None,
            created_by: "test".into(),
        })
        .await
        .expect("backfill");
    // The first request of each of the two batches fails with a 500 marked do-not-retry.
    let faults: FaultConfig = serde_json::from_value(json!({
        "server_error": {"trigger": {"next": 2}, "status": 500, "should_retry": false}
    }))
    .expect("faults");
    dashboard.fake.set_faults(faults).expect("set faults");
    dashboard.run_jobs().await;

    let browser = dashboard.browser(Role::Operator).await;
    browser
        .visit(
            &format!("/ui/sources/{id}?tab=jobs&status=failed"),
            "#jobs",
            "jobs-failed",
        )
        .await;
    assert_eq!(browser.text("#matching").await, "2 jobs match.");
    let first = browser.text("#jobs tbody tr:first-child").await;
    assert!(
        first.contains("backfill_batch") && first.contains("api_error"),
        "{first}"
    );

    browser.click("#jobs tbody tr:first-child a").await;
    browser.wait_for("#attempts").await;
    assert_eq!(browser.text("#job-status").await.to_lowercase(), "failed");
    let attempt = browser
        .text("#attempts tbody tr:first-child")
        .await
        .to_lowercase();
    assert!(
        attempt.contains("failed") && attempt.contains("api_error"),
        "the attempt shows its error: {attempt}"
    );
    assert!(
        browser
            .text("#completeness")
            .await
            .contains("No record yet"),
        "a failed pull has no completeness record"
    );
    browser.check("job-detail").await;

    browser.click("#back-to-jobs").await;
    browser
        .open(&format!("/ui/sources/{id}?tab=jobs&status=failed"))
        .await;
    browser.click("#bulk-retry").await;
    assert_eq!(
        browser.text("#notice").await,
        "2 failed job(s) are back in line."
    );
    dashboard.run_jobs().await;
    browser
        .open(&format!("/ui/sources/{id}?tab=jobs&status=failed"))
        .await;
    assert_eq!(browser.text("#matching").await, "0 jobs match.");
    assert!(browser.text("#main").await.contains("No jobs match"));

    browser
        .visit(
            &format!("/ui/sources/{id}?tab=jobs&status=succeeded&kind=backfill_batch"),
            "#jobs",
            "jobs",
        )
        .await;
    assert_eq!(browser.text("#matching").await, "2 jobs match.");
    let retried = browser.text("#jobs tbody tr:first-child").await;
    assert!(
        retried.contains("2/"),
        "the second attempt succeeded: {retried}"
    );
}

#[tokio::test]
async fn toggling_a_policy_shows_the_pending_change_and_install_makes_it_the_next_version_audited()
{
    let dashboard = Dashboard::start().await;
    let id = dashboard.integration("acme-claude").await;
    let browser = dashboard.browser(Role::Admin).await;
    browser.open(&format!("/ui/sources/{id}")).await;
    browser.click("#open-policies").await;
    browser.wait_for("#policies").await;
    assert!(browser
        .text("#alert-note")
        .await
        .contains("Block and modify act as alerts"));
    assert!(browser
        .text("#last-installed")
        .await
        .starts_with("Version 1"));
    assert_eq!(browser.text("#pending-count").await, "No pending changes");
    browser.check("policies").await;

    let toggle = "#policies tbody tr:first-child .toggle";
    let before = browser
        .client
        .find(Locator::Css(toggle))
        .await
        .expect("toggle")
        .attr("aria-checked")
        .await
        .expect("aria-checked");
    let policy = browser
        .client
        .find(Locator::Css("#policies tbody tr:first-child code"))
        .await
        .expect("policy id")
        .text()
        .await
        .expect("text");
    browser.click(toggle).await;
    assert!(browser.text("#notice").await.contains("The draft changed"));
    let after = browser
        .client
        .find(Locator::Css(&format!("#toggle-{policy}")))
        .await
        .expect("toggle")
        .attr("aria-checked")
        .await
        .expect("aria-checked");
    assert_ne!(before, after, "the toggle flipped");
    assert_eq!(browser.text("#pending-count").await, "1 pending change");
    let changes = browser.text("#changes tbody").await;
    assert!(
        changes.contains(&policy),
        "the diff names {policy}: {changes}"
    );
    browser.check("policies-pending").await;

    browser.click("#install").await;
    assert!(browser.text("#notice").await.starts_with("Installed"));
    assert!(browser
        .text("#last-installed")
        .await
        .starts_with("Version 2"));
    assert_eq!(browser.text("#pending-count").await, "No pending changes");
    let installed = dashboard.app.services.policy_set(id).await.expect("set");
    assert_eq!(installed.installed_version, Some(2));
    assert!(installed.pending_changes.is_empty());

    // Both forms are in the audit log, which admins read on its page.
    browser.click("#nav-audit").await;
    browser.wait_for("#audit").await;
    let log = browser.text("#audit tbody").await;
    assert!(
        log.contains("POST /ui/sources/{id}/policies/{action}"),
        "the audit log names the route: {log}"
    );
    assert_eq!(
        log.matches(&format!("policy set of integration {id}"))
            .count(),
        2,
        "toggle and install: {log}"
    );
    browser.check("audit-log").await;
}

#[tokio::test]
async fn an_investigator_searches_events_by_user_and_date_range_and_sees_the_violation_highlighted()
{
    let dashboard = Dashboard::start().await;
    let id = dashboard.integration("acme-claude").await;
    let services = &dashboard.app.services;
    let (from, to) = (day() + TimeDelta::hours(8), day() + TimeDelta::hours(18));
    services
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
    let everything = Scope::Everything;
    let violating = services
        .search_events(
            &everything,
            &EventQuery {
                has_violation: Some(true),
                ..EventQuery::default()
            },
        )
        .await
        .expect("search");
    let target = violating.items.first().expect("the fake plants violations");
    let user = target.user_email.clone();
    let expected = services
        .search_events(
            &everything,
            &EventQuery {
                user_email: Some(user.clone()),
                from: Some(from),
                to: Some(to),
                ..EventQuery::default()
            },
        )
        .await
        .expect("search");

    let browser = dashboard.browser(Role::Investigator).await;
    browser.click("#nav-events").await;
    browser.wait_for("#event-search").await;
    fill(&browser, "#ev-user", &user).await;
    // 10:00 to 20:00 in Berlin is 08:00 to 18:00 UTC.
    pick(&browser, "#ev-from", "2026-04-08T10:00").await;
    pick(&browser, "#ev-to", "2026-04-08T20:00").await;
    browser.click("#search").await;
    browser.wait_for("#events").await;
    assert_eq!(
        browser.text("#total").await,
        format!("{} match", expected.total.count)
    );
    let users = browser
        .client
        .find_all(Locator::Css("#events tbody tr td:nth-child(2)"))
        .await
        .expect("rows");
    assert_eq!(users.len(), expected.items.len());
    for cell in users {
        assert_eq!(
            cell.text().await.expect("text"),
            user,
            "every row is the user's"
        );
    }
    browser.check("events").await;

    browser
        .click(&format!("#events a[href^='/ui/events/{}']", target.id))
        .await;
    browser.wait_for("#event-input").await;
    let detail = services
        .event_detail(&everything, target.id)
        .await
        .expect("detail");
    let violation = detail
        .violations
        .iter()
        .find(|v| v.direction == "input" || v.direction == "output")
        .expect("a violation in the input or output");
    let text = if violation.direction == "input" {
        &detail.input
    } else {
        &detail.output
    };
    let span = &text[violation.span_start as usize..violation.span_end as usize];
    // The marks of the violation's policy, read in order, are exactly its span.
    let marked = browser
        .client
        .execute(
            "return Array.from(document.querySelectorAll(arguments[0]))
                .map(m => m.textContent).join('');",
            vec![json!(format!(
                "#event-{} mark[data-policy~='{}']",
                violation.direction, violation.policy
            ))],
        )
        .await
        .expect("marks");
    assert_eq!(marked, json!(span), "the violating span is highlighted");
    assert!(browser
        .text("#violations")
        .await
        .contains(&violation.policy));
    browser.check("event-detail").await;
}

#[tokio::test]
async fn a_login_survives_a_server_restart_and_the_database_holds_neither_the_id_nor_the_token() {
    use logwarden_entities::web_session;
    let dashboard = Dashboard::start().await;
    let browser = dashboard.browser(Role::Operator).await;
    let cookie = browser
        .client
        .get_named_cookie("lw_session")
        .await
        .expect("the session cookie");
    let rows = web_session::Entity::find()
        .all(&dashboard.test.db)
        .await
        .expect("sessions");
    assert_eq!(rows.len(), 1, "one session row");
    assert_ne!(rows[0].id_hash, cookie.value(), "the id is stored hashed");
    assert_eq!(cookie.http_only(), Some(true));

    // Stop the server and start another process's worth of it on the same database.
    dashboard.shutdown.cancel();
    let app = App::with_database(dashboard.test.db.clone(), &dashboard.settings)
        .await
        .expect("app");
    let shutdown = CancellationToken::new();
    let restarted = RunningServer::start(&app, "127.0.0.1:0", shutdown.clone())
        .await
        .expect("server");
    let mut browser = browser;
    browser.base = restarted.url();
    browser.open("/ui/sources").await;
    assert_eq!(browser.path().await, "/ui/sources", "still logged in");
    browser.wait_for("#logout").await;

    browser.click("#logout").await;
    browser.wait_for("#token").await;
    let left = web_session::Entity::find()
        .all(&dashboard.test.db)
        .await
        .expect("sessions");
    assert!(left.is_empty(), "logout deletes the session: {left:?}");
    shutdown.cancel();
}
