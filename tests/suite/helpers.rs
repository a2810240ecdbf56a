//! Shared test helpers: every test gets its own PostgreSQL schema (or SQLite file) and its own
//! Redis key prefix, so the suite runs in parallel against the shared services.

use logwarden::infra::secret::Secret;
use sea_orm::{ConnectionTrait, DatabaseConnection};

/// The shared PostgreSQL server (override with `TEST_DATABASE_URL`).
pub fn postgres_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// The shared Redis server (override with `TEST_REDIS_URL`).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A unique name for this test's schema / key prefix.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// A database of this test's own: a fresh PostgreSQL schema with every migration applied.
pub struct TestDb {
    pub db: DatabaseConnection,
    pub url: String,
    pub schema: String,
}

impl TestDb {
    pub async fn postgres() -> Self {
        let schema = unique_name("t");
        let base = Secret::new(postgres_url());
        let admin = logwarden::store::connect(&base)
            .await
            .expect("connect to PostgreSQL");
        admin
            .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
            .await
            .expect("create schema");
        admin.close().await.ok();
        let db = logwarden::store::connect_with(&base, Some(&schema))
            .await
            .expect("connect to schema");
        logwarden::store::migrate(&db).await.expect("migrate");
        // The URL a child process uses to reach the same schema.
        let url = format!("{}?options=-csearch_path%3D{schema}", postgres_url());
        Self { db, url, schema }
    }

    pub async fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(unique_name("lw"));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.join("logwarden.db").display());
        let db = logwarden::store::open(&Secret::new(url.clone()))
            .await
            .expect("open sqlite");
        Self {
            db,
            url,
            schema: String::new(),
        }
    }
}

/// The whole pipeline in one test: a database of its own, the fake Compliance API on a
/// random port with a settable clock, and the app built on them (service layer, transport,
/// rate limiter) with a scheduler and a worker. `drain`
/// steps them deterministically instead of waiting on timers.
pub struct Pipeline {
    pub test: TestDb,
    pub fake: logwarden_fake_api::FakeServer,
    pub services: logwarden::service::Services,
    pub scheduler: logwarden::roles::scheduler::Scheduler,
    pub worker: logwarden::roles::worker::Worker,
    pub integration_id: i64,
}

/// Settings for tests: fast retries, a generated master key, plain HTTP to the loopback fake,
/// everything else default.
pub fn test_settings(
    tweak: impl FnOnce(&mut logwarden::config::SettingsArgs),
) -> std::sync::Arc<logwarden::config::Settings> {
    let mut args = logwarden::config::SettingsArgs {
        master_key: Some(logwarden::infra::crypto::MasterKey::generate_base64()),
        retry_base: Some("10ms".into()),
        retry_cap: Some("50ms".into()),
        redis_prefix: Some(unique_name("lwtest")),
        // The fake API listens on plain HTTP on loopback.
        allow_loopback_http: Some("true".into()),
        ..Default::default()
    };
    tweak(&mut args);
    std::sync::Arc::new(logwarden::config::Settings::load(&args).expect("test settings"))
}

/// The time this test process started, in whole seconds (which both backends store
/// exactly): one fixed "now" that tests count back from, so equal offsets are equal times.
pub fn fixed_now() -> chrono::DateTime<chrono::Utc> {
    use chrono::Timelike;
    static NOW: std::sync::OnceLock<chrono::DateTime<chrono::Utc>> = std::sync::OnceLock::new();
    *NOW.get_or_init(|| {
        let now = chrono::Utc::now();
        now.with_nanosecond(0).unwrap_or(now)
    })
}

/// 2026-04-08T00:00:00Z, a day inside the fake's default history.
pub fn day() -> chrono::DateTime<chrono::Utc> {
    "2026-04-08T00:00:00Z".parse().unwrap()
}

impl Pipeline {
    /// Starts everything on PostgreSQL with an in-process transport; the integration syncs
    /// from `sync_from`.
    pub async fn start(
        fake: logwarden_fake_api::FakeConfig,
        sync_from: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        Self::start_with(TestDb::postgres().await, fake, sync_from, |_| {}).await
    }

