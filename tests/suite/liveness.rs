//! Syncing never silently stops: every tick with new time to cover records a job that moves
//! the watermark, whatever the schedule and however the replicas' clocks differ. Each test runs
//! on PostgreSQL with Redis and on SQLite with the in-process queue, stepped deterministically
//! (the fake's clock, scheduler ticks and pump passes, worker steps).

use chrono::{DateTime, TimeDelta, Utc};
use logwarden::config::SettingsArgs;
use logwarden::infra::secret::Secret;
use logwarden::roles::scheduler::Scheduler;
use logwarden_fake_api::{FakeConfig, FaultConfig};
use logwarden_jobs::kind::JobStatus;

use crate::helpers::{day, redis_url, Pipeline, TestDb};

/// The two ways the pipeline runs.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    /// The fleet: PostgreSQL and Redis.
    PostgresRedis,
    /// The embedded default: SQLite and the in-process queue.
    SqliteInProcess,
}

/// Declares each named `async fn(Backend)` as two tests, `<name>::on_postgres_and_redis` and
/// `<name>::on_sqlite_in_process`.
macro_rules! on_both_paths {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn on_postgres_and_redis() {
                super::$name(super::Backend::PostgresRedis).await
            }

            #[tokio::test(flavor = "multi_thread")]
            async fn on_sqlite_in_process() {
                super::$name(super::Backend::SqliteInProcess).await
            }
        }
    )+};
}

/// An organisation busy enough that a few minutes of activity hold chats, with no rate limit.
pub fn busy_org() -> FakeConfig {
    FakeConfig {
        users: 60,
        chats_per_user_per_day: 10,
        days: 9,
        rate_limit: None,
        ..FakeConfig::default()
    }
}

/// What `logwarden demo` sets over the defaults: a tick every 30 seconds, a 1-minute lag.
fn demo_settings(args: &mut SettingsArgs) {
    args.sync_schedule = Some("*/30 * * * * *".to_owned());
    args.sync_lag = Some("1m".to_owned());
}

/// The default lag, with the default 5-minute schedule.
const LAG: TimeDelta = TimeDelta::minutes(2);
const DEMO_LAG: TimeDelta = TimeDelta::minutes(1);
const DEMO_TICK: TimeDelta = TimeDelta::seconds(30);

/// The pipeline on `backend`, its integration syncing from `sync_from`.
pub async fn pipeline_on(
    backend: Backend,
    fake: FakeConfig,
    sync_from: DateTime<Utc>,
    tweak: impl FnOnce(&mut SettingsArgs),
) -> Pipeline {
    match backend {
        Backend::PostgresRedis => {
            Pipeline::start_with(TestDb::postgres().await, fake, sync_from, |args| {
                args.redis_url = Some(Secret::new(redis_url()));
                tweak(args);
            })
            .await
        }
        Backend::SqliteInProcess => {
            Pipeline::start_with(TestDb::sqlite().await, fake, sync_from, tweak).await
        }
    }
}

/// Every request fails at once instead of being retried in place: the job's own retries
/// (milliseconds in tests) do the waiting.
fn no_request_retries(args: &mut SettingsArgs) {
    args.api_request_tries = Some("1".to_owned());
}

impl Pipeline {
    /// Runs every job until nothing can run, its retries included. The worker times its
    /// retries by the real clock (milliseconds away in tests) while the pump runs on the
    /// fake's: each round declares the waiting retries due, as their delays would have passed.
    async fn drain_with_retries(&self, now: DateTime<Utc>) -> usize {
        use logwarden_entities::job;
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        let mut processed = 0;
        for _ in 0..1_000 {
            job::Entity::update_many()
                .col_expr(
                    job::Column::NextAttemptAt,
                    sea_orm::sea_query::Expr::value(Some(now)),
                )
                .filter(job::Column::Status.eq(JobStatus::Pending))
                .filter(job::Column::NextAttemptAt.is_not_null())
                .exec(&self.test.db)
                .await
                .expect("retries due");
            let ran = self.drain(now).await;
            if ran == 0 {
                return processed;
            }
            processed += ran;
        }
        panic!("retries kept coming after 1,000 rounds");
    }

    /// One tick of the default schedule at the fake's `api_now`, then every job it makes
    /// run to its end; returns how many jobs the tick created.
    async fn tick_and_run(&self, api_now: DateTime<Utc>) -> usize {
        self.fake.set_now(api_now);
        let report = self.scheduler.tick(api_now + LAG).await.expect("tick");
        self.drain_with_retries(api_now + LAG).await;
        report.created
    }
}

