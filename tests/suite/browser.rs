//! The web dashboard in a real browser: headless Chromium driven over WebDriver (a
//! chromedriver of each test's own on a random port) against the real server on a
//! PostgreSQL schema of its own. Every page visited is checked with axe-core (no serious or
//! critical violation) and saved as a screenshot under `target/test-artifacts/screenshots`
//! (and into `docs/screenshots` with `LOGWARDEN_UPDATE_SCREENSHOTS=1`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use logwarden::app::App;
use logwarden::roles::serve::RunningServer;
use logwarden::service::tokens::{NewToken, Role};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::helpers::{seed_integration, test_settings, TestDb};

/// A chromedriver process of this test's own, and the browser session it drives.
struct Browser {
    client: Client,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
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
    async fn start() -> Self {
        let chromedriver = which("chromedriver").expect(
            "chromedriver is not installed: apt-get install -y chromium chromium-driver (.ci/run does this)",
        );
        let port = free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
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
        Self { client, driver }
    }

    /// Runs axe-core on the page shown and fails on any serious or critical violation.
    async fn assert_accessible(&self, page: &str) {
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
    async fn screenshot(&self, name: &str) {
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
    async fn check(&self, name: &str) {
        self.assert_accessible(name).await;
        self.screenshot(name).await;
    }

    async fn text(&self, css: &str) -> String {
        self.client
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("no {css} on the page: {err}"))
            .text()
            .await
            .expect("text")
    }

    async fn exists(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("find")
            .is_empty()
    }

    async fn click(&self, css: &str) {
        self.client
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("no {css} on the page: {err}"))
            .click()
            .await
            .expect("click");
    }

    /// Logs in at `base` with `token` through the login form.
    async fn log_in(&self, base: &str, token: &str) {
        self.client
            .goto(&format!("{base}/login"))
            .await
            .expect("open login");
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

    async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("url")
            .path()
            .to_owned()
    }
}

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

/// The server on a test database, with a token per role.
struct Dashboard {
    base: String,
    fake: logwarden_fake_api::FakeServer,
    app: App,
    shutdown: CancellationToken,
    _test: TestDb,
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Dashboard {
    async fn start() -> Self {
        let test = TestDb::postgres().await;
        let fake = logwarden_fake_api::spawn(logwarden_fake_api::FakeConfig {
            rate_limit: None,
            ..logwarden_fake_api::FakeConfig::default()
        })
        .await
        .expect("fake API");
        let settings = test_settings(|args| {
            args.allow_loopback_http = Some("true".into());
        });
        let app = App::with_database(test.db.clone(), &settings)
            .await
            .expect("app");
        let shutdown = CancellationToken::new();
        let server = RunningServer::start(&app, "127.0.0.1:0", shutdown.clone())
            .await
            .expect("server");
        Self {
            base: server.url(),
            fake,
            app,
            shutdown,
            _test: test,
        }
    }

    async fn token(&self, role: Role) -> String {
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
}

#[tokio::test]
async fn an_operator_logs_in_with_a_token_sees_the_overview_and_logs_out() {
    let dashboard = Dashboard::start().await;
    let token = dashboard.token(Role::Operator).await;
    let browser = Browser::start().await;

    browser
        .client
        .goto(&format!("{}/", dashboard.base))
        .await
        .expect("open /");
    assert_eq!(
        browser.path().await,
        "/login",
        "a visitor without a session is sent to log in"
    );
    browser.check("login").await;

    browser.log_in(&dashboard.base, &token).await;
    assert_eq!(browser.path().await, "/");
    assert_eq!(browser.text("h1").await, "Operations");
    assert_eq!(browser.text("#jobs-failed").await, "0");
    assert!(
        browser.text("#main").await.contains("No integrations yet"),
        "an empty fleet says what to do next"
    );
    browser.check("overview-empty").await;

    browser.click("#logout").await;
    browser
        .client
        .wait()
        .for_element(Locator::Css("#token"))
        .await
        .expect("back at the login form");
    browser
        .client
        .goto(&format!("{}/", dashboard.base))
        .await
        .expect("open /");
    assert_eq!(
        browser.path().await,
        "/login",
        "the session ended at logout"
    );
}

#[tokio::test]
async fn a_wrong_token_is_refused_with_a_message_naming_the_problem() {
    let dashboard = Dashboard::start().await;
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/login", dashboard.base))
        .await
        .expect("open login");
    browser
        .client
        .find(Locator::Css("#token"))
        .await
        .expect("token field")
        .send_keys("lw_not-a-real-token")
        .await
        .expect("type");
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
    let token = dashboard.token(Role::Admin).await;
    let browser = Browser::start().await;
    browser.log_in(&dashboard.base, &token).await;

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
    browser
        .client
        .wait()
        .for_element(Locator::Css("#sources"))
        .await
        .expect("sources table");
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
    let token = dashboard.token(Role::Investigator).await;
    let browser = Browser::start().await;
    browser.log_in(&dashboard.base, &token).await;
    assert!(
        !browser.exists("#nav-sources").await,
        "no Log Sources in the sidebar"
    );
    assert!(
        !browser.exists("#nav-overview").await,
        "no Operations in the sidebar"
    );
    browser.check("investigator-home").await;

    browser
        .client
        .goto(&format!("{}/ui/sources", dashboard.base))
        .await
        .expect("open sources");
    let refusal = browser.text("#main").await;
    assert!(
        refusal.contains("needs a token with the role operator"),
        "the page says which role it needs: {refusal}"
    );
    assert!(!browser.exists("#sources").await, "no integration table");
}

/// Types `text` into the field `css`, replacing what it held.
async fn fill(browser: &Browser, css: &str, text: &str) {
    let field = browser
        .client
        .wait()
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|err| panic!("no {css}: {err}"));
    field.clear().await.expect("clear");
    field.send_keys(text).await.expect("type");
}

#[tokio::test]
async fn the_wizard_shows_a_failed_connection_test_for_a_wrong_key_then_adds_the_integration() {
    let dashboard = Dashboard::start().await;
    let token = dashboard.token(Role::Operator).await;
    let browser = Browser::start().await;
    browser.log_in(&dashboard.base, &token).await;
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
    let stored = dashboard
        .app
        .services
        .resolve_integration("acme-claude")
        .await
        .expect("stored");
    assert!(stored > 0);
}