    pub async fn start_with(
        test: TestDb,
        fake: logwarden_fake_api::FakeConfig,
        sync_from: chrono::DateTime<chrono::Utc>,
        tweak: impl FnOnce(&mut logwarden::config::SettingsArgs),
    ) -> Self {
        let fake = logwarden_fake_api::spawn(fake).await.expect("fake API");
        fake.set_now(sync_from);
        let settings = test_settings(tweak);
        let app = logwarden::app::App::with_database(test.db.clone(), &settings)
            .await
            .expect("app");
        let services = app.services.clone();
        let integration = services
            .add_integration(logwarden::service::integrations::NewIntegration {
                name: "acme".into(),
                project: "security".into(),
                data_plane: "default".into(),
                api_key: Secret::new(logwarden_fake_api::DEFAULT_TEST_KEY),
                base_url: Some(fake.base_url()),
                sync_from: Some(sync_from),
            })
            .await
            .expect("add integration");
        let scheduler =
            logwarden::roles::scheduler::Scheduler::new(services.clone(), app.transport.clone());
        let worker = logwarden::roles::worker::Worker::new(
            &app,
            unique_name("worker"),
            tokio_util::sync::CancellationToken::new(),
        );
        Self {
            test,
            fake,
            services,
            scheduler,
            worker,
            integration_id: integration.id,
        }
    }

    /// Runs every job that can run now, pumping between rounds, until nothing is left to
    /// run. Returns how many deliveries were processed.
    pub async fn drain(&self, now: chrono::DateTime<chrono::Utc>) -> usize {
        use logwarden_entities::job;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let mut processed = 0;
        for _ in 0..10_000 {
            self.scheduler.pump(now).await.expect("pump");
            let ready = job::Entity::find()
                .filter(job::Column::Status.eq("enqueued"))
                .all(&self.test.db)
                .await
                .expect("enqueued jobs");
            if ready.is_empty() {
                return processed;
            }
            for row in ready {
                self.worker
                    .process(logwarden::roles::scheduler::payload(&row))
                    .await;
                processed += 1;
            }
        }
        panic!("jobs kept coming back after 10,000 rounds");
    }

    pub async fn count(&self, table: &str) -> i64 {
        use sea_orm::{ConnectionTrait, Statement};
        let row = self
            .test
            .db
            .query_one_raw(Statement::from_string(
                self.test.db.get_database_backend(),
                format!("SELECT COUNT(*) FROM {table}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap()
    }
}

/// Records an integration straight into the store (no key check against an API): for tests
/// of the store and the service layer that need rows, not syncing. Its project and data plane
/// are created when new; returns its id.
pub async fn seed_integration(
    db: &DatabaseConnection,
    name: &str,
    project: &str,
    plane: &str,
) -> i64 {
    use logwarden_entities::{data_plane, integration, project};
    use logwarden_jobs::kind::{IntegrationKind, IntegrationStatus};
    use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
    let now = chrono::Utc::now();
    let project_id = match project::Entity::find()
        .filter(project::Column::Name.eq(project))
        .one(db)
        .await
        .expect("find project")
    {
        Some(row) => row.id,
        None => {
            project::Entity::insert(project::ActiveModel {
                name: Set(project.to_owned()),
                created_at: Set(now),
                ..Default::default()
            })
            .exec(db)
            .await
            .expect("insert project")
            .last_insert_id
        }
    };
    let plane_id = match data_plane::Entity::find()
        .filter(data_plane::Column::Name.eq(plane))
        .one(db)
        .await
        .expect("find data plane")
    {
        Some(row) => row.id,
        None => {
            data_plane::Entity::insert(data_plane::ActiveModel {
                name: Set(plane.to_owned()),
                created_at: Set(now),
                ..Default::default()
            })
            .exec(db)
            .await
            .expect("insert data plane")
            .last_insert_id
        }
    };
    integration::Entity::insert(integration::ActiveModel {
        name: Set(name.to_owned()),
        kind: Set(IntegrationKind::AnthropicComplianceApi),
        project_id: Set(project_id),
        data_plane_id: Set(plane_id),
        api_key_ciphertext: Set("not-a-real-ciphertext".to_owned()),
        api_key_last4: Set("0000".to_owned()),
        base_url: Set("https://compliance.invalid".to_owned()),
        organization_uuid: Set(None),
        status: Set(IntegrationStatus::Active),
        sync_watermark: Set(None),
        last_synced_at: Set(None),
        last_error: Set(None),
        last_error_class: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    })
    .exec(db)
    .await
    .expect("insert integration")
    .last_insert_id
}

/// Records a job straight into the store with `status` as its first status, at `now`.
pub async fn seed_job(
    db: &DatabaseConnection,
    integration_id: i64,
    kind: logwarden_jobs::kind::JobKind,
    window_start: chrono::DateTime<chrono::Utc>,
    status: logwarden_jobs::kind::JobStatus,
    now: chrono::DateTime<chrono::Utc>,
) -> logwarden_entities::job::Model {
    use logwarden_entities::job;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    // A sync job follows the integration's last one, as the scheduler records them.
    let follows = match kind {
        logwarden_jobs::kind::JobKind::Sync => job::Entity::find()
            .filter(job::Column::IntegrationId.eq(integration_id))
            .filter(job::Column::Kind.eq(kind))
            .order_by_desc(job::Column::Id)
            .one(db)
            .await
            .expect("last sync job")
            .map(|row| row.id),
        _ => None,
    };
    logwarden::store::jobs::insert_unique(
        db,
        logwarden::store::jobs::NewJob {
            follows,
            kind,
            integration_id,
            backfill_id: None,
            window: logwarden_jobs::window::Window {
                start: window_start,
                end: window_start + chrono::TimeDelta::hours(1),
            },
            status,
            max_attempts: 3,
            policy_set_version: None,
        },
        now,
    )
    .await
    .expect("insert job")
    .expect("a new unique key")
}

/// Declares each named `async fn(TestDb)` as two tests, `<name>::on_postgres` and
/// `<name>::on_sqlite`, for behaviour whose SQL differs between the backends.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn on_postgres() {
                super::$name($crate::helpers::TestDb::postgres().await).await
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn on_sqlite() {
                super::$name($crate::helpers::TestDb::sqlite().await).await
            }
        }
    )+};
}

