//! An integration's lifecycle beyond syncing: its key rotated in place (tested against
//! upstream first), and deletion that keeps its ingested data unless purged.

use chrono::TimeDelta;
use logwarden::infra::secret::Secret;
use logwarden::service::backfills::NewBackfill;
use logwarden_entities::{integration, job};
use logwarden_fake_api::{ApiKeySpec, FakeConfig, DEFAULT_TEST_KEY};
use logwarden_jobs::kind::{IntegrationStatus, JobStatus};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::helpers::{day, Pipeline, TestDb};
use crate::on_both_backends;

const NEW_KEY: &str = "sk-ant-api01-rotated-service-key-7c1d";

fn two_keys() -> FakeConfig {
    FakeConfig {
        rate_limit: None,
        keys: vec![
            ApiKeySpec::with_default_scopes(DEFAULT_TEST_KEY),
            ApiKeySpec::with_default_scopes(NEW_KEY),
        ],
        ..FakeConfig::default()
    }
}

/// A pipeline whose integration ingested the first two hours of the fake's day.
async fn ingested(test: TestDb) -> Pipeline {
    let pipeline =
        Pipeline::start_with(test, two_keys(), day() + TimeDelta::hours(2), |_| {}).await;
    pipeline
        .services
        .start_backfill(NewBackfill {
            integration_id: pipeline.integration_id,
            from: day(),
            to: day() + TimeDelta::hours(2),
            batch_width: None,
            created_by: "test".into(),
        })
        .await
        .unwrap();
    pipeline.drain(day() + TimeDelta::hours(3)).await;
    assert!(pipeline.count("events").await > 0);
    pipeline
}

const DATA: [&str; 6] = [
    "events",
    "access_events",
    "sessions",
    "violations",
    "alerts",
    "issues",
];

async fn counts(pipeline: &Pipeline) -> Vec<i64> {
    let mut counts = Vec::new();
    for table in DATA {
        counts.push(pipeline.count(table).await);
    }
    counts
}

async fn a_new_key_is_tested_against_upstream_then_swapped_in_place(test: TestDb) {
    let pipeline = Pipeline::start_with(test, two_keys(), day(), |_| {}).await;
    let services = &pipeline.services;
    let id = pipeline.integration_id;

    let empty = services
        .set_integration_key(id, Secret::new("  "))
        .await
        .unwrap_err();
    assert_eq!(empty.field(), Some("api_key"), "{empty}");
    let wrong = "sk-ant-api01-unknown-to-upstream-5e5e";
    let refused = services
        .set_integration_key(id, Secret::new(wrong))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "upstream_error", "{refused}");
    assert!(
        !refused.to_string().contains("unknown-to-upstream"),
        "{refused}"
    );
    assert_eq!(
        services.integration(id).await.unwrap().api_key_last4,
        &DEFAULT_TEST_KEY[DEFAULT_TEST_KEY.len() - 4..]
    );

    let view = services
        .set_integration_key(id, Secret::new(NEW_KEY))
        .await
        .unwrap();

    assert_eq!(view.id, id, "the same integration, in place");
    assert_eq!(view.api_key_last4, "7c1d");
    let row = integration::Entity::find_by_id(id)
        .one(&pipeline.test.db)
        .await
        .unwrap()
        .unwrap();
    let stored = services
        .master_key()
        .unwrap()
        .decrypt(&row.api_key_ciphertext)
        .unwrap();
    assert_eq!(stored.expose(), NEW_KEY);

    services.delete_integration(id, false).await.unwrap();
    let deleted = services
        .set_integration_key(id, Secret::new(NEW_KEY))
        .await
        .unwrap_err();
    assert_eq!(deleted.code(), "conflict", "{deleted}");
}

async fn deleting_an_integration_keeps_its_data_unless_purge_is_given(test: TestDb) {
    let pipeline = ingested(test).await;
    let services = &pipeline.services;
    let before = counts(&pipeline).await;
    let pending = crate::helpers::seed_job(
        &pipeline.test.db,
        pipeline.integration_id,
        logwarden_jobs::kind::JobKind::Sync,
        day() + TimeDelta::hours(5),
        JobStatus::Pending,
        day() + TimeDelta::hours(5),
    )
    .await;

    let view = services
        .delete_integration(pipeline.integration_id, false)
        .await
        .unwrap();

    assert_eq!(view.status, IntegrationStatus::Deleted);
    assert_eq!(counts(&pipeline).await, before, "nothing ingested is lost");
    let canceled = job::Entity::find_by_id(pending.id)
        .one(&pipeline.test.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(canceled.status, JobStatus::Canceled);
}

async fn deleting_with_purge_removes_the_integration_s_ingested_data_and_keeps_its_jobs(
    test: TestDb,
) {
    let pipeline = ingested(test).await;
    let services = &pipeline.services;
    let jobs = pipeline.count("jobs").await;

    services
        .delete_integration(pipeline.integration_id, true)
        .await
        .unwrap();

    assert_eq!(counts(&pipeline).await, vec![0; DATA.len()]);
    assert_eq!(pipeline.count("jobs").await, jobs, "the job history stays");
    let row = integration::Entity::find()
        .filter(integration::Column::Id.eq(pipeline.integration_id))
        .one(&pipeline.test.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, IntegrationStatus::Deleted);
}

on_both_backends!(
    a_new_key_is_tested_against_upstream_then_swapped_in_place,
    deleting_an_integration_keeps_its_data_unless_purge_is_given,
    deleting_with_purge_removes_the_integration_s_ingested_data_and_keeps_its_jobs,
);
