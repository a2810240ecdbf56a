//! Fleet reliability with real processes: `logwarden scheduler` and `logwarden worker`
//! children of this test, real Redis, real PostgreSQL and the fake Compliance API over HTTP.
//! Each test disturbs one thing (a worker killed or stopped, Redis flushed or restarted,
//! PostgreSQL down, a 429 storm, a pause in the middle, a very large backfill) and checks
//! the backfill still ends with every event stored exactly once.
//!
//! The tests run one at a time: each starts several processes with connection pools of their
//! own, and two of them together would crowd the shared PostgreSQL and the machine's cores.

use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use logwarden::infra::queue::{RedisTransport, Transport};
use logwarden::infra::secret::Secret;
use logwarden::roles::scheduler::Scheduler;
use logwarden::service::backfills::{BackfillView, NewBackfill};
use logwarden::service::integrations::NewIntegration;
use logwarden::service::Services;
use logwarden_entities::{integration, job, job_attempt, session};
use logwarden_fake_api::{FakeConfig, FakeServer, FaultConfig};
use logwarden_jobs::kind::{AttemptOutcome, BackfillStatus, JobStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Statement};

use crate::helpers::{
    day, parse_prometheus, redis_url, test_settings, unique_name, Sample, TestDb,
};
use crate::services::{PrivatePostgres, PrivateRedis};

/// The fleet's orphan timeout: a worker silent this long loses its job to another. Long by
/// default, so a process starved of CPU on a busy machine is not taken over where a test
/// does not mean it to be; the takeover tests set [`SHORT_ORPHAN_TIMEOUT`].
const ORPHAN_TIMEOUT: &str = "30s";
const SHORT_ORPHAN_TIMEOUT: (&str, &str) = ("LOGWARDEN_ORPHAN_TIMEOUT", "3s");
/// How often the tests look at the database while they wait.
const POLL: Duration = Duration::from_millis(200);
/// A cron schedule that never fires while a test runs: the tests drive backfills only, so a
/// sync job must not add events beyond the backfilled range.
const NO_SYNC_TICKS: &str = "0 0 0 1 1 * 2099";

/// Held by each test for its whole run (see the module documentation).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A fake organisation with the real API's rate limit switched off.
fn unlimited_org() -> FakeConfig {
    FakeConfig {
        rate_limit: None,
        ..FakeConfig::default()
    }
}

/// Every response of the fake held back `delay_ms`, so a batch takes seconds and a test can
/// act while it runs.
fn slow_responses(delay_ms: u64) -> FaultConfig {
    serde_json::from_value(serde_json::json!({
        "slow": {"trigger": "always", "delay_ms": delay_ms}
    }))
    .expect("slow fault")
}

/// One child process of the test.
struct Process {
    name: String,
    child: Child,
    log: PathBuf,
    /// Set once the test stops the process on purpose; until then an exit is a failure.
    stopping: bool,
}

/// The fleet under test: a database and Redis key prefix of its own, the fake API, the
/// in-process service layer (to add the integration and start backfills, as an operator
/// would) and the scheduler and worker processes. Dropping it kills every process; when the
/// test failed it prints the end of each process's log first (`FLEET_TEST_KEEP_LOGS=1`
/// keeps the logs of every run, `FLEET_TEST_LOG_LEVEL` sets the processes' log filter).
struct Fleet {
    test: TestDb,
    fake: FakeServer,
    services: Services,
    integration_id: i64,
    redis_url: String,
    prefix: String,
    env: Vec<(String, String)>,
    logs: PathBuf,
    processes: Mutex<Vec<Process>>,
}

impl Fleet {
    /// Starts the fake, records the integration, and prepares the environment of the fleet's
    /// processes; `settings` are extra `LOGWARDEN_*` variables for them.
    async fn start(
        test: TestDb,
        redis_url: String,
        org: FakeConfig,
        settings: &[(&str, &str)],
    ) -> Self {
        Self::start_at(test, redis_url, org, settings, None).await
    }