on_both_paths!(
    the_demo_s_settings_ticking_twenty_times_create_twenty_jobs_that_each_move_the_watermark,
    two_schedulers_whose_clocks_differ_by_seconds_record_one_job_per_tick_and_never_a_zero_progress_one,
    twenty_minutes_of_503s_then_a_healthy_upstream_and_the_next_ticks_succeed_with_every_event_stored,
    a_canceled_sync_job_does_not_block_the_next_tick,
    an_operator_retry_of_a_failed_sync_job_runs_it_again_and_the_ticks_go_on,
);

async fn the_demo_s_settings_ticking_twenty_times_create_twenty_jobs_that_each_move_the_watermark(
    backend: Backend,
) {
    let start = day() + TimeDelta::hours(14);
    let pipeline = pipeline_on(backend, busy_org(), start, demo_settings).await;

    let mut now = start + DEMO_LAG;
    for tick in 1..=20 {
        now += DEMO_TICK;
        pipeline.fake.set_now(now);
        let report = pipeline.scheduler.tick(now).await.expect("tick");
        pipeline.drain(now).await;

        assert_eq!(report.created, 1, "tick {tick} at {now} has 30 s to cover");
        assert_eq!(
            pipeline.watermark().await,
            Some(now - DEMO_LAG),
            "tick {tick}"
        );
    }

    let jobs = pipeline.sync_jobs().await;
    assert_eq!(jobs.len(), 20);
    for job in &jobs {
        assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.last_error);
    }
    pipeline
        .assert_matches_manifest(start - TimeDelta::minutes(2), now - DEMO_LAG)
        .await;
}

async fn two_schedulers_whose_clocks_differ_by_seconds_record_one_job_per_tick_and_never_a_zero_progress_one(
    backend: Backend,
) {
    let start = day() + TimeDelta::hours(14);
    let pipeline = pipeline_on(backend, busy_org(), start, demo_settings).await;
    let replica = Scheduler::new(
        pipeline.services.clone(),
        pipeline.scheduler.transport.clone(),
    );
    let skew = TimeDelta::seconds(7);

    let mut now = start + DEMO_LAG;
    let mut watermark = start;
    for tick in 1..=20 {
        now += DEMO_TICK;
        pipeline.fake.set_now(now + skew);
        let (a, b) = tokio::join!(pipeline.scheduler.tick(now), replica.tick(now + skew));
        let (a, b) = (a.expect("tick"), b.expect("replica tick"));
        pipeline.drain(now + skew).await;

        assert_eq!(
            a.created + b.created,
            1,
            "tick {tick}: one job between them"
        );
        let moved = pipeline.watermark().await.expect("a watermark");
        assert!(
            moved > watermark,
            "tick {tick}: the job moved the watermark past {watermark} (now {moved})"
        );
        watermark = moved;
    }

    let jobs = pipeline.sync_jobs().await;
    assert_eq!(jobs.len(), 20);
    assert!(jobs.iter().all(|job| job.status == JobStatus::Succeeded));
}

async fn twenty_minutes_of_503s_then_a_healthy_upstream_and_the_next_ticks_succeed_with_every_event_stored(
    backend: Backend,
) {
    let start = day() + TimeDelta::hours(14);
    let pipeline = pipeline_on(backend, busy_org(), start, no_request_retries).await;
    let outage_end = start + TimeDelta::minutes(20);
    let faults: FaultConfig = serde_json::from_value(serde_json::json!({
        "server_error": {"trigger": {"until": outage_end}, "status": 503}
    }))
    .unwrap();
    pipeline.fake.set_faults(faults).unwrap();

    let mut api_now = start;
    while api_now < start + TimeDelta::minutes(35) {
        api_now += TimeDelta::minutes(5);
        let created = pipeline.tick_and_run(api_now).await;
        assert_eq!(created, 1, "the tick at {api_now} records a job");
    }

    let jobs = pipeline.sync_jobs().await;
    assert_eq!(jobs.len(), 7);
    for job in &jobs {
        // The tick at the API's time T ran its job with the API at T.
        let ran_at = job.window_end;
        if ran_at < outage_end {
            assert_eq!(job.status, JobStatus::Failed, "job of {ran_at}");
            assert_eq!(job.attempt, job.max_attempts, "job of {ran_at}");
        } else {
            assert_eq!(
                job.status,
                JobStatus::Succeeded,
                "job of {ran_at}: {:?}",
                job.last_error
            );
        }
    }
    assert_eq!(pipeline.watermark().await, Some(api_now));
    pipeline
        .assert_matches_manifest(start - TimeDelta::minutes(2), api_now)
        .await;
}

