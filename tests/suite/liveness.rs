//! Syncing never silently stops: every tick with new time to cover records a job that moves
//! the watermark, whatever the schedule and however the replicas' clocks differ. Each test runs
//! on PostgreSQL with Redis and on SQLite with the in-process queue, stepped deterministically
//! (the fake's clock, scheduler ticks and pump passes, worker steps).

use chrono::{DateTime, TimeDelta, Utc};
use logwarden::config::SettingsArgs;
use logwarden::infra::secret::Secret;
use logwarden::roles::scheduler::Scheduler;
use logwarden_fake_api::FakeConfig;
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

on_both_paths!(
    the_demo_s_settings_ticking_twenty_times_create_twenty_jobs_that_each_move_the_watermark,
    two_schedulers_whose_clocks_differ_by_seconds_record_one_job_per_tick_and_never_a_zero_progress_one,
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
