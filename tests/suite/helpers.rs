//! Shared test helpers: every test gets its own PostgreSQL schema (or SQLite file) and its own
//! Redis key prefix, so the suite runs in parallel against the shared services.

use logwarden::secret::Secret;
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
