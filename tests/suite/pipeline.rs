//! The ingestion pipeline end to end against the fake Compliance API over real HTTP and a
//! real PostgreSQL schema, stepped deterministically (scheduler tick, pump, worker step).

use chrono::{DateTime, TimeDelta, Utc};
use logwarden::service::backfills::NewBackfill;
use logwarden::service::jobs::JobQuery;
use logwarden_entities::{integration, job, session};
use logwarden_fake_api::{FakeConfig, FaultConfig};
use logwarden_jobs::kind::{BackfillStatus, JobKind, JobStatus};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::helpers::{day, Pipeline};

fn unlimited() -> FakeConfig {
    FakeConfig {
        rate_limit: None,
        ..FakeConfig::default()
    }
}

const LAG: TimeDelta = TimeDelta::minutes(2);

impl Pipeline {
    /// One live tick: the API has indexed everything up to `now − lag`, which is where the
    /// window ends.
    async fn live_tick(&self, api_now: DateTime<Utc>) -> usize {
        self.fake.set_now(api_now);
        let report = self.scheduler.tick(api_now + LAG).await.expect("tick");
        self.drain(api_now + LAG).await;
        report.created
    }

    pub(crate) async fn sync_jobs(&self) -> Vec<job::Model> {
        job::Entity::find()
            .filter(job::Column::Kind.eq(JobKind::Sync.as_str()))
            .all(&self.test.db)
            .await
            .unwrap()
    }

    pub(crate) async fn watermark(&self) -> Option<DateTime<Utc>> {
        integration::Entity::find_by_id(self.integration_id)
            .one(&self.test.db)
            .await
            .unwrap()
            .unwrap()
            .sync_watermark
    }

    /// Asserts stored counts equal the fake's manifest of `[from, to)`.
    pub(crate) async fn assert_matches_manifest(&self, from: DateTime<Utc>, to: DateTime<Utc>) {
        let manifest = self.fake.manifest(from, to);
        assert!(manifest.prompt_events > 0, "the window must hold data");
        assert_eq!(
            self.count("events").await as u64,
            manifest.prompt_events,
            "prompt events"
        );
        assert_eq!(
            self.count("access_events").await as u64,
            manifest.activities,
            "activities"
        );
        assert_eq!(self.count("sessions").await as u64, manifest.chats, "chats");
        let messages: i64 = session::Entity::find()
            .all(&self.test.db)
            .await
            .unwrap()
            .iter()
            .map(|s| s.message_count)
            .sum();
        assert_eq!(messages as u64, manifest.messages, "messages");
    }
}

#[tokio::test]
async fn a_sync_tick_stores_its_window_and_advances_the_watermark() {
    let start = day() + TimeDelta::hours(12);
    let pipeline = Pipeline::start(unlimited(), start).await;

    let created = pipeline.live_tick(start + TimeDelta::minutes(30)).await;

    assert_eq!(created, 1);
    let jobs = pipeline.sync_jobs().await;
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.last_error);
    assert_eq!(
        job.window_start,
        start - TimeDelta::minutes(2),
        "overlap before the watermark"
    );
    assert_eq!(job.window_end, start + TimeDelta::minutes(30));
    assert_eq!(pipeline.watermark().await, Some(job.window_end));
    assert!(job.requests > 0 && job.final_request_id.is_some() && job.content_hash.is_some());
    assert_eq!(job.events, pipeline.count("events").await);
    pipeline
        .assert_matches_manifest(job.window_start, job.window_end)
        .await;
}

