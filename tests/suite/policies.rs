//! Policy sets per integration: draft, pending changes, install, refusal of invalid drafts,
//! and re-evaluation of stored events with a newly installed version.

use chrono::TimeDelta;
use logwarden::service::backfills::NewBackfill;
use logwarden_entities::{alert, event, job, violation};
use logwarden_fake_api::FakeConfig;
use logwarden_jobs::kind::{BackfillStatus, JobKind, JobStatus};
use logwarden_policy::{template, Action, PolicyConfig, PolicyId, PolicyParams, PolicySetConfig};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::helpers::{day, redis_url, Pipeline, TestDb};
use logwarden::infra::secret::Secret;

async fn ingested_day() -> Pipeline {
    let fake = FakeConfig {
        rate_limit: None,
        ..FakeConfig::default()
    };
    let pipeline = Pipeline::start(fake, day() + TimeDelta::hours(12)).await;
    pipeline
        .services
        .start_backfill(NewBackfill {
            integration_id: pipeline.integration_id,
            from: day(),
            to: day() + TimeDelta::hours(12),
            batch_width: None,
            created_by: "test".into(),
        })
        .await
        .unwrap();
    pipeline.drain(day() + TimeDelta::hours(13)).await;
    pipeline
}

#[tokio::test]
async fn a_new_integration_has_the_default_set_installed_with_nothing_pending() {
    let pipeline = Pipeline::start(FakeConfig::default(), day()).await;
    let view = pipeline
        .services
        .policy_set(pipeline.integration_id)
        .await
        .unwrap();
    assert_eq!(view.installed_version, Some(1));
    assert!(view.installed_at.is_some());
    assert_eq!(view.draft, template("default").unwrap());
    assert!(view.pending_changes.is_empty());
}

#[tokio::test]
async fn editing_changes_the_draft_only_until_install_makes_it_the_next_version() {
    let pipeline = Pipeline::start(FakeConfig::default(), day()).await;

    let view = pipeline
        .services
        .draft_from_template(pipeline.integration_id, "strict")
        .await
        .unwrap();
    assert_eq!(view.installed_version, Some(1), "editing installs nothing");
    assert_eq!(view.installed, template("default"));
    assert!(!view.pending_changes.is_empty());
    assert!(view
        .pending_changes
        .iter()
        .any(|c| c.policy == "banned_substrings" && c.change == "enabled"));

    let view = pipeline
        .services
        .install_policy_set(pipeline.integration_id, "test")
        .await
        .unwrap();
    assert_eq!(view.installed_version, Some(2));
    assert_eq!(view.installed, template("strict"));
    assert!(view.pending_changes.is_empty());
    let again = pipeline
        .services
        .install_policy_set(pipeline.integration_id, "test")
        .await;
    assert!(again
        .unwrap_err()
        .to_string()
        .contains("no pending changes"));
}

#[tokio::test]
async fn an_invalid_draft_is_refused_naming_the_field_and_nothing_changes() {
    let pipeline = Pipeline::start(FakeConfig::default(), day()).await;
    let mut config = template("strict").unwrap();
    for policy in &mut config.policies {
        if let PolicyParams::BannedSubstrings(params) = &mut policy.params {
            params.substrings.clear();
        }
    }
    assert!(config
        .policies
        .iter()
        .any(|p| p.id == PolicyId::BannedSubstrings));

    let err = pipeline
        .services
        .set_draft(pipeline.integration_id, &config)
        .await
        .unwrap_err();

    let message = err.to_string();
    assert!(message.contains("substrings"), "{message}");
    let view = pipeline
        .services
        .policy_set(pipeline.integration_id)
        .await
        .unwrap();
    assert_eq!(view.draft, template("default").unwrap());

    let err = pipeline
        .services
        .draft_from_template(pipeline.integration_id, "everything")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("strict") && err.contains("data-protection"),
        "{err}"
    );
}