async fn a_canceled_sync_job_does_not_block_the_next_tick(backend: Backend) {
    let start = day() + TimeDelta::hours(14);
    let pipeline = pipeline_on(backend, busy_org(), start, |_| {}).await;
    let first = start + TimeDelta::minutes(5);
    pipeline.fake.set_now(first);
    assert_eq!(
        pipeline.scheduler.tick(first + LAG).await.unwrap().created,
        1
    );
    let queued = pipeline.sync_jobs().await.remove(0);
    let canceled = pipeline.services.cancel_job(queued.id).await.unwrap();
    assert_eq!(canceled.status, JobStatus::Canceled);
    pipeline.drain_with_retries(first + LAG).await;

    let created = pipeline.tick_and_run(start + TimeDelta::minutes(10)).await;

    assert_eq!(created, 1);
    let mut jobs = pipeline.sync_jobs().await;
    jobs.sort_by_key(|job| job.id);
    assert_eq!(jobs[0].status, JobStatus::Canceled);
    assert_eq!(
        jobs[1].status,
        JobStatus::Succeeded,
        "{:?}",
        jobs[1].last_error
    );
    assert_eq!(
        jobs[1].window_start,
        start - TimeDelta::minutes(2),
        "from the watermark"
    );
    assert_eq!(
        pipeline.watermark().await,
        Some(start + TimeDelta::minutes(10))
    );
}

async fn an_operator_retry_of_a_failed_sync_job_runs_it_again_and_the_ticks_go_on(
    backend: Backend,
) {
    let start = day() + TimeDelta::hours(14);
    let pipeline = pipeline_on(backend, busy_org(), start, |_| {}).await;
    let faults: FaultConfig = serde_json::from_value(serde_json::json!({
        "server_error": {"trigger": {"next": 1}, "status": 500, "should_retry": false}
    }))
    .unwrap();
    pipeline.fake.set_faults(faults).unwrap();
    assert_eq!(
        pipeline.tick_and_run(start + TimeDelta::minutes(5)).await,
        1
    );
    let failed = pipeline.sync_jobs().await.remove(0);
    assert_eq!(failed.status, JobStatus::Failed);

    let retried = pipeline.services.retry_job(failed.id).await.unwrap();
    assert_eq!(retried.status, JobStatus::Pending);
    // The retried job is in line: the tick leaves the integration to it.
    assert_eq!(
        pipeline.tick_and_run(start + TimeDelta::minutes(10)).await,
        0
    );
    assert_eq!(
        pipeline.tick_and_run(start + TimeDelta::minutes(15)).await,
        1
    );

    let mut jobs = pipeline.sync_jobs().await;
    jobs.sort_by_key(|job| job.id);
    assert_eq!(jobs.len(), 2);
    assert!(jobs.iter().all(|job| job.status == JobStatus::Succeeded));
    assert_eq!(jobs[0].attempt, 2);
    assert_eq!(
        jobs[1].window_start,
        jobs[0].window_end - TimeDelta::minutes(2)
    );
    assert_eq!(
        pipeline.watermark().await,
        Some(start + TimeDelta::minutes(15))
    );
    // A finished job stays as it is, and the refusal says which jobs can be canceled.
    let error = pipeline.services.cancel_job(jobs[0].id).await.unwrap_err();
    assert!(error.to_string().contains("only"), "{error}");
}

on_both_paths!(a_tick_s_row_carries_its_enqueue_time_and_repair_finds_an_enqueued_row_without_one);