#[tokio::test]
async fn a_backfilled_day_and_live_ticks_store_exactly_the_manifest() {
    let live_from = day() + TimeDelta::hours(12);
    let pipeline = Pipeline::start(unlimited(), live_from).await;
    let backfill = pipeline
        .services
        .start_backfill(NewBackfill {
            integration_id: pipeline.integration_id,
            from: day(),
            to: live_from,
            batch_width: None,
            created_by: "test".into(),
        })
        .await
        .unwrap();
    assert_eq!(backfill.batches_total, 12);

    pipeline.drain(live_from + LAG).await;
    let mut api_now = live_from;
    for _ in 0..3 {
        api_now += TimeDelta::minutes(5);
        assert_eq!(pipeline.live_tick(api_now).await, 1);
    }

    let backfill = pipeline.services.backfill(backfill.id).await.unwrap();
    assert_eq!(backfill.status, BackfillStatus::Completed);
    assert_eq!(backfill.batches_done, 12);
    assert_eq!(backfill.synced_up_to, Some(live_from));
    assert_eq!(pipeline.watermark().await, Some(api_now));
    pipeline.assert_matches_manifest(day(), api_now).await;
}

#[tokio::test]
async fn running_every_job_twice_stores_nothing_twice() {
    let start = day() + TimeDelta::hours(9);
    let pipeline = Pipeline::start(unlimited(), start).await;
    pipeline.live_tick(start + TimeDelta::hours(1)).await;
    let events = pipeline.count("events").await;
    let access = pipeline.count("access_events").await;

    // Redeliver the succeeded job as if the queue had delivered it twice, and re-run its
    // window as a fresh job.
    let job = pipeline.sync_jobs().await.remove(0);
    let outcome = pipeline
        .worker
        .process(logwarden::roles::scheduler::payload(&job))
        .await;
    assert_eq!(outcome, logwarden::roles::worker::Outcome::Skipped);
    pipeline.services.retry_job(job.id).await.unwrap_err();
    job::Entity::update_many()
        .col_expr(
            job::Column::Status,
            sea_orm::sea_query::Expr::value("enqueued"),
        )
        .filter(job::Column::Id.eq(job.id))
        .exec(&pipeline.test.db)
        .await
        .unwrap();
    pipeline.drain(start + TimeDelta::hours(1) + LAG).await;

    assert!(events > 0);
    assert_eq!(pipeline.count("events").await, events);
    assert_eq!(pipeline.count("access_events").await, access);
}

#[tokio::test]
async fn two_scheduler_replicas_for_three_ticks_create_exactly_three_sync_jobs() {
    let start = day() + TimeDelta::hours(10);
    let pipeline = Pipeline::start(unlimited(), start).await;
    three_ticks_of_two_replicas(&pipeline, start).await;
}

#[tokio::test]
async fn two_scheduler_replicas_on_redis_for_three_ticks_create_exactly_three_sync_jobs() {
    let start = day() + TimeDelta::hours(10);
    let test = crate::helpers::TestDb::postgres().await;
    let pipeline = Pipeline::start_with(test, unlimited(), start, |args| {
        args.redis_url = Some(logwarden::infra::secret::Secret::new(
            crate::helpers::redis_url(),
        ));
    })
    .await;
    assert!(pipeline.scheduler.transport.redis().is_some());
    three_ticks_of_two_replicas(&pipeline, start).await;
}

async fn three_ticks_of_two_replicas(pipeline: &Pipeline, start: DateTime<Utc>) {
    let replica = logwarden::roles::scheduler::Scheduler::new(
        pipeline.services.clone(),
        pipeline.scheduler.transport.clone(),
    );

    let mut api_now = start;
    for _ in 0..3 {
        api_now += TimeDelta::minutes(5);
        pipeline.fake.set_now(api_now);
        let (a, b) = tokio::join!(
            pipeline.scheduler.tick(api_now + LAG),
            replica.tick(api_now + LAG)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.created + b.created, 1, "one replica records the window");
        assert_eq!(a.already_recorded + b.already_recorded, 1);
        pipeline.drain(api_now + LAG).await;
    }

    let jobs = pipeline.sync_jobs().await;
    assert_eq!(jobs.len(), 3);
    assert!(jobs.iter().all(|j| j.status == JobStatus::Succeeded));
}