#[tokio::test]
async fn a_reevaluation_applies_the_newly_installed_version_to_stored_events_once() {
    let pipeline = ingested_day().await;
    let db = &pipeline.test.db;
    let before = violation::Entity::find().count(db).await.unwrap();
    let events = event::Entity::find().count(db).await.unwrap();
    assert!(events > 0);

    pipeline
        .services
        .draft_from_template(pipeline.integration_id, "strict")
        .await
        .unwrap();
    pipeline
        .services
        .install_policy_set(pipeline.integration_id, "test")
        .await
        .unwrap();
    let view = pipeline
        .services
        .start_reevaluation(pipeline.integration_id, day(), day() + TimeDelta::hours(12))
        .await
        .unwrap();
    assert_eq!(view.policy_set_version, Some(2));
    assert_eq!(view.batches_total, 12, "one batch per hour");
    pipeline.drain(day() + TimeDelta::hours(13)).await;

    let view = pipeline.services.backfill(view.id).await.unwrap();
    assert_eq!(view.status, BackfillStatus::Completed, "{view:?}");
    assert_eq!(view.batches_done, 12);
    let batches = job::Entity::find()
        .filter(job::Column::BackfillId.eq(view.id))
        .all(db)
        .await
        .unwrap();
    assert_eq!(batches.len(), 12);
    for row in &batches {
        assert_eq!(row.kind, JobKind::Reevaluate);
        assert_eq!(row.status, JobStatus::Succeeded, "{:?}", row.last_error);
        assert_eq!(row.policy_set_version, Some(2));
    }
    let counted: i64 = batches.iter().map(|row| row.events).sum();
    assert_eq!(
        counted as u64, events,
        "each event re-evaluated by one batch"
    );
    let on_v2 = event::Entity::find()
        .filter(event::Column::PolicySetVersion.eq(2))
        .count(db)
        .await
        .unwrap();
    assert_eq!(on_v2, events);
    let after = violation::Entity::find().count(db).await.unwrap();
    assert!(
        after > before,
        "strict finds more than the default set: {after} vs {before}"
    );

    // Running its batches again changes nothing.
    job::Entity::update_many()
        .col_expr(
            job::Column::Status,
            sea_orm::sea_query::Expr::value("enqueued"),
        )
        .filter(job::Column::BackfillId.eq(view.id))
        .exec(db)
        .await
        .unwrap();
    pipeline.drain(day() + TimeDelta::hours(13)).await;
    assert_eq!(violation::Entity::find().count(db).await.unwrap(), after);
    let duplicate = pipeline
        .services
        .start_reevaluation(pipeline.integration_id, day(), day() + TimeDelta::hours(12))
        .await
        .unwrap_err()
        .to_string();
    assert!(duplicate.contains("already recorded"), "{duplicate}");
}

/// Installs a set of one policy, PII, with `action`; returns the installed version.
async fn install_pii(pipeline: &Pipeline, action: Action) -> i32 {
    let config = PolicySetConfig {
        policies: vec![PolicyConfig::new(PolicyId::Pii, true, action)],
    };
    let services = &pipeline.services;
    services
        .set_draft(pipeline.integration_id, &config)
        .await
        .unwrap();
    services
        .install_policy_set(pipeline.integration_id, "test")
        .await
        .unwrap()
        .installed_version
        .unwrap()
}