async fn a_tick_s_row_carries_its_enqueue_time_and_repair_finds_an_enqueued_row_without_one(
    backend: Backend,
) {
    use logwarden_entities::job;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    let start = day() + TimeDelta::hours(14);
    let pipeline = pipeline_on(backend, busy_org(), start, |_| {}).await;
    let tick_at = start + TimeDelta::minutes(5) + LAG;
    pipeline.fake.set_now(start + TimeDelta::minutes(5));
    assert_eq!(pipeline.scheduler.tick(tick_at).await.unwrap().created, 1);
    let row = pipeline.sync_jobs().await.remove(0);
    assert_eq!(row.status, JobStatus::Enqueued);
    assert_eq!(row.enqueued_at, Some(tick_at), "set by the insert itself");

    // A row left enqueued without its time, and never pushed: the transport has lost it.
    let transport = &pipeline.scheduler.transport;
    let worker = &pipeline.worker;
    assert_eq!(
        worker
            .process(logwarden::roles::scheduler::payload(&row))
            .await,
        logwarden::roles::worker::Outcome::Succeeded
    );
    let orphan = crate::helpers::seed_job(
        &pipeline.test.db,
        pipeline.integration_id,
        logwarden_jobs::kind::JobKind::Sync,
        start,
        JobStatus::Enqueued,
        tick_at,
    )
    .await;
    job::Entity::update_many()
        .col_expr(
            job::Column::EnqueuedAt,
            sea_orm::sea_query::Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(job::Column::Id.eq(orphan.id))
        .exec(&pipeline.test.db)
        .await
        .unwrap();
    assert!(transport.queued(&[orphan.id]).await.unwrap().is_empty());

    let report = pipeline.scheduler.pump(tick_at).await.unwrap();

    assert_eq!(report.repushed_lost, 1);
    assert!(transport
        .queued(&[orphan.id])
        .await
        .unwrap()
        .contains(&orphan.id));
    pipeline.drain(tick_at).await;
    let orphan = job::Entity::find_by_id(orphan.id)
        .one(&pipeline.test.db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        orphan.status,
        JobStatus::Succeeded,
        "{:?}",
        orphan.last_error
    );
}

on_both_paths!(
    a_sync_that_fails_shows_failing_with_its_error_while_backfill_batches_succeed,
    an_active_integration_without_a_successful_sync_for_three_periods_is_lagging,
);

async fn a_sync_that_fails_shows_failing_with_its_error_while_backfill_batches_succeed(
    backend: Backend,
) {
    use logwarden::service::views::Health;
    use logwarden_jobs::kind::JobKind;

    let start = day() + TimeDelta::hours(14);
    let pipeline = pipeline_on(backend, busy_org(), start, |_| {}).await;
    let faults: FaultConfig = serde_json::from_value(serde_json::json!({
        "server_error": {"trigger": {"next": 1}, "status": 500, "should_retry": false}
    }))
    .unwrap();
    pipeline.fake.set_faults(faults).unwrap();
    assert_eq!(
        pipeline.tick_and_run(start + TimeDelta::minutes(5)).await,
        1
    );
    pipeline
        .services
        .start_backfill(logwarden::service::backfills::NewBackfill {
            integration_id: pipeline.integration_id,
            from: start - TimeDelta::hours(3),
            to: start,
            batch_width: None,
            created_by: "test".into(),
        })
        .await
        .unwrap();
    pipeline
        .drain_with_retries(start + TimeDelta::minutes(5) + LAG)
        .await;

    let view = pipeline
        .services
        .integration(pipeline.integration_id)
        .await
        .unwrap();
    assert_eq!(view.health, Health::Failing);
    assert_eq!(view.sync_failures, 1);
    assert_eq!(view.last_sync_succeeded_at, None);
    assert_eq!(
        view.last_error_class.as_deref(),
        Some("api_error"),
        "not cleared by batches"
    );
    let kinds: Vec<_> = view
        .last_errors
        .iter()
        .map(|e| (e.kind, e.class.as_str()))
        .collect();
    assert_eq!(kinds, [(JobKind::Sync, "api_error")]);
    let listed = pipeline
        .services
        .list_integrations(Default::default())
        .await
        .unwrap();
    assert_eq!(listed.items[0].health, Health::Failing);

    assert_eq!(
        pipeline.tick_and_run(start + TimeDelta::minutes(10)).await,
        1
    );

    let view = pipeline
        .services
        .integration(pipeline.integration_id)
        .await
        .unwrap();
    assert_eq!(view.health, Health::Healthy);
    assert_eq!(view.sync_failures, 0);
    assert!(view.last_sync_succeeded_at.is_some());
    assert!(view.last_errors.is_empty(), "{:?}", view.last_errors);
    assert_eq!(view.last_error, None);
}

async fn an_active_integration_without_a_successful_sync_for_three_periods_is_lagging(
    backend: Backend,
) {
    use logwarden::service::views::Health;
    use logwarden_entities::integration;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

    let start = day() + TimeDelta::hours(14);
    let pipeline = pipeline_on(backend, busy_org(), start, |_| {}).await;
    assert_eq!(
        pipeline.tick_and_run(start + TimeDelta::minutes(5)).await,
        1
    );
    let view = pipeline
        .services
        .integration(pipeline.integration_id)
        .await
        .unwrap();
    assert_eq!(view.health, Health::Healthy);

    // Its last success three periods (of 5 minutes) and a second ago.
    let long_ago = Utc::now() - TimeDelta::minutes(15) - TimeDelta::seconds(1);
    integration::Entity::update_many()
        .col_expr(
            integration::Column::LastSyncSucceededAt,
            sea_orm::sea_query::Expr::value(Some(long_ago)),
        )
        .filter(integration::Column::Id.eq(pipeline.integration_id))
        .exec(&pipeline.test.db)
        .await
        .unwrap();

    let view = pipeline
        .services
        .integration(pipeline.integration_id)
        .await
        .unwrap();
    assert_eq!(view.health, Health::Lagging);
    let paused = pipeline
        .services
        .pause_integration(pipeline.integration_id)
        .await
        .unwrap();
    assert_eq!(
        paused.health,
        Health::Healthy,
        "a paused integration is not expected to sync"
    );
}

on_both_paths!(a_truncated_and_a_non_json_body_are_retried_and_their_sync_jobs_succeed);

async fn a_truncated_and_a_non_json_body_are_retried_and_their_sync_jobs_succeed(backend: Backend) {
    use logwarden_entities::job_attempt;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

    let start = day() + TimeDelta::hours(14);
    let pipeline = pipeline_on(backend, busy_org(), start, |_| {}).await;
    let mut api_now = start;
    for kind in ["truncated", "malformed"] {
        // More damaged bodies in a row than one request retries in place: the attempt fails.
        let faults: FaultConfig = serde_json::from_value(serde_json::json!({
            "body": {"trigger": {"next": 3}, "kind": kind}
        }))
        .unwrap();
        pipeline.fake.set_faults(faults).unwrap();
        api_now += TimeDelta::minutes(5);
        assert_eq!(pipeline.tick_and_run(api_now).await, 1);
    }

    let mut jobs = pipeline.sync_jobs().await;
    jobs.sort_by_key(|job| job.id);
    for job in &jobs {
        assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.last_error);
        assert_eq!(job.attempt, 2, "one retry");
        let attempts = job_attempt::Entity::find()
            .filter(job_attempt::Column::JobId.eq(job.id))
            .order_by_asc(job_attempt::Column::Attempt)
            .all(&pipeline.test.db)
            .await
            .unwrap();
        assert_eq!(attempts[0].error_class.as_deref(), Some("transport_error"));
    }
    pipeline
        .assert_matches_manifest(start - TimeDelta::minutes(2), api_now)
        .await;
}