#[tokio::test]
async fn a_revoked_key_fails_the_job_at_once_and_the_integration_shows_the_error() {
    let start = day() + TimeDelta::hours(10);
    let pipeline = Pipeline::start(unlimited(), start).await;
    let revoked =
        pipeline
            .services
            .master_key()
            .unwrap()
            .encrypt(&logwarden::infra::secret::Secret::new(
                "sk-ant-api01-revoked-key-0042",
            ));
    integration::Entity::update_many()
        .col_expr(
            integration::Column::ApiKeyCiphertext,
            sea_orm::sea_query::Expr::value(revoked),
        )
        .exec(&pipeline.test.db)
        .await
        .unwrap();

    pipeline.live_tick(start + TimeDelta::minutes(10)).await;

    let job = pipeline.sync_jobs().await.remove(0);
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.attempt, 1, "a permanent error is not retried");
    assert_eq!(
        job.last_error_class.as_deref(),
        Some("authentication_error")
    );
    let view = pipeline
        .services
        .integration(pipeline.integration_id)
        .await
        .unwrap();
    assert_eq!(
        view.last_error_class.as_deref(),
        Some("authentication_error")
    );
    let message = view.last_error.unwrap_or_default();
    assert!(message.contains("authentication_error"), "{message}");
    assert!(
        !message.contains("revoked-key-0042"),
        "the key never appears in errors"
    );
    assert_eq!(
        pipeline.watermark().await,
        Some(start),
        "the watermark did not move"
    );
}

#[tokio::test]
async fn pause_stops_new_sync_jobs_and_resume_catches_up_from_the_watermark() {
    let start = day() + TimeDelta::hours(10);
    let pipeline = Pipeline::start(unlimited(), start).await;
    let first_end = start + TimeDelta::minutes(5);
    assert_eq!(pipeline.live_tick(first_end).await, 1);

    pipeline
        .services
        .pause_integration(pipeline.integration_id)
        .await
        .unwrap();
    assert_eq!(pipeline.live_tick(start + TimeDelta::minutes(10)).await, 0);
    assert_eq!(pipeline.live_tick(start + TimeDelta::minutes(15)).await, 0);

    pipeline
        .services
        .resume_integration(pipeline.integration_id)
        .await
        .unwrap();
    assert_eq!(pipeline.live_tick(start + TimeDelta::minutes(20)).await, 1);

    let mut jobs = pipeline.sync_jobs().await;
    jobs.sort_by_key(|j| j.window_start);
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[1].window_start, first_end - TimeDelta::minutes(2));
    assert_eq!(jobs[1].window_end, start + TimeDelta::minutes(20));
    assert_eq!(
        pipeline.watermark().await,
        Some(start + TimeDelta::minutes(20))
    );
}

#[tokio::test]
async fn server_errors_and_a_429_storm_are_retried_until_the_job_succeeds() {
    let start = day() + TimeDelta::hours(10);
    let pipeline = Pipeline::start(unlimited(), start).await;
    let faults: FaultConfig = serde_json::from_value(serde_json::json!({
        "seed": 3,
        "rate_limit": {"trigger": {"next": 3}, "retry_after_secs": 0},
        "server_error": {"trigger": {"next": 2}, "status": 529}
    }))
    .unwrap();
    pipeline.fake.set_faults(faults).unwrap();

    pipeline.live_tick(start + TimeDelta::minutes(15)).await;

    let job = pipeline.sync_jobs().await.remove(0);
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.last_error);
    let stats = pipeline.fake.stats();
    assert!(
        format!("{stats:?}").contains("429"),
        "the storm happened: {stats:?}"
    );
    pipeline
        .assert_matches_manifest(job.window_start, job.window_end)
        .await;
}

