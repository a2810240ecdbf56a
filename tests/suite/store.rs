//! Migrations and connections on both backends.

use logwarden::infra::secret::Secret;
use sea_orm::{ConnectionTrait, Statement};

use crate::helpers::{postgres_url, unique_name, TestDb};

async fn table_count(db: &sea_orm::DatabaseConnection, sql: &str) -> i64 {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

#[tokio::test]
async fn migrations_create_the_whole_data_model_on_postgres() {
    let test = TestDb::postgres().await;
    let count = table_count(
        &test.db,
        &format!(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{}' AND table_name IN ('projects','data_planes','integrations','backfills','jobs','job_attempts','events','access_events','sessions','violations','alerts','issues','policy_sets','api_tokens')",
            test.schema
        ),
    )
    .await;
    assert_eq!(count, 14);
}

#[tokio::test]
async fn migrations_create_the_whole_data_model_on_sqlite() {
    let test = TestDb::sqlite().await;
    let count = table_count(
        &test.db,
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('projects','data_planes','integrations','backfills','jobs','job_attempts','events','access_events','sessions','violations','alerts','issues','policy_sets','api_tokens')",
    )
    .await;
    assert_eq!(count, 14);
}

#[tokio::test]
async fn processes_migrating_at_once_apply_each_migration_exactly_once() {
    let schema = unique_name("t");
    let base = Secret::new(postgres_url());
    let admin = logwarden::store::connect(&base).await.unwrap();
    admin
        .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let base = base.clone();
        let schema = schema.clone();
        tasks.push(tokio::spawn(async move {
            let db = logwarden::store::connect_with(&base, Some(&schema)).await?;
            logwarden::store::migrate(&db).await
        }));
    }
    for task in tasks {
        task.await
            .unwrap()
            .expect("every concurrent migrate succeeds");
    }
    let applied = table_count(
        &admin,
        &format!("SELECT COUNT(*) FROM {schema}.seaql_migrations"),
    )
    .await;
    assert_eq!(
        applied as usize,
        <logwarden_migrations::Migrator as logwarden_migrations::MigratorTrait>::migrations().len()
    );
}