/// The HTTP server of an [`App`](logwarden::app::App) on a test's database, on a random
/// port; it stops when dropped.
pub struct Served {
    pub base: String,
    pub http: reqwest::Client,
    pub app: logwarden::app::App,
    shutdown: tokio_util::sync::CancellationToken,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl Served {
    pub async fn start(db: DatabaseConnection, settings: &logwarden::config::Settings) -> Self {
        let app = logwarden::app::App::with_database(db, settings)
            .await
            .expect("app");
        let shutdown = tokio_util::sync::CancellationToken::new();
        let server =
            logwarden::roles::serve::RunningServer::start(&app, "127.0.0.1:0", shutdown.clone())
                .await
                .expect("server");
        Self {
            base: server.url(),
            http: reqwest::Client::new(),
            app,
            shutdown,
        }
    }

    /// A new bearer token for `role`, scoped to `projects` (none: every project).
    pub async fn token(&self, role: logwarden::service::tokens::Role, projects: &[&str]) -> String {
        self.app
            .services
            .create_token(logwarden::service::tokens::NewToken {
                name: format!("{role} test"),
                role,
                projects: projects.iter().map(|p| (*p).to_owned()).collect(),
            })
            .await
            .expect("token")
            .token
            .expose()
            .to_owned()
    }

    /// `method path` with `token` and an optional JSON body: the status and the JSON body
    /// (`Value::Null` for an empty or non-JSON one).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    pub async fn get(&self, path: &str, token: &str) -> (reqwest::StatusCode, serde_json::Value) {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    pub async fn post(
        &self,
        path: &str,
        token: &str,
        body: serde_json::Value,
    ) -> (reqwest::StatusCode, serde_json::Value) {
        self.call(reqwest::Method::POST, path, Some(token), Some(body))
            .await
    }
}

/// `SELECT COUNT(*) FROM table` on `db`.
pub async fn count_rows(db: &DatabaseConnection, table: &str) -> i64 {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) FROM {table}"),
        ))
        .await
        .expect("count")
        .expect("one row");
    row.try_get_by_index::<i64>(0).expect("a count")
}

/// One sample: metric name, labels, value.
pub type Sample = (String, Vec<(String, String)>, f64);

/// `name{labels} value` lines of a Prometheus text body, checked for the format's syntax.
pub fn parse_prometheus(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut typed = std::collections::BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap().to_owned();
            let kind = parts.next().unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(typed.insert(name), "a second TYPE line: {line}");
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value: {line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_owned(), Vec::new()),
            Some((name, labels)) => {
                let labels = labels
                    .strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels: {line}"));
                let pairs = labels
                    .split("\",")
                    .filter(|pair| !pair.is_empty())
                    .map(|pair| {
                        let (key, value) = pair
                            .split_once("=\"")
                            .unwrap_or_else(|| panic!("bad label: {line}"));
                        (key.to_owned(), value.trim_end_matches('"').to_owned())
                    })
                    .collect();
                (name.to_owned(), pairs)
            }
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name: {line}"
        );
        let family = ["_bucket", "_sum", "_count", "_total"]
            .iter()
            .find_map(|suffix| {
                name.strip_suffix(suffix)
                    .filter(|base| typed.contains(*base))
            })
            .unwrap_or(&name)
            .to_owned();
        assert!(
            typed.contains(&family) || typed.contains(&name),
            "no TYPE for {line}"
        );
        samples.push((name, labels, value));
    }
    samples
}