on_both_paths!(a_six_hour_gap_is_caught_up_as_consecutive_one_hour_windows_oldest_first);

async fn a_six_hour_gap_is_caught_up_as_consecutive_one_hour_windows_oldest_first(
    backend: Backend,
) {
    let start = day() + TimeDelta::hours(9);
    let pipeline = pipeline_on(backend, busy_org(), start, |_| {}).await;
    let api_now = start + TimeDelta::hours(6);
    pipeline.fake.set_now(api_now);

    // One tick; the pump passes of the drain record the rest of the backlog.
    assert_eq!(
        pipeline
            .scheduler
            .tick(api_now + LAG)
            .await
            .unwrap()
            .created,
        1
    );
    pipeline.drain(api_now + LAG).await;

    let mut jobs = pipeline.sync_jobs().await;
    jobs.sort_by_key(|job| job.id);
    let attempts = attempts(&pipeline).await;
    assert_eq!(
        jobs.len(),
        6,
        "one job per hour of the gap: {jobs:?} {attempts:?}"
    );
    let mut watermark = start;
    for job in &jobs {
        assert_eq!(job.status, JobStatus::Succeeded, "{job:?} {attempts:?}");
        assert_eq!(
            job.window_start,
            watermark - TimeDelta::minutes(2),
            "oldest first"
        );
        assert_eq!(
            job.window_end,
            watermark + TimeDelta::hours(1),
            "capped at an hour"
        );
        watermark = job.window_end;
    }
    assert_eq!(pipeline.watermark().await, Some(api_now));
    pipeline
        .assert_matches_manifest(start - TimeDelta::minutes(2), api_now)
        .await;
}