#[tokio::test]
async fn a_500_marked_do_not_retry_fails_the_job_and_an_operator_retry_succeeds() {
    let start = day() + TimeDelta::hours(10);
    let pipeline = Pipeline::start(unlimited(), start).await;
    let faults: FaultConfig = serde_json::from_value(serde_json::json!({
        "server_error": {"trigger": {"next": 1}, "status": 500, "should_retry": false}
    }))
    .unwrap();
    pipeline.fake.set_faults(faults).unwrap();

    pipeline.live_tick(start + TimeDelta::minutes(15)).await;
    let job = pipeline.sync_jobs().await.remove(0);
    assert_eq!(
        job.status,
        JobStatus::Failed,
        "x-should-retry: false is not retried"
    );
    assert_eq!(job.attempt, 1);
    assert_eq!(job.last_error_class.as_deref(), Some("api_error"));

    let retried = pipeline.services.retry_job(job.id).await.unwrap();
    assert_eq!(retried.status, JobStatus::Pending);
    pipeline.drain(start + TimeDelta::minutes(15) + LAG).await;
    let job = pipeline.sync_jobs().await.remove(0);
    assert_eq!(job.status, JobStatus::Succeeded);
    assert_eq!(job.attempt, 2);
    let succeeded = pipeline
        .services
        .list_jobs(JobQuery {
            status: Some(JobStatus::Succeeded),
            kind: Some(JobKind::Sync),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(succeeded.items.len(), 1);
}

#[tokio::test]
async fn ingested_events_carry_the_planted_violations_of_the_manifest_and_alerts_group_into_issues_counted_on_their_jobs(
) {
    let pipeline = Pipeline::start(unlimited(), day() + TimeDelta::days(1)).await;
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
    pipeline.drain(day() + TimeDelta::days(1) + LAG).await;

    let manifest = pipeline.fake.manifest(day(), day() + TimeDelta::days(1));
    let violations = logwarden_entities::violation::Entity::find()
        .filter(logwarden_entities::violation::Column::Direction.eq("input"))
        .all(&pipeline.test.db)
        .await
        .unwrap();
    let mut planted_total = 0;
    for (policy, planted) in &manifest.planted {
        // The learned classifier (rule `classifier`) scores any attack, so prompt_injection,
        // jailbreak and leakage all report it; the manifest counts rule hits.
        let events: std::collections::HashSet<_> = violations
            .iter()
            .filter(|v| &v.policy == policy && v.rule != "classifier")
            .map(|v| v.event_id)
            .collect();
        let allowed = (*planted as f64 * manifest.tolerance).ceil() as usize;
        assert!(
            events.len().abs_diff(*planted as usize) <= allowed,
            "{policy}: {} events flagged, {planted} planted (tolerance {})",
            events.len(),
            manifest.tolerance
        );
        planted_total += planted;
    }
    assert!(planted_total > 0, "the day has planted hits");

    // Every violation of an alerting policy raised one alert, and every alert sits in an
    // issue of the same user and policy.
    let alerts = pipeline.count("alerts").await;
    assert!(alerts > 0);
    let orphan_alerts = logwarden_entities::alert::Entity::find()
        .filter(logwarden_entities::alert::Column::IssueId.is_null())
        .all(&pipeline.test.db)
        .await
        .unwrap();
    assert!(orphan_alerts.is_empty());
    let issues = logwarden_entities::issue::Entity::find()
        .all(&pipeline.test.db)
        .await
        .unwrap();
    let grouped: i64 = issues.iter().map(|i| i.alert_count).sum();
    assert_eq!(grouped, alerts);
    let job = job::Entity::find()
        .filter(job::Column::Kind.eq("backfill_batch"))
        .all(&pipeline.test.db)
        .await
        .unwrap();
    assert!(job.iter().all(|j| j.policy_set_version == Some(1)));
    // The jobs' alert counters add up to the alerts they raised.
    let counted: i64 = job.iter().map(|j| j.alerts).sum();
    assert_eq!(counted, alerts, "the alerts counter of the batches");
}