#[tokio::test]
async fn a_reevaluation_under_pii_alert_turns_the_logged_violations_into_alerts_once() {
    let fake = FakeConfig {
        rate_limit: None,
        plant_rate: 0.5,
        ..FakeConfig::default()
    };
    // On PostgreSQL with the Redis transport, as a fleet runs it.
    let pipeline = Pipeline::start_with(
        TestDb::postgres().await,
        fake,
        day() + TimeDelta::days(1),
        |args| {
            args.redis_url = Some(Secret::new(redis_url()));
        },
    )
    .await;
    assert!(pipeline.scheduler.transport.redis().is_some());
    let db = &pipeline.test.db;
    let planted = pipeline.fake.manifest(day(), day() + TimeDelta::days(1));
    assert!(
        planted.planted.get("pii").is_some_and(|n| *n > 0),
        "{planted:?}"
    );
    let logged = install_pii(&pipeline, Action::Log).await;
    pipeline
        .services
        .start_backfill(NewBackfill {
            integration_id: pipeline.integration_id,
            from: day(),
            to: day() + TimeDelta::days(1),
            batch_width: None,
            created_by: "test".into(),
        })
        .await
        .unwrap();
    pipeline.drain(day() + TimeDelta::hours(25)).await;
    let pii = violation::Entity::find()
        .filter(violation::Column::Policy.eq("pii"))
        .all(db)
        .await
        .unwrap();
    assert!(!pii.is_empty(), "the fake's day holds planted PII");
    assert!(pii
        .iter()
        .all(|v| v.effective_action == "log" && v.policy_set_version == Some(logged)));
    assert_eq!(alert::Entity::find().count(db).await.unwrap(), 0);

    let alerting = install_pii(&pipeline, Action::Alert).await;
    for _ in 0..2 {
        // Twice: a second run (a redelivery, another job over the range) raises nothing more.
        let view = pipeline
            .services
            .start_reevaluation(pipeline.integration_id, day(), day() + TimeDelta::days(1))
            .await;
        if let Ok(view) = &view {
            assert_eq!(view.batches_total, 24, "one batch per hour");
        } else {
            // Already recorded for this version: run the recorded one again.
            job::Entity::update_many()
                .col_expr(
                    job::Column::Status,
                    sea_orm::sea_query::Expr::value("enqueued"),
                )
                .filter(job::Column::Kind.eq(JobKind::Reevaluate))
                .exec(db)
                .await
                .unwrap();
        }
        pipeline.drain(day() + TimeDelta::hours(25)).await;
        let batches = job::Entity::find()
            .filter(job::Column::Kind.eq(JobKind::Reevaluate))
            .filter(job::Column::Status.eq(JobStatus::Succeeded))
            .count(db)
            .await
            .unwrap();
        assert_eq!(batches, 24, "the day ran as 24 hourly batches");

        let after = violation::Entity::find()
            .filter(violation::Column::Policy.eq("pii"))
            .all(db)
            .await
            .unwrap();
        assert_eq!(after.len(), pii.len());
        for v in &after {
            assert_eq!(v.effective_action, "alert", "{v:?}");
            assert_eq!(v.policy_set_version, Some(alerting));
            let alerts = alert::Entity::find()
                .filter(alert::Column::ViolationId.eq(v.id))
                .count(db)
                .await
                .unwrap();
            assert_eq!(alerts, 1, "exactly one alert for {v:?}");
        }
        assert_eq!(
            alert::Entity::find().count(db).await.unwrap(),
            pii.len() as u64
        );
    }
}

/// Ingests six hours, then re-evaluates `[day, day + 3h)` and `[day, day + 6h)` with the same
/// version: both are recorded and run, each in its own hourly batches.
async fn two_reevaluations_with_different_range_ends_are_both_recorded_and_run(test: TestDb) {
    let fake = FakeConfig {
        rate_limit: None,
        ..FakeConfig::default()
    };
    let hours = |n| day() + TimeDelta::hours(n);
    let pipeline = Pipeline::start_with(test, fake, hours(6), |_| {}).await;
    let db = &pipeline.test.db;
    pipeline
        .services
        .start_backfill(NewBackfill {
            integration_id: pipeline.integration_id,
            from: day(),
            to: hours(6),
            batch_width: None,
            created_by: "test".into(),
        })
        .await
        .unwrap();
    pipeline.drain(hours(7)).await;
    let events = event::Entity::find().count(db).await.unwrap();
    assert!(events > 0);
    let version = install_pii(&pipeline, Action::Alert).await;

    let services = &pipeline.services;
    let short = services
        .start_reevaluation(pipeline.integration_id, day(), hours(3))
        .await
        .unwrap();
    let long = services
        .start_reevaluation(pipeline.integration_id, day(), hours(6))
        .await
        .unwrap();
    assert_ne!(short.id, long.id);
    assert_eq!((short.batches_total, long.batches_total), (3, 6));
    let again = services
        .start_reevaluation(pipeline.integration_id, day(), hours(6))
        .await
        .unwrap_err()
        .to_string();
    assert!(again.contains("already recorded"), "{again}");
    pipeline.drain(hours(7)).await;

    for (view, slices) in [(&short, 3), (&long, 6)] {
        let view = services.backfill(view.id).await.unwrap();
        assert_eq!(view.status, BackfillStatus::Completed, "{view:?}");
        assert_eq!(view.batches_done, slices);
        assert_eq!(view.policy_set_version, Some(version));
        let batches = job::Entity::find()
            .filter(job::Column::BackfillId.eq(view.id))
            .filter(job::Column::Kind.eq(JobKind::Reevaluate))
            .filter(job::Column::Status.eq(JobStatus::Succeeded))
            .count(db)
            .await
            .unwrap();
        assert_eq!(batches, slices as u64);
    }
    let on_version = event::Entity::find()
        .filter(event::Column::PolicySetVersion.eq(version))
        .count(db)
        .await
        .unwrap();
    assert_eq!(
        on_version, events,
        "every event of the six hours re-evaluated"
    );
}

crate::on_both_backends!(two_reevaluations_with_different_range_ends_are_both_recorded_and_run);