on_both_paths!(
    a_six_hour_gap_under_a_limit_of_60_requests_a_minute_and_30_second_attempts_is_caught_up_with_every_event_stored,
    an_attempt_cut_short_by_its_timeout_continues_from_its_checkpoint_without_fetching_stored_chats_again,
    a_chat_whose_messages_return_404_is_skipped_listed_in_the_job_detail_and_the_rest_is_stored,
);

/// The attempts at every job of the pipeline, oldest first.
async fn attempts(pipeline: &Pipeline) -> Vec<logwarden_entities::job_attempt::Model> {
    use logwarden_entities::job_attempt;
    use sea_orm::{EntityTrait, QueryOrder};
    job_attempt::Entity::find()
        .order_by_asc(job_attempt::Column::Id)
        .all(&pipeline.test.db)
        .await
        .unwrap()
}

async fn a_six_hour_gap_under_a_limit_of_60_requests_a_minute_and_30_second_attempts_is_caught_up_with_every_event_stored(
    backend: Backend,
) {
    let start = day() + TimeDelta::hours(9);
    // About 60 chats in six hours: together with the listings, more requests than one
    // minute's budget, so the catch-up has to wait for the limit mid-way.
    let org = FakeConfig {
        users: 22,
        chats_per_user_per_day: 10,
        days: 9,
        rate_limit: Some(60),
        ..FakeConfig::default()
    };
    let pipeline = pipeline_on(backend, org, start, |args| {
        args.job_timeout = Some("30s".to_owned());
        // A job must outlive one heartbeat (orphan_timeout / 4).
        args.orphan_timeout = Some("60s".to_owned());
        // The test is about resuming, not about running out of attempts: on a loaded machine
        // the budget's waits can cut more attempts short than the default allows.
        args.job_max_attempts = Some("30".to_owned());
    })
    .await;
    let api_now = start + TimeDelta::hours(6);
    pipeline.fake.set_now(api_now);
    let manifest = pipeline
        .fake
        .manifest(start - TimeDelta::minutes(2), api_now);
    assert!(
        manifest.chats + 12 > 60 && manifest.chats < 120,
        "the gap needs more than a minute's budget, and not many more ({} chats)",
        manifest.chats
    );

    assert_eq!(
        pipeline
            .scheduler
            .tick(api_now + LAG)
            .await
            .unwrap()
            .created,
        1
    );
    pipeline.drain_with_retries(api_now + LAG).await;

    let mut jobs = pipeline.sync_jobs().await;
    jobs.sort_by_key(|job| job.id);
    let attempts = attempts(&pipeline).await;
    assert_eq!(
        jobs.len(),
        6,
        "one job per hour of the gap: {jobs:?} {attempts:?}"
    );
    let mut watermark = start;
    for job in &jobs {
        assert_eq!(job.status, JobStatus::Succeeded, "{job:?} {attempts:?}");
        assert_eq!(job.window_start, watermark - TimeDelta::minutes(2));
        assert_eq!(job.window_end, watermark + TimeDelta::hours(1));
        assert_eq!(job.checkpoint, None, "a succeeded job keeps no checkpoint");
        watermark = job.window_end;
    }
    assert_eq!(pipeline.watermark().await, Some(api_now));
    // The budget ran out mid-way: an attempt waiting for it hit the 30 s limit, and a later
    // attempt finished its window.
    assert!(
        attempts
            .iter()
            .any(|a| a.error_class.as_deref() == Some("timeout_error")),
        "{attempts:?}"
    );
    pipeline
        .assert_matches_manifest(start - TimeDelta::minutes(2), api_now)
        .await;
}