    /// [`Fleet::start`] with the fake's clock, and the integration's first sync, at `now`
    /// (default: the end of the fake's history).
    async fn start_at(
        test: TestDb,
        redis_url: String,
        org: FakeConfig,
        settings: &[(&str, &str)],
        now: Option<DateTime<Utc>>,
    ) -> Self {
        let fake = logwarden_fake_api::spawn(org).await.expect("fake API");
        let now = now.unwrap_or_else(|| fake.history_end());
        fake.set_now(now);
        let prefix = unique_name("lwfleet");
        let in_process = test_settings(|args| args.redis_prefix = Some(prefix.clone()));
        let master_key = in_process
            .master_key
            .as_ref()
            .map(|key| key.expose().to_owned())
            .expect("the test settings carry a master key");
        let services = Services::new(test.db.clone(), in_process);
        let integration_id = services
            .add_integration(NewIntegration {
                name: "acme".into(),
                project: "security".into(),
                data_plane: "default".into(),
                api_key: Secret::new(logwarden_fake_api::DEFAULT_TEST_KEY),
                base_url: Some(fake.base_url()),
                sync_from: Some(now),
            })
            .await
            .expect("add integration")
            .id;
        fake.reset_stats();

        let mut env: Vec<(String, String)> = [
            ("DATABASE_URL", test.url.as_str()),
            ("REDIS_URL", redis_url.as_str()),
            ("LOGWARDEN_REDIS_PREFIX", prefix.as_str()),
            ("LOGWARDEN_MASTER_KEY", master_key.as_str()),
            ("LOGWARDEN_ALLOW_LOOPBACK_HTTP", "true"),
            ("LOGWARDEN_ORPHAN_TIMEOUT", ORPHAN_TIMEOUT),
            ("LOGWARDEN_RETRY_BASE", "100ms"),
            ("LOGWARDEN_RETRY_CAP", "1s"),
            ("LOGWARDEN_SYNC_SCHEDULE", NO_SYNC_TICKS),
            ("LOGWARDEN_LOG_LEVEL", "info"),
            ("LOGWARDEN_LOG_FORMAT", "pretty"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
        env.extend(
            settings
                .iter()
                .map(|(key, value)| ((*key).to_owned(), (*value).to_owned())),
        );
        if let Ok(level) = std::env::var("FLEET_TEST_LOG_LEVEL") {
            env.push(("LOGWARDEN_LOG_LEVEL".to_owned(), level));
        }
        let logs = std::env::temp_dir().join(unique_name("lw_fleet_logs"));
        std::fs::create_dir_all(&logs).expect("log folder");
        Self {
            test,
            fake,
            services,
            integration_id,
            redis_url,
            prefix,
            env,
            logs,
            processes: Mutex::new(Vec::new()),
        }
    }

    fn processes(&self) -> std::sync::MutexGuard<'_, Vec<Process>> {
        self.processes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn spawn(&self, name: &str, args: &[&str]) {
        let log = self.logs.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_logwarden"));
        // Settings the test process happens to carry must not leak into the fleet.
        for (key, _) in std::env::vars() {
            if key.starts_with("LOGWARDEN_") {
                command.env_remove(key);
            }
        }
        let child = command
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start logwarden");
        self.processes().push(Process {
            name: name.to_owned(),
            child,
            log,
            stopping: false,
        });
    }

    fn spawn_scheduler(&self) {
        self.spawn("scheduler", &["scheduler", "--pump-every", "250ms"]);
    }

    /// Starts a worker of the `default` data plane; returns its unique name.
    fn spawn_worker(&self, role: &str, concurrency: usize) -> String {
        let name = unique_name(role);
        let concurrency = concurrency.to_string();
        self.spawn(
            &name,
            &[
                "worker",
                "--data-plane",
                "default",
                "--concurrency",
                &concurrency,
                "--name",
                &name,
            ],
        );
        name
    }

    fn pid(&self, name: &str) -> u32 {
        self.processes()
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.child.id())
            .unwrap_or_else(|| panic!("no process named {name}"))
    }

    /// Sends `signal` (e.g. `KILL`, `TERM`) to the process named `name`.
    fn signal(&self, name: &str, signal: &str) {
        let pid = self.pid(name);
        if let Some(process) = self.processes().iter_mut().find(|p| p.name == name) {
            process.stopping = true;
        }
        let status = Command::new("kill")
            .args(["-s", signal, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -s {signal} {pid} failed");
    }

    /// Waits for the process to exit and returns how it ended.
    async fn wait_exit(&self, name: &str, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            let exited = self
                .processes()
                .iter_mut()
                .find(|p| p.name == name)
                .map(|p| p.child.try_wait().expect("try_wait"))
                .unwrap_or_else(|| panic!("no process named {name}"));
            if let Some(status) = exited {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{name} did not exit within {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Fails the test when a process the test did not stop has exited.
    fn assert_running(&self) {
        for process in self.processes().iter_mut() {
            if process.stopping {
                continue;
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("{} exited on its own: {status}", process.name);
            }
        }
    }

    /// Polls `probe` until it yields a value; fails after `timeout` or when a process dies.
    async fn wait_for<T, F, Fut>(&self, what: &str, timeout: Duration, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(value) = probe().await {
                return value;
            }
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "gave up after {timeout:?} waiting for {what}"
            );
            tokio::time::sleep(POLL).await;
        }
    }

    async fn start_backfill(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        width: TimeDelta,
    ) -> BackfillView {
        self.services
            .start_backfill(NewBackfill {
                integration_id: self.integration_id,
                from,
                to,
                batch_width: Some(width.to_std().expect("positive width")),
                created_by: "fleet-test".into(),
            })
            .await
            .expect("start backfill")
    }

    /// The backfill's progress; `None` while the database cannot be reached.
    async fn backfill(&self, id: i64) -> Option<BackfillView> {
        self.services.backfill(id).await.ok()
    }

    /// Waits until the backfill completes; fails at once if it fails.
    async fn wait_completed(&self, id: i64, timeout: Duration) -> BackfillView {
        self.wait_for("the backfill to complete", timeout, || async move {
            let view = self.backfill(id).await?;
            assert_ne!(
                view.status,
                BackfillStatus::Failed,
                "the backfill failed: {view:?}"
            );
            (view.status == BackfillStatus::Completed).then_some(view)
        })
        .await
    }

    async fn jobs_with_status(&self, status: JobStatus) -> Option<Vec<job::Model>> {
        job::Entity::find()
            .filter(job::Column::Status.eq(status.as_str()))
            .order_by_asc(job::Column::Id)
            .all(&self.test.db)
            .await
            .ok()
    }

    /// Jobs the worker named `worker` holds in `processing`.
    async fn processing_by(&self, worker: &str) -> Option<Vec<job::Model>> {
        let rows = self.jobs_with_status(JobStatus::Processing).await?;
        Some(
            rows.into_iter()
                .filter(|row| row.worker_name.as_deref() == Some(worker))
                .collect(),
        )
    }

    async fn job(&self, id: i64) -> job::Model {
        job::Entity::find_by_id(id)
            .one(&self.test.db)
            .await
            .expect("read job")
            .expect("job exists")
    }

    async fn attempts_of(&self, job_id: i64) -> Vec<job_attempt::Model> {
        job_attempt::Entity::find()
            .filter(job_attempt::Column::JobId.eq(job_id))
            .order_by_asc(job_attempt::Column::Id)
            .all(&self.test.db)
            .await
            .expect("read job attempts")
    }

    async fn count(&self, table: &str) -> u64 {
        let row = self
            .test
            .db
            .query_one_raw(Statement::from_string(
                self.test.db.get_database_backend(),
                format!("SELECT COUNT(*) FROM {table}"),
            ))
            .await
            .expect("count rows")
            .expect("one row");
        row.try_get_by_index::<i64>(0).expect("a count") as u64
    }

    /// The stored data equals the fake's ground truth for `[from, to)`: every event, access
    /// event, session and message exactly once (event ids are primary keys, so a duplicate
    /// could only show as a count above the manifest).
    async fn assert_stored_exactly(&self, from: DateTime<Utc>, to: DateTime<Utc>) {
        let manifest = self.fake.manifest(from, to);
        assert!(manifest.prompt_events > 0, "the range must hold data");
        assert_eq!(
            self.count("events").await,
            manifest.prompt_events,
            "prompt events"
        );
        assert_eq!(
            self.count("access_events").await,
            manifest.activities,
            "activities"
        );
        assert_eq!(self.count("sessions").await, manifest.chats, "chats");
        let messages: i64 = session::Entity::find()
            .all(&self.test.db)
            .await
            .expect("read sessions")
            .iter()
            .map(|s| s.message_count)
            .sum();
        assert_eq!(messages as u64, manifest.messages, "messages");
    }

    async fn assert_nothing_left_processing(&self) {
        let left = self
            .jobs_with_status(JobStatus::Processing)
            .await
            .expect("read jobs");
        assert!(left.is_empty(), "jobs left processing: {left:?}");
    }

    /// The fleet's job transport, as the scheduler uses it.
    async fn transport(&self) -> Transport {
        let redis = RedisTransport::connect(&Secret::new(self.redis_url.clone()), &self.prefix)
            .await
            .expect("connect the transport");
        Transport::Redis(redis)
    }

    /// A Redis connection to the fleet's Redis, for looking at its queues.
    async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.redis_url.as_str())
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to redis")
    }
}

/// Worker lanes registered on the backfill queue of the fleet with key prefix `prefix`.
async fn backfill_workers_on_redis(
    redis: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
) -> u64 {
    let queue = logwarden::infra::queue::queue_name(
        prefix,
        "default",
        logwarden_jobs::payload::Priority::Backfill,
    );
    redis::cmd("ZCARD")
        .arg(format!("{queue}:workers"))
        .query_async(redis)
        .await
        .unwrap_or_default()
}

/// Backfill tasks waiting in Redis for a worker of the fleet with key prefix `prefix`:
/// apalis-redis files every push under the queue's `scheduled` set (due at once) and moves
/// due tasks to its `active` list as workers fetch.
async fn backfill_tasks_in_redis(
    redis: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
) -> u64 {
    let queue = logwarden::infra::queue::queue_name(
        prefix,
        "default",
        logwarden_jobs::payload::Priority::Backfill,
    );
    let (scheduled, active): (u64, u64) = redis::pipe()
        .cmd("ZCARD")
        .arg(format!("{queue}:scheduled"))
        .cmd("LLEN")
        .arg(format!("{queue}:active"))
        .query_async(redis)
        .await
        .unwrap_or_default();
    scheduled + active
}

impl Drop for Fleet {
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        let mut processes = self.processes();
        for process in processes.iter_mut() {
            let _ = process.child.kill();
            let _ = process.child.wait();
            if failed {
                let log = std::fs::read_to_string(&process.log).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                let tail = lines[lines.len().saturating_sub(60)..].join("\n");
                eprintln!("----- last lines of {} -----\n{tail}", process.name);
            }
        }
        drop(processes);
        if failed || std::env::var_os("FLEET_TEST_KEEP_LOGS").is_some() {
            eprintln!("fleet logs kept in {}", self.logs.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.logs);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_job_loses_its_batch_to_another_worker_and_every_event_is_stored_once()
{
    let _serial = SERIAL.lock().await;
    let fleet = Fleet::start(
        TestDb::postgres().await,
        redis_url(),
        unlimited_org(),
        &[
            ("LOGWARDEN_BACKFILL_MAX_IN_FLIGHT", "2"),
            SHORT_ORPHAN_TIMEOUT,
        ],
    )
    .await;
    let fleet = &fleet;
    fleet.fake.set_faults(slow_responses(700)).unwrap();
    let (from, to) = (day() + TimeDelta::hours(9), day() + TimeDelta::hours(13));
    let backfill = fleet.start_backfill(from, to, TimeDelta::hours(1)).await;
    fleet.spawn_scheduler();
    let victim = fleet.spawn_worker("victim", 2);
    let victim = victim.as_str();

    fleet
        .wait_for(
            "the victim to run a batch",
            Duration::from_secs(60),
            || async move {
                let rows = fleet.processing_by(victim).await?;
                (!rows.is_empty()).then_some(())
            },
        )
        .await;
    fleet.signal(victim, "KILL");
    fleet.wait_exit(victim, Duration::from_secs(10)).await;
    let orphaned = fleet.processing_by(victim).await.expect("read jobs");
    assert!(
        !orphaned.is_empty(),
        "the kill must land while the victim holds a batch"
    );
    let survivor = fleet.spawn_worker("survivor", 2);

    let done = fleet
        .wait_completed(backfill.id, Duration::from_secs(120))
        .await;

    assert_eq!(done.batches_done, done.batches_total);
    assert_eq!(done.batches_failed, 0);
    for lost in &orphaned {
        let row = fleet.job(lost.id).await;
        assert_eq!(row.status, JobStatus::Succeeded);
        assert_eq!(row.worker_name.as_deref(), Some(survivor.as_str()));
        let attempts = fleet.attempts_of(lost.id).await;
        let abandoned = attempts
            .iter()
            .find(|a| a.outcome == AttemptOutcome::Abandoned)
            .unwrap_or_else(|| panic!("no abandoned attempt: {attempts:?}"));
        assert_eq!(abandoned.worker_name, victim);
        assert_eq!(abandoned.error_class.as_deref(), Some("worker_lost"));
        let last = attempts.last().expect("attempts");
        assert_eq!(
            (last.outcome.as_str(), last.worker_name.as_str()),
            ("succeeded", survivor.as_str())
        );
        assert!(last.attempt > abandoned.attempt, "{attempts:?}");
    }
    fleet.assert_nothing_left_processing().await;
    fleet.assert_stored_exactly(from, to).await;
}

/// The whole pipeline's acceptance run: two worker processes on Redis and PostgreSQL, a
/// 7-day backfill in 1-hour batches, then three live sync ticks. The scheduler runs in this
/// process so that its ticks follow the fake's clock (a scheduler process ticks on the wall
/// clock); it feeds the same Redis queues the workers consume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seven_day_backfill_and_live_syncs_on_two_workers_store_exactly_the_manifest() {
    let _serial = SERIAL.lock().await;
    let live_from = day() + TimeDelta::hours(12);
    let fleet = Fleet::start_at(
        TestDb::postgres().await,
        redis_url(),
        unlimited_org(),
        &[],
        Some(live_from),
    )
    .await;
    let fleet = &fleet;
    let from = live_from - TimeDelta::days(7);
    assert!(from >= fleet.fake.history_start());
    let backfill = fleet
        .start_backfill(from, live_from, TimeDelta::hours(1))
        .await;
    assert_eq!(backfill.batches_total, 7 * 24);
    let scheduler = Scheduler::new(fleet.services.clone(), fleet.transport().await);
    let scheduler = &scheduler;
    // The scheduler in this process runs on the fake's clock, its pumps too: a pump on the
    // wall clock would see days of sync backlog and catch them up on its own.
    let lag = TimeDelta::from_std(fleet.services.settings.sync_lag).expect("lag");
    let pump_at = live_from + lag;
    fleet.spawn_worker("worker-a", 4);
    fleet.spawn_worker("worker-b", 4);

    let done = fleet
        .wait_for(
            "the backfill to complete",
            Duration::from_secs(300),
            || async move {
                scheduler.pump(pump_at).await.ok()?;
                let view = fleet.backfill(backfill.id).await?;
                assert_ne!(
                    view.status,
                    BackfillStatus::Failed,
                    "the backfill failed: {view:?}"
                );
                (view.status == BackfillStatus::Completed).then_some(view)
            },
        )
        .await;
    assert_eq!(done.batches_done, done.batches_total);
    assert_eq!(done.synced_up_to, Some(live_from));

    let mut api_now = live_from;
    for _ in 0..3 {
        api_now += TimeDelta::minutes(5);
        fleet.fake.set_now(api_now);
        let tick = scheduler.tick(api_now + lag).await.expect("tick");
        assert_eq!(tick.created, 1, "one sync job per tick");
        fleet
            .wait_for(
                "the sync to advance the watermark",
                Duration::from_secs(60),
                || async move {
                    scheduler.pump(api_now + lag).await.ok()?;
                    let row = integration::Entity::find()
                        .one(&fleet.test.db)
                        .await
                        .ok()??;
                    (row.sync_watermark == Some(api_now)).then_some(())
                },
            )
            .await;
    }

    let workers: Vec<Option<String>> = fleet
        .jobs_with_status(JobStatus::Succeeded)
        .await
        .expect("read jobs")
        .into_iter()
        .map(|row| row.worker_name)
        .collect();
    assert_eq!(workers.len(), 7 * 24 + 3);
    for worker in ["worker-a", "worker-b"] {
        assert!(
            workers
                .iter()
                .flatten()
                .any(|name| name.starts_with(worker)),
            "{worker} ran no job"
        );
    }
    fleet.assert_nothing_left_processing().await;
    fleet.assert_stored_exactly(from, api_now).await;
}

/// What happens to Redis in the middle of a backfill.
enum RedisDisruption {
    /// FLUSHALL: every queue, marker and lock is gone at once.
    Flush,
    /// The server is killed and started again empty on the same port.
    Restart,
}

/// Runs a 12-batch backfill on a private Redis and disrupts Redis once batches are done,
/// running and waiting in the queue; the backfill must still store everything exactly once.
async fn backfill_survives(disruption: RedisDisruption) {
    let mut redis = PrivateRedis::start().await;
    let fleet = Fleet::start(TestDb::postgres().await, redis.url(), unlimited_org(), &[]).await;
    let fleet = &fleet;
    fleet.fake.set_faults(slow_responses(300)).unwrap();
    let (from, to) = (day() + TimeDelta::hours(6), day() + TimeDelta::hours(18));
    let backfill = fleet.start_backfill(from, to, TimeDelta::hours(1)).await;
    fleet.spawn_scheduler();
    fleet.spawn_worker("worker-a", 2);
    fleet.spawn_worker("worker-b", 2);

    let waiting = fleet
        .wait_for(
            "batches done, running and queued at once",
            Duration::from_secs(90),
            || async move {
                let view = fleet.backfill(backfill.id).await?;
                let queued = fleet.jobs_with_status(JobStatus::Enqueued).await?;
                (view.batches_done >= 2 && !queued.is_empty()).then_some(queued)
            },
        )
        .await;
    match disruption {
        RedisDisruption::Flush => redis.flush_all().await,
        RedisDisruption::Restart => {
            redis.kill();
            // The outage itself: long enough for every process to notice Redis is gone.
            tokio::time::sleep(Duration::from_secs(2)).await;
            redis.start_again().await;
        }
    }

    let done = fleet
        .wait_completed(backfill.id, Duration::from_secs(150))
        .await;
    assert_eq!(done.batches_done, done.batches_total);
    assert_eq!(done.batches_failed, 0);
    for lost in &waiting {
        assert_eq!(fleet.job(lost.id).await.status, JobStatus::Succeeded);
    }
    fleet.assert_nothing_left_processing().await;
    fleet.assert_stored_exactly(from, to).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_flushed_mid_backfill_still_completes_with_every_event_stored_once() {
    let _serial = SERIAL.lock().await;
    backfill_survives(RedisDisruption::Flush).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restarted_mid_backfill_still_completes_with_every_event_stored_once() {
    let _serial = SERIAL.lock().await;
    backfill_survives(RedisDisruption::Restart).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_mid_job_costs_a_retry_and_nothing_is_lost_or_half_written() {
    let _serial = SERIAL.lock().await;
    let postgres = PrivatePostgres::start().await;
    // Two batches in flight for a worker of three slots: one slot stays free to take a
    // delivery while the database is away.
    let fleet = Fleet::start(
        postgres.test_db().await,
        redis_url(),
        unlimited_org(),
        &[
            SHORT_ORPHAN_TIMEOUT,
            ("LOGWARDEN_BACKFILL_MAX_IN_FLIGHT", "2"),
        ],
    )
    .await;
    let fleet = &fleet;
    fleet.fake.set_faults(slow_responses(400)).unwrap();
    let (from, to) = (day() + TimeDelta::hours(8), day() + TimeDelta::hours(14));
    let backfill = fleet.start_backfill(from, to, TimeDelta::hours(1)).await;
    fleet.spawn_scheduler();
    fleet.spawn_worker("worker", 3);

    let running = fleet
        .wait_for(
            "two batches to run",
            Duration::from_secs(60),
            || async move {
                let rows = fleet.jobs_with_status(JobStatus::Processing).await?;
                (rows.len() == 2).then_some(rows)
            },
        )
        .await;
    // A third batch reaches the queue just as the database goes away: the scheduler's move
    // of a batch to `enqueued`, then its push, which needs only Redis.
    let late = fleet
        .jobs_with_status(JobStatus::Pending)
        .await
        .expect("read jobs")
        .into_iter()
        .next()
        .expect("a pending batch");
    let moved = job::Entity::update_many()
        .col_expr(
            job::Column::Status,
            Expr::value(JobStatus::Enqueued.as_str()),
        )
        .col_expr(job::Column::EnqueuedAt, Expr::value(Some(Utc::now())))
        .filter(job::Column::Id.eq(late.id))
        .filter(job::Column::Status.eq(JobStatus::Pending.as_str()))
        .exec(&fleet.test.db)
        .await
        .expect("enqueue the batch");
    assert_eq!(moved.rows_affected, 1);
    postgres.stop();
    fleet
        .transport()
        .await
        .push("default", &logwarden::roles::scheduler::payload(&late))
        .await
        .expect("push the batch");
    // The outage outlasts the pool's 30 s wait for a connection, so the running batches'
    // writes and the free slot's claim of the late batch fail instead of waiting it out.
    tokio::time::sleep(Duration::from_secs(40)).await;
    postgres.start_again().await;

    let done = fleet
        .wait_completed(backfill.id, Duration::from_secs(150))
        .await;
    assert_eq!(done.batches_done, done.batches_total);
    assert_eq!(done.batches_failed, 0);
    for hit in &running {
        let attempts = fleet.attempts_of(hit.id).await;
        assert!(
            attempts
                .iter()
                .any(|a| matches!(a.outcome, AttemptOutcome::Retry | AttemptOutcome::Abandoned)),
            "the outage cost the running batch an attempt: {attempts:?}"
        );
        assert_eq!(
            attempts.last().map(|a| a.outcome),
            Some(AttemptOutcome::Succeeded),
            "{attempts:?}"
        );
    }
    let late = fleet.job(late.id).await;
    assert_eq!(
        (late.status, late.attempt),
        (JobStatus::Succeeded, 1),
        "a claim that failed spends no attempt"
    );
    fleet.assert_nothing_left_processing().await;
    fleet.assert_stored_exactly(from, to).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_storm_and_5xx_bursts_are_retried_and_the_fleet_stays_under_its_rate_budget() {
    let _serial = SERIAL.lock().await;
    // The fleet's configured budget, and the API's own limit above it. Two processes each
    // keeping a budget of their own could send twice the fleet's budget, over the API's.
    const BUDGET: u64 = 40;
    const API_LIMIT: u32 = 50;
    let fleet = Fleet::start(
        TestDb::postgres().await,
        redis_url(),
        FakeConfig {
            rate_limit: Some(API_LIMIT),
            ..FakeConfig::default()
        },
        &[("LOGWARDEN_RATE_LIMIT_PER_MINUTE", "40")],
    )
    .await;
    let fleet = &fleet;
    const STORM: u64 = 8;
    let faults: FaultConfig = serde_json::from_value(serde_json::json!({
        "seed": 11,
        "rate_limit": {"trigger": {"next": STORM}, "retry_after_secs": 1},
        "server_error": {"trigger": {"fraction": 0.2}, "status": 502}
    }))
    .unwrap();
    fleet.fake.set_faults(faults).unwrap();
    fleet.spawn_scheduler();
    fleet.spawn_worker("worker-a", 4);
    fleet.spawn_worker("worker-b", 4);
    // Both workers wait on the queue before the first batch is pushed, so both get batches.
    fleet
        .wait_for(
            "both workers on the queue",
            Duration::from_secs(60),
            || async move {
                let mut redis = fleet.redis().await;
                (backfill_workers_on_redis(&mut redis, &fleet.prefix).await >= 2).then_some(())
            },
        )
        .await;
    let admissions = AdmissionLog::start(fleet).await;
    let (from, to) = (day() + TimeDelta::hours(8), day() + TimeDelta::hours(18));
    let backfill = fleet.start_backfill(from, to, TimeDelta::hours(1)).await;

    let done = fleet
        .wait_completed(backfill.id, Duration::from_secs(240))
        .await;

    assert_eq!(done.batches_done, done.batches_total);
    assert_eq!(done.batches_failed, 0);
    let stats = fleet.fake.stats();
    let status = |code: u16| stats.by_status.get(&code).copied().unwrap_or(0);
    assert_eq!(
        status(429),
        STORM,
        "the storm's 429s and no other: the API's own limit was never hit: {stats:?}"
    );
    assert!(status(502) > 0, "5xx bursts happened: {stats:?}");
    assert!(
        stats.requests > u64::from(API_LIMIT),
        "the fleet needed more than a minute of the API's budget: {stats:?}"
    );
    assert!(
        stats.max_requests_in_60s <= u64::from(API_LIMIT),
        "{stats:?}"
    );
    // The limiter admits request starts on Redis's clock; the API counts arrivals, a few
    // milliseconds later and not all equally late. The budget is exact for the starts.
    let starts = admissions.stop().await;
    let busiest = busiest_minute(&starts);
    assert!(
        busiest <= BUDGET as usize,
        "the fleet started {busiest} requests within 60 s, over its budget of {BUDGET}"
    );
    fleet.assert_nothing_left_processing().await;
    fleet.assert_stored_exactly(from, to).await;
}

/// The request starts the fleet-wide rate limiter admitted, read from its Redis log while a
/// test runs (an entry stays there for the limiter's 60-second window, far longer than the
/// sampling interval).
struct AdmissionLog {
    seen: Arc<Mutex<std::collections::BTreeMap<String, i64>>>,
    sampler: tokio::task::JoinHandle<()>,
}

impl AdmissionLog {
    async fn start(fleet: &Fleet) -> Self {
        let integration = fleet
            .services
            .integration(fleet.integration_id)
            .await
            .expect("integration");
        let org = integration
            .organization_uuid
            .unwrap_or_else(|| format!("integration-{}", integration.id));
        let key = format!("{}:ratelimit:{{{org}}}:log", fleet.prefix);
        let mut redis = fleet.redis().await;
        let seen = Arc::new(Mutex::new(std::collections::BTreeMap::new()));
        let sampler = {
            let seen = seen.clone();
            tokio::spawn(async move {
                loop {
                    let entries: Vec<(String, i64)> = redis::cmd("ZRANGE")
                        .arg(&key)
                        .arg(0)
                        .arg(-1)
                        .arg("WITHSCORES")
                        .query_async(&mut redis)
                        .await
                        .unwrap_or_default();
                    seen.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .extend(entries);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        Self { seen, sampler }
    }

    /// Stops sampling; returns the admitted starts in microseconds of Redis's clock, sorted.
    async fn stop(self) -> Vec<i64> {
        self.sampler.abort();
        let _ = self.sampler.await;
        let mut starts: Vec<i64> = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .copied()
            .collect();
        starts.sort_unstable();
        starts
    }
}

/// The most of `starts` (sorted microseconds) within any 60-second span.
fn busiest_minute(starts: &[i64]) -> usize {
    (0..starts.len())
        .map(|i| {
            starts[i..]
                .iter()
                .take_while(|t| **t - starts[i] < 60_000_000)
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_of_over_20000_batches_completes_without_the_queue_growing_past_its_limit() {
    let _serial = SERIAL.lock().await;
    const MAX_IN_FLIGHT: u64 = 64;
    let fleet = Fleet::start(
        TestDb::postgres().await,
        redis_url(),
        FakeConfig {
            users: 1,
            chats_per_user_per_day: 1,
            rate_limit: None,
            ..FakeConfig::default()
        },
        &[
            ("LOGWARDEN_BACKFILL_MAX_IN_FLIGHT", "64"),
            ("LOGWARDEN_ORG_MAX_IN_FLIGHT", "64"),
            ("LOGWARDEN_RATE_LIMIT_PER_MINUTE", "100000"),
            ("LOGWARDEN_LOG_LEVEL", "warn"),
        ],
    )
    .await;
    let fleet = &fleet;
    let (from, to) = (fleet.fake.history_start(), fleet.fake.history_end());
    let backfill = fleet.start_backfill(from, to, TimeDelta::minutes(1)).await;
    assert!(
        backfill.batches_total > 20_000,
        "{} batches",
        backfill.batches_total
    );

    // Samples the Redis queue depth for the whole run.
    let deepest = Arc::new(AtomicU64::new(0));
    let sampler = {
        let deepest = deepest.clone();
        let mut redis = fleet.redis().await;
        let prefix = fleet.prefix.clone();
        tokio::spawn(async move {
            loop {
                let depth = backfill_tasks_in_redis(&mut redis, &prefix).await;
                deepest.fetch_max(depth, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let started = Instant::now();
    fleet.spawn_scheduler();
    fleet.spawn_worker("worker-a", 8);
    fleet.spawn_worker("worker-b", 8);

    // The queue stays within the limit and progress never stops for long once it started.
    const FIRST_BATCH: Duration = Duration::from_secs(120);
    const STALL: Duration = Duration::from_secs(30);
    let deadline = started + Duration::from_secs(30 * 60);
    let (mut done, mut progressed_at) = (0, started);
    let mut most_in_flight = 0;
    let view = loop {
        let view = fleet.backfill(backfill.id).await.expect("read backfill");
        assert_ne!(view.status, BackfillStatus::Failed, "{view:?}");
        most_in_flight = most_in_flight.max(view.batches_in_flight as u64);
        assert!(
            view.batches_in_flight as u64 <= MAX_IN_FLIGHT,
            "{} batches in flight, over the limit of {MAX_IN_FLIGHT}",
            view.batches_in_flight
        );
        if view.status == BackfillStatus::Completed {
            break view;
        }
        if view.batches_done > done {
            (done, progressed_at) = (view.batches_done, Instant::now());
        }
        let patience = if done == 0 { FIRST_BATCH } else { STALL };
        assert!(
            progressed_at.elapsed() < patience,
            "no batch finished for {patience:?} at {done}/{} batches",
            view.batches_total
        );
        assert!(Instant::now() < deadline, "too slow: {view:?}");
        fleet.assert_running();
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    sampler.abort();
    eprintln!(
        "{} batches in {:.0?}; deepest Redis queue {}, most batches in flight {most_in_flight}",
        view.batches_total,
        started.elapsed(),
        deepest.load(Ordering::Relaxed)
    );

    assert_eq!(view.batches_done, view.batches_total);
    assert_eq!(view.batches_failed, 0);
    let deepest = deepest.load(Ordering::Relaxed);
    assert!(deepest > 0, "the sampler saw the queue in use");
    assert!(
        deepest <= MAX_IN_FLIGHT,
        "Redis held {deepest} tasks, over the limit of {MAX_IN_FLIGHT}"
    );
    fleet.assert_nothing_left_processing().await;
    fleet.assert_stored_exactly(from, to).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_with_sigterm_mid_job_releases_its_batches_to_another_worker() {
    let _serial = SERIAL.lock().await;
    let fleet = Fleet::start(TestDb::postgres().await, redis_url(), unlimited_org(), &[]).await;
    let fleet = &fleet;
    fleet.fake.set_faults(slow_responses(700)).unwrap();
    let (from, to) = (day() + TimeDelta::hours(9), day() + TimeDelta::hours(15));
    let backfill = fleet.start_backfill(from, to, TimeDelta::hours(1)).await;
    fleet.spawn_scheduler();
    let leaving = fleet.spawn_worker("leaving", 2);
    let leaving = leaving.as_str();

    let held = fleet
        .wait_for(
            "the worker to run a batch",
            Duration::from_secs(60),
            || async move {
                let rows = fleet.processing_by(leaving).await?;
                (!rows.is_empty()).then_some(rows)
            },
        )
        .await;
    fleet.signal(leaving, "TERM");
    let status = fleet.wait_exit(leaving, Duration::from_secs(20)).await;
    assert!(status.success(), "the worker exits cleanly: {status}");
    let still_held = fleet.processing_by(leaving).await.expect("read jobs");
    assert!(
        still_held.is_empty(),
        "an exited worker holds no job: {still_held:?}"
    );
    for row in &held {
        let row = fleet.job(row.id).await;
        assert_ne!(
            row.status,
            JobStatus::Succeeded,
            "the batch was released unfinished"
        );
        assert_eq!(row.attempt, 0, "a released batch keeps its attempt");
    }
    let successor = fleet.spawn_worker("successor", 2);

    let done = fleet
        .wait_completed(backfill.id, Duration::from_secs(120))
        .await;
    assert_eq!(done.batches_done, done.batches_total);
    assert_eq!(done.batches_failed, 0);
    for row in &held {
        // Releasing records no attempt: every attempt is the successor's.
        let attempts = fleet.attempts_of(row.id).await;
        assert!(
            attempts.iter().all(|a| a.worker_name == successor),
            "{attempts:?}"
        );
        assert_eq!(
            attempts.last().map(|a| a.outcome),
            Some(AttemptOutcome::Succeeded),
            "{attempts:?}"
        );
    }
    fleet.assert_nothing_left_processing().await;
    fleet.assert_stored_exactly(from, to).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_paused_with_batches_in_the_queue_completes_once_resumed() {
    let _serial = SERIAL.lock().await;
    let fleet = Fleet::start(TestDb::postgres().await, redis_url(), unlimited_org(), &[]).await;
    let fleet = &fleet;
    fleet.fake.set_faults(slow_responses(300)).unwrap();
    let (from, to) = (day() + TimeDelta::hours(6), day() + TimeDelta::hours(18));
    let backfill = fleet.start_backfill(from, to, TimeDelta::hours(1)).await;
    fleet.spawn_scheduler();
    fleet.spawn_worker("worker", 2);

    fleet
        .wait_for(
            "batches done and queued at once",
            Duration::from_secs(90),
            || async move {
                let view = fleet.backfill(backfill.id).await?;
                let queued = fleet.jobs_with_status(JobStatus::Enqueued).await?;
                (view.batches_done >= 1 && !queued.is_empty()).then_some(())
            },
        )
        .await;
    fleet.services.pause_backfill(backfill.id).await.unwrap();
    // Running batches finish; the worker hands the queued ones back as it meets them.
    let paused = fleet
        .wait_for(
            "the paused backfill to settle",
            Duration::from_secs(90),
            || async move {
                let view = fleet.backfill(backfill.id).await?;
                (view.batches_in_flight == 0).then_some(view)
            },
        )
        .await;
    assert_eq!(paused.status, BackfillStatus::Paused);
    assert!(paused.batches_done < paused.batches_total, "{paused:?}");
    let released: Vec<job::Model> = fleet
        .jobs_with_status(JobStatus::Pending)
        .await
        .expect("read jobs")
        .into_iter()
        .filter(|row| row.enqueued_at.is_some())
        .collect();
    assert!(
        !released.is_empty(),
        "the worker released queued batches of the paused backfill"
    );
    fleet.services.resume_backfill(backfill.id).await.unwrap();

    let done = fleet
        .wait_completed(backfill.id, Duration::from_secs(120))
        .await;
    assert_eq!(done.batches_done, done.batches_total);
    for row in &released {
        let row = fleet.job(row.id).await;
        assert_eq!((row.status, row.attempt), (JobStatus::Succeeded, 1));
    }
    fleet.assert_nothing_left_processing().await;
    fleet.assert_stored_exactly(from, to).await;
}

/// The endpoint labels a worker's Compliance API requests may carry: path templates only.
const ENDPOINT_TEMPLATES: [&str; 7] = [
    "GET /v1/compliance/activities",
    "GET /v1/compliance/apps/chats",
    "GET /v1/compliance/apps/chats/{chat_id}/messages",
    "GET /v1/compliance/apps/chats/files/{file_id}",
    "GET /v1/compliance/organizations/{org_uuid}/users",
    "GET /v1/compliance/groups",
    "GET /v1/compliance/groups/{group_id}/members",
];

/// The sum of the samples named `name` whose labels include every pair of `labels`.
fn sample_sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(sample, have, _)| {
            sample == name
                && labels
                    .iter()
                    .all(|(k, v)| have.iter().any(|(hk, hv)| hk == k && hv == v))
        })
        .map(|(_, _, value)| value)
        .sum()
}

impl Fleet {
    /// The address the process named `name` serves its metrics on, from the line it prints
    /// once its listener is bound.
    async fn metrics_addr(&self, name: &str) -> String {
        let log = self
            .processes()
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.log.clone())
            .unwrap_or_else(|| panic!("no process named {name}"));
        self.wait_for(
            "the metrics listener to start",
            Duration::from_secs(60),
            || {
                let log = log.clone();
                async move {
                    let text = std::fs::read_to_string(&log).ok()?;
                    let rest = text.split("metrics: http://").nth(1)?;
                    rest.split("/metrics").next().map(str::to_owned)
                }
            },
        )
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_with_metrics_listen_serves_the_jobs_it_ran_and_its_compliance_requests_by_endpoint_template(
) {
    let _serial = SERIAL.lock().await;
    let fleet = Fleet::start(
        TestDb::postgres().await,
        redis_url(),
        unlimited_org(),
        &[("LOGWARDEN_METRICS_LISTEN", "127.0.0.1:0")],
    )
    .await;
    let fleet = &fleet;
    let (from, to) = (day() + TimeDelta::hours(9), day() + TimeDelta::hours(12));
    let backfill = fleet.start_backfill(from, to, TimeDelta::hours(1)).await;
    fleet.spawn_scheduler();
    let worker = fleet.spawn_worker("metered", 2);
    let worker = worker.as_str();
    let addr = fleet.metrics_addr(worker).await;
    let addr = addr.as_str();
    let health: serde_json::Value = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .expect("GET /healthz")
        .json()
        .await
        .expect("a JSON health report");
    assert_eq!(health["status"], "ok");

    let done = fleet
        .wait_completed(backfill.id, Duration::from_secs(120))
        .await;
    assert_eq!(done.batches_done, 3);
    let ran: Vec<job::Model> = fleet
        .jobs_with_status(JobStatus::Succeeded)
        .await
        .expect("read jobs")
        .into_iter()
        .filter(|row| row.worker_name.as_deref() == Some(worker))
        .collect();
    assert_eq!(ran.len(), 3, "the one worker ran every batch");
    let events: i64 = ran.iter().map(|row| row.events).sum();
    assert!(events > 0, "the batches stored events");
    let ran_count = ran.len() as f64;
    // The counter moves as the delivery ends, just after the row does: poll until it has.
    let (text, samples) = fleet
        .wait_for(
            "the worker's counters to show the finished batches",
            Duration::from_secs(30),
            || async move {
                let response = reqwest::get(format!("http://{addr}/metrics")).await.ok()?;
                let content_type = response.headers()["content-type"].to_str().ok()?;
                assert!(
                    content_type.starts_with("text/plain; version=0.0.4"),
                    "{content_type}"
                );
                let text = response.text().await.ok()?;
                let samples = parse_prometheus(&text);
                let succeeded = sample_sum(
                    &samples,
                    "logwarden_worker_jobs_total",
                    &[("kind", "backfill_batch"), ("outcome", "succeeded")],
                );
                (succeeded == ran_count).then_some((text, samples))
            },
        )
        .await;

    assert_eq!(
        sample_sum(
            &samples,
            "logwarden_worker_jobs_total",
            &[("outcome", "succeeded")]
        ),
        ran.len() as f64,
        "{text}"
    );
    assert_eq!(
        sample_sum(&samples, "logwarden_worker_events_ingested_total", &[]),
        events as f64,
        "{text}"
    );
    let requests: Vec<&Sample> = samples
        .iter()
        .filter(|(name, _, _)| name == "logwarden_compliance_api_requests_total")
        .collect();
    assert!(
        requests.iter().map(|(_, _, value)| value).sum::<f64>() > 0.0,
        "{text}"
    );
    for (_, labels, _) in &requests {
        let endpoint = labels
            .iter()
            .find(|(key, _)| key == "endpoint")
            .map(|(_, value)| value.as_str())
            .unwrap_or_else(|| panic!("no endpoint label: {labels:?}"));
        assert!(
            ENDPOINT_TEMPLATES.contains(&endpoint),
            "{endpoint} is not a path template"
        );
    }
    assert!(
        sample_sum(
            &samples,
            "logwarden_compliance_api_requests_total",
            &[("endpoint", ENDPOINT_TEMPLATES[2]), ("status", "200")]
        ) > 0.0,
        "the batches fetched chat messages: {text}"
    );
    assert!(sample_sum(&samples, "logwarden_rate_limit_wait_seconds_count", &[]) > 0.0);
    assert!(sample_sum(&samples, "logwarden_policy_evaluation_seconds_count", &[]) > 0.0);

    fleet.signal(worker, "TERM");
    let status = fleet.wait_exit(worker, Duration::from_secs(30)).await;
    assert!(status.success(), "the worker exits cleanly: {status}");
    assert!(
        reqwest::get(format!("http://{addr}/metrics"))
            .await
            .is_err(),
        "the metrics listener stops with the worker"
    );
}