async fn an_attempt_cut_short_by_its_timeout_continues_from_its_checkpoint_without_fetching_stored_chats_again(
    backend: Backend,
) {
    let start = day() + TimeDelta::hours(14);
    let pipeline = pipeline_on(backend, busy_org(), start, |args| {
        args.job_timeout = Some("3s".to_owned());
        // A job must outlive one heartbeat (orphan_timeout / 4).
        args.orphan_timeout = Some("8s".to_owned());
        args.job_max_attempts = Some("20".to_owned());
    })
    .await;
    let api_now = start + TimeDelta::hours(1);
    // Every response takes 300 ms: one 3 s attempt cannot fetch the whole window.
    let faults: FaultConfig = serde_json::from_value(serde_json::json!({
        "slow": {"trigger": "always", "delay_ms": 300}
    }))
    .unwrap();
    pipeline.fake.set_faults(faults).unwrap();
    pipeline.fake.reset_stats();

    assert_eq!(pipeline.tick_and_run(api_now).await, 1);

    let jobs = pipeline.sync_jobs().await;
    let job = &jobs[0];
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.last_error);
    assert!(job.attempt >= 2, "attempts: {}", job.attempt);
    let attempts = attempts(&pipeline).await;
    assert_eq!(attempts[0].error_class.as_deref(), Some("timeout_error"));
    // Each later attempt lists the chats again and may fetch again the one chat in flight
    // when the last was cut; every other chat is fetched once.
    let fetched = pipeline
        .fake
        .stats()
        .by_status
        .get(&200)
        .copied()
        .unwrap_or(0);
    let (attempts, chats) = (job.attempt as u64, job.chats as u64);
    assert!(chats > 10, "{chats} chats");
    assert!(
        fetched <= chats + 1 + 2 * attempts,
        "{fetched} answered requests for {chats} chats in {attempts} attempts"
    );
    pipeline
        .assert_matches_manifest(start - TimeDelta::minutes(2), api_now)
        .await;
}

async fn a_chat_whose_messages_return_404_is_skipped_listed_in_the_job_detail_and_the_rest_is_stored(
    backend: Backend,
) {
    use logwarden_entities::session;
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

    let start = day() + TimeDelta::hours(14);
    let pipeline = pipeline_on(backend, busy_org(), start, |_| {}).await;
    // The first chat fetched is deleted between the listing and the fetch.
    let faults: FaultConfig =
        serde_json::from_value(serde_json::json!({"vanished_chats": {"next": 1}})).unwrap();
    pipeline.fake.set_faults(faults).unwrap();
    let api_now = start + TimeDelta::minutes(30);

    assert_eq!(pipeline.tick_and_run(api_now).await, 1);

    let job = pipeline.sync_jobs().await.remove(0);
    assert_eq!(job.status, JobStatus::Succeeded, "{:?}", job.last_error);
    assert_eq!(job.attempt, 1, "a 404 is not retried");
    let detail = pipeline.services.job_detail(job.id).await.unwrap();
    let skipped = &detail.job.completeness.skipped;
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0].class, "not_found_error");
    assert!(skipped[0].reason.contains("not found"), "{:?}", skipped[0]);
    let gone = skipped[0].chat_id.clone();
    assert_eq!(
        session::Entity::find()
            .filter(session::Column::ChatId.eq(gone.clone()))
            .count(&pipeline.test.db)
            .await
            .unwrap(),
        0
    );
    let manifest = pipeline
        .fake
        .manifest(start - TimeDelta::minutes(2), api_now);
    assert_eq!(pipeline.count("sessions").await as u64, manifest.chats - 1);
    assert_eq!(
        pipeline.count("access_events").await as u64,
        manifest.activities
    );
    assert_eq!(detail.attempts.len(), 1);
    assert_eq!(detail.attempts[0].worker, pipeline.worker.name);

    // The operator's view over HTTP: attempts, counters, the completeness record with the
    // skipped chat, the worker.
    let settings = crate::helpers::test_settings(|_| {});
    let app = logwarden::app::App::with_database(pipeline.test.db.clone(), &settings)
        .await
        .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server =
        logwarden::roles::serve::RunningServer::start(&app, "127.0.0.1:0", shutdown.clone())
            .await
            .unwrap();
    let token = app
        .services
        .create_token(logwarden::service::tokens::NewToken {
            name: "operator".into(),
            role: logwarden::service::tokens::Role::Operator,
            projects: Vec::new(),
        })
        .await
        .unwrap()
        .token;
    let body: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/jobs/{}", server.url(), job.id))
        .bearer_auth(token.expose())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["completeness"]["skipped"][0]["chat_id"], gone.as_str());
    assert_eq!(
        body["completeness"]["skipped"][0]["class"],
        "not_found_error"
    );
    assert_eq!(body["completeness"]["quarantined"], serde_json::json!([]));
    assert_eq!(body["attempts"][0]["outcome"], "succeeded");
    assert_eq!(body["worker"], pipeline.worker.name.as_str());
    assert_eq!(body["counters"]["chats"], manifest.chats - 1);
    shutdown.cancel();
}
