//! `logwarden bench ingest`: end-to-end ingestion throughput (fake Compliance API → backfill →
//! queue → worker → policy evaluation → PostgreSQL) measured in one run together with the
//! baselines that bound it — the fake API alone, the fake API plus policy evaluation,
//! apalis-redis with no-op jobs, and a raw PostgreSQL `COPY` of the same rows — so that the
//! ratios between them mean something.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apalis::prelude::{BoxDynError, Data, WorkerBuilder, WorkerBuilderExt};
use chrono::{TimeDelta, Utc};
use futures::{StreamExt, TryStreamExt};
use logwarden_entities::{backfill, integration};
use logwarden_jobs::checkpoint::Progress;
use logwarden_jobs::ingest::run_ingest_window;
use logwarden_jobs::kind::{BackfillStatus, JobKind};
use logwarden_jobs::payload::{JobPayload, Priority};
use logwarden_jobs::retry::JobError;
use logwarden_jobs::source::{EventSink, IngestChunk, Persisted};
use logwarden_jobs::window::{split_range, Window};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::{parse_duration, Settings, SettingsArgs};
use crate::infra::crypto::MasterKey;
use crate::infra::queue::{RedisTransport, Transport};
use crate::infra::secret::Secret;
use crate::ingest::evaluators::EvaluatorProvider;
use crate::ingest::pull::{pull, PullCounts};
use crate::ingest::sink::{DbSink, StoredFinding};
use crate::ingest::source::ApiSource;
use crate::roles::scheduler::Scheduler;
use crate::roles::worker::Worker;
use crate::service::backfills::NewBackfill;
use crate::service::integrations::{client_for, NewIntegration};
use crate::service::Services;
use logwarden_fake_api::{FakeConfig, FakeServer};

/// Width of a backfill batch, and of every window the baselines pull.
const BATCH_WIDTH: TimeDelta = TimeDelta::hours(1);
/// The data plane the benchmark's integration and worker use.
const PLANE: &str = "default";
/// Tables the ingestion writes its data rows to (job bookkeeping aside).
const DATA_TABLES: [&str; 6] = [
    "events",
    "access_events",
    "sessions",
    "violations",
    "alerts",
    "issues",
];
/// Events per sink call, as the worker uses.
const CHUNK: usize = 200;
/// COPY repetitions; the median is reported, since one COPY of a few thousand rows lasts
/// only milliseconds.
const COPY_RUNS: usize = 5;
/// Linux reports process CPU time in clock ticks of a fixed 1/100 s (USER_HZ).
const TICKS_PER_SECOND: f64 = 100.0;

#[derive(Debug, clap::Args)]
pub struct IngestBenchArgs {
    /// Users in the fake organisation.
    #[arg(long, default_value_t = 60)]
    pub users: u32,
    /// Days of history; the backfill covers all of them in 1-hour batches.
    #[arg(long, default_value_t = 2)]
    pub days: u32,
    /// Seed of the fake organisation.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Backfill batches the worker runs at once (also the windows the fake-only baseline
    /// pulls at once, and the no-op worker's concurrency).
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// PostgreSQL server; the run creates a private schema there and drops it at the end.
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    pub database_url: Secret,
    /// Redis for the job transport (and the no-op queue baseline); without it the worker
    /// uses the in-process queue and the queue baseline is skipped.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<Secret>,
    /// No-op tasks pushed through apalis-redis for the queue baseline.
    #[arg(long, default_value_t = 5_000)]
    pub noop_jobs: u64,
    /// How often the scheduler's pump feeds batches to the queue.
    #[arg(long, default_value = "100ms")]
    pub pump_every: String,
    /// Give up when the backfill has not finished after this long.
    #[arg(long, default_value = "30m")]
    pub timeout: String,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Why the benchmark could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid --{field} {value:?}: {expected}")]
    Invalid {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("cannot read {path}: {message}")]
    Proc { path: &'static str, message: String },
    #[error("the backfill ended {status} with {failed} failed batches (of {total})")]
    BackfillFailed {
        status: BackfillStatus,
        failed: i64,
        total: i64,
    },
    #[error("{what} did not finish within {seconds} s")]
    Timeout { what: &'static str, seconds: u64 },
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct IngestBenchReport {
    pub setup: BenchSetup,
    /// What the backfill stored.
    pub stored: StoredCounts,
    /// Fake API → backfill → queue → worker → policy evaluation → PostgreSQL.
    pub end_to_end: Throughput,
    /// The same windows pulled through the client with nothing stored.
    pub fake_only: Throughput,
    /// The same windows pulled and evaluated against the installed policy set, nothing stored.
    pub fake_and_policies: Throughput,
    /// The same chunks stored again through the database sink, nothing else.
    pub sink_alone: Throughput,
    /// Where the jobs' time went.
    pub jobs: JobTimes,
    /// What the fake-only pulls counted over all windows.
    pub pulled: PullTotals,
    /// apalis-redis with a handler that does nothing; absent without Redis.
    pub queue_noop: Option<QueueBaseline>,
    pub copy: CopyBaseline,
    pub ratios: Ratios,
    pub memory: Memory,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchSetup {
    pub users: u32,
    pub days: u32,
    pub seed: u64,
    pub concurrency: usize,
    /// `redis` or `memory`.
    pub transport: String,
    pub batch_width_seconds: i64,
    /// Backfill batches, which are also the windows of the fake-only baseline.
    pub windows: usize,
    pub pump_every_ms: u64,
    pub cpus: usize,
    /// The private PostgreSQL schema of the run, dropped when it ends.
    pub schema: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoredCounts {
    pub events: u64,
    pub access_events: u64,
    pub sessions: u64,
    pub violations: u64,
    pub alerts: u64,
    pub jobs_succeeded: i64,
    /// Compliance API requests the jobs made.
    pub requests: u64,
}

/// Sums of [`PullCounts`] over the windows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PullTotals {
    pub activities: u64,
    pub chats: u64,
    pub messages: u64,
    pub prompt_events: u64,
    pub requests: u64,
}

/// Prompt events through a phase, with its wall time and this process's CPU time.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub events: u64,
    pub seconds: f64,
    pub events_per_second: f64,
    /// User plus system time of the whole process (the in-process fake API included).
    pub cpu_seconds: f64,
    pub cpu_seconds_per_1000_events: f64,
    /// Busy share of all the machine's CPUs (every process, PostgreSQL and Redis included).
    pub machine_cpu_busy: f64,
}

/// Means over the succeeded jobs of the end-to-end phase, from their rows' timestamps.
#[derive(Debug, Clone, Serialize)]
pub struct JobTimes {
    /// Recorded until pushed to the queue (the pump's flow control).
    pub mean_pending_seconds: f64,
    /// Pushed until claimed by the worker.
    pub mean_queued_seconds: f64,
    pub max_queued_seconds: f64,
    /// Claimed until recorded as succeeded: pulling, evaluating, storing, bookkeeping.
    pub mean_run_seconds: f64,
    /// Summed run time ÷ (end-to-end time × concurrency): how busy the worker's slots were.
    pub slot_utilisation: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueBaseline {
    pub jobs: u64,
    pub push_seconds: f64,
    pub pushes_per_second: f64,
    pub run_seconds: f64,
    pub jobs_per_second: f64,
    pub cpu_seconds_per_1000_jobs: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CopyBaseline {
    /// How the rows were loaded.
    pub method: String,
    pub runs: usize,
    pub events: u64,
    /// Median time to load the `events` rows.
    pub events_seconds: f64,
    pub events_per_second: f64,
    /// Rows of every table the ingestion writes data to (events, access events, sessions,
    /// violations, alerts, issues).
    pub all_rows: u64,
    /// Median time to load all of them.
    pub all_rows_seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ratios {
    /// End-to-end events/s ÷ COPY events/s: the headline (goal ≥ 0.5).
    pub end_to_end_vs_copy: f64,
    /// Time to COPY every data row the run stored ÷ end-to-end time.
    pub end_to_end_vs_copy_all_rows: f64,
    /// End-to-end events/s ÷ fake-only events/s.
    pub end_to_end_vs_fake_only: f64,
    /// End-to-end events/s ÷ (fake API + policy evaluation) events/s.
    pub end_to_end_vs_fake_and_policies: f64,
    /// End-to-end events/s ÷ sink-alone events/s.
    pub end_to_end_vs_sink_alone: f64,
    /// Sink-alone events/s ÷ COPY events/s: what the sink's statements cost against the ceiling.
    pub sink_alone_vs_copy: f64,
    /// Share of the end-to-end time the queue alone would take for the run's jobs.
    pub queue_share_of_end_to_end: Option<f64>,
    /// CPU per 1,000 events of (fake API + policy evaluation) minus the fake-only figure.
    pub cpu_seconds_per_1000_events_policies: f64,
    /// End-to-end CPU per 1,000 events minus the (fake API + policy evaluation) figure: what
    /// storing, the queue and the job life cost this process.
    pub cpu_seconds_per_1000_events_storing: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    /// Resident set once the fake organisation is generated, before any phase.
    pub rss_after_setup_bytes: u64,
    /// Peak resident set of the process (VmHWM) up to the end of the end-to-end phase; the
    /// phases after it hold the run's chunks in memory on purpose.
    pub peak_rss_bytes: u64,
}

/// Runs every phase against a private PostgreSQL schema (and Redis key prefix), dropping
/// them afterwards whether the run succeeded or not.
pub async fn run_ingest(args: IngestBenchArgs) -> anyhow::Result<IngestBenchReport> {
    let options = Options::parse(&args)?;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let schema = format!("bench_{run_id}");
    let prefix = format!("lwbench-{run_id}");
    let admin = crate::store::connect(&args.database_url).await?;
    admin
        .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
        .await?;
    let result = run_in_schema(&args, &options, &schema, &prefix).await;
    if let Err(err) = admin
        .execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
    {
        tracing::warn!(%schema, error = %err, "cannot drop the benchmark's schema");
    }
    admin.close().await?;
    if let Some(url) = &args.redis_url {
        if let Err(err) = remove_redis_keys(url, &prefix).await {
            tracing::warn!(%prefix, error = %err, "cannot remove the benchmark's Redis keys");
        }
    }
    result
}

/// The arguments that need parsing, parsed once.
struct Options {
    pump_every: Duration,
    timeout: Duration,
}

impl Options {
    fn parse(args: &IngestBenchArgs) -> Result<Self, BenchError> {
        let positive = |field: &'static str, value: u64| {
            if value == 0 {
                Err(BenchError::Invalid {
                    field,
                    value: value.to_string(),
                    expected: "a whole number of at least 1",
                })
            } else {
                Ok(())
            }
        };
        positive("users", u64::from(args.users))?;
        positive("days", u64::from(args.days))?;
        positive("concurrency", args.concurrency as u64)?;
        positive("noop-jobs", args.noop_jobs)?;
        let duration = |field: &'static str, value: &str| {
            parse_duration(field, value)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| BenchError::Invalid {
                    field,
                    value: value.to_owned(),
                    expected: "a non-zero duration such as 100ms, 5s or 30m",
                })
        };
        Ok(Self {
            pump_every: duration("pump-every", &args.pump_every)?,
            timeout: duration("timeout", &args.timeout)?,
        })
    }
}

async fn run_in_schema(
    args: &IngestBenchArgs,
    options: &Options,
    schema: &str,
    prefix: &str,
) -> anyhow::Result<IngestBenchReport> {
    let db = crate::store::connect_with(&args.database_url, Some(schema)).await?;
    crate::store::migrate(&db).await?;
    let settings = bench_settings(args, prefix)?;
    let app = App::with_database(db.clone(), &settings).await?;
    let services = app.services.clone();

    eprintln!(
        "generating the fake organisation ({} users, {} days)",
        args.users, args.days
    );
    let fake = logwarden_fake_api::spawn(FakeConfig {
        seed: args.seed,
        users: args.users,
        days: args.days,
        rate_limit: None,
        ..FakeConfig::default()
    })
    .await?;
    let windows = split_range(
        fake.history_start(),
        fake.history_end(),
        BATCH_WIDTH,
        crate::service::backfills::MAX_BATCHES,
    )?;
    let integration = services
        .add_integration(NewIntegration {
            name: "bench".to_owned(),
            project: "bench".to_owned(),
            data_plane: PLANE.to_owned(),
            api_key: Secret::new(logwarden_fake_api::DEFAULT_TEST_KEY),
            base_url: Some(fake.base_url()),
            sync_from: Some(fake.history_end()),
        })
        .await?;
    let rss_after_setup_bytes = proc_status_kib("VmRSS")? * 1024;

    eprintln!(
        "fake API alone: pulling {} windows, {} at once",
        windows.len(),
        args.concurrency
    );
    let (fake_only, pulled) = fake_only(&settings, &fake, &windows, args.concurrency).await?;

    eprintln!("end to end: backfill → queue → worker → policies → PostgreSQL");
    let (end_to_end, stored, jobs) =
        end_to_end(&app, &fake, integration.id, args.concurrency, options).await?;
    // Read now: the phases below hold every chunk of the run in memory.
    let peak_rss_bytes = proc_status_kib("VmHWM")? * 1024;

    eprintln!("fake API and policy evaluation: the same windows, kept in memory");
    let (fake_and_policies, recorded) =
        fake_and_policies(&services, &fake, integration.id, &windows, args.concurrency).await?;
    fake.shutdown().await?;

    let queue_noop = match &settings.redis_url {
        Some(url) => {
            eprintln!(
                "queue alone: {} no-op jobs through apalis-redis",
                args.noop_jobs
            );
            Some(queue_noop(url, prefix, args.noop_jobs, args.concurrency, options).await?)
        }
        None => None,
    };

    eprintln!("PostgreSQL COPY of the stored rows ({COPY_RUNS} runs)");
    let copy = copy_baseline(&db).await?;

    eprintln!("the database sink alone: the kept chunks stored again into emptied tables");
    let sink_alone = sink_alone(&services, integration.id, recorded, args.concurrency).await?;
    db.close().await?;

    let ratios = Ratios {
        end_to_end_vs_copy: end_to_end.events_per_second / copy.events_per_second,
        end_to_end_vs_copy_all_rows: copy.all_rows_seconds / end_to_end.seconds,
        end_to_end_vs_fake_only: end_to_end.events_per_second / fake_only.events_per_second,
        end_to_end_vs_fake_and_policies: end_to_end.events_per_second
            / fake_and_policies.events_per_second,
        end_to_end_vs_sink_alone: end_to_end.events_per_second / sink_alone.events_per_second,
        sink_alone_vs_copy: sink_alone.events_per_second / copy.events_per_second,
        queue_share_of_end_to_end: queue_noop
            .as_ref()
            .map(|queue| stored.jobs_succeeded as f64 / queue.jobs_per_second / end_to_end.seconds),
        cpu_seconds_per_1000_events_policies: fake_and_policies.cpu_seconds_per_1000_events
            - fake_only.cpu_seconds_per_1000_events,
        cpu_seconds_per_1000_events_storing: end_to_end.cpu_seconds_per_1000_events
            - fake_and_policies.cpu_seconds_per_1000_events,
    };
    Ok(IngestBenchReport {
        setup: BenchSetup {
            users: args.users,
            days: args.days,
            seed: args.seed,
            concurrency: args.concurrency,
            transport: if settings.redis_url.is_some() {
                "redis"
            } else {
                "memory"
            }
            .to_owned(),
            batch_width_seconds: BATCH_WIDTH.num_seconds(),
            windows: windows.len(),
            pump_every_ms: options.pump_every.as_millis() as u64,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            schema: schema.to_owned(),
        },
        stored,
        end_to_end,
        fake_only,
        fake_and_policies,
        sink_alone,
        jobs,
        pulled,
        queue_noop,
        copy,
        ratios,
        memory: Memory {
            rss_after_setup_bytes,
            peak_rss_bytes,
        },
    })
}

/// The product's settings with two changes: the client-side rate limit is raised to its
/// maximum as the fake's is switched off, and the flow-control limits leave every worker slot
/// fed. The run's own schema, Redis prefix and master key keep it apart from everything else.
fn bench_settings(args: &IngestBenchArgs, prefix: &str) -> anyhow::Result<Arc<Settings>> {
    let in_flight = (2 * args.concurrency).max(16).to_string();
    let settings = Settings::load(&SettingsArgs {
        database_url: Some(args.database_url.clone()),
        redis_url: args.redis_url.clone(),
        redis_prefix: Some(prefix.to_owned()),
        master_key: Some(MasterKey::generate_base64()),
        rate_limit_per_minute: Some(crate::infra::ratelimit::MAX_REQUESTS_PER_WINDOW.to_string()),
        backfill_max_in_flight: Some(in_flight.clone()),
        org_max_in_flight: Some(in_flight),
        // The fake API listens on plain HTTP on loopback.
        allow_loopback_http: Some("true".to_owned()),
        ..Default::default()
    })?;
    Ok(Arc::new(settings))
}

/// Baseline (a): every window pulled through the real client and ingest algorithm, nothing
/// stored, with the worker's concurrency.
async fn fake_only(
    settings: &Settings,
    fake: &FakeServer,
    windows: &[Window],
    concurrency: usize,
) -> anyhow::Result<(Throughput, PullTotals)> {
    let client = client_for(
        settings,
        &fake.base_url(),
        &Secret::new(logwarden_fake_api::DEFAULT_TEST_KEY),
    )?;
    let meter = Meter::start()?;
    let counts: Vec<PullCounts> = futures::stream::iter(windows)
        .map(|window| pull(&client, window.start, window.end, |_| {}))
        .buffer_unordered(concurrency)
        .try_collect()
        .await
        .map_err(|err| anyhow::anyhow!("pulling a window from the fake API: {err}"))?;
    let mut totals = PullTotals::default();
    for c in &counts {
        totals.activities += c.activities;
        totals.chats += c.chats;
        totals.messages += c.messages;
        totals.prompt_events += c.prompt_events;
        totals.requests += c.requests;
    }
    Ok((meter.stop(totals.prompt_events)?, totals))
}

/// Keeps the chunks it is given, for the sink-alone phase.
#[derive(Default)]
struct RecordingSink {
    chunks: Mutex<Vec<IngestChunk<StoredFinding>>>,
}

impl EventSink<StoredFinding> for RecordingSink {
    async fn persist(&self, chunk: IngestChunk<StoredFinding>) -> Result<Persisted, JobError> {
        self.chunks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(chunk);
        Ok(Persisted::default())
    }
}

/// Baseline (a'): the fake-only pulls with the integration's installed policy set evaluating
/// every event, as the worker does, and the chunks kept in memory instead of stored. A fresh
/// evaluator provider, so the set is compiled once here as it is once in the end-to-end phase.
async fn fake_and_policies(
    services: &Services,
    fake: &FakeServer,
    integration_id: i64,
    windows: &[Window],
    concurrency: usize,
) -> anyhow::Result<(Throughput, Vec<IngestChunk<StoredFinding>>)> {
    let client = client_for(
        &services.settings,
        &fake.base_url(),
        &Secret::new(logwarden_fake_api::DEFAULT_TEST_KEY),
    )?;
    let sink = RecordingSink::default();
    let meter = Meter::start()?;
    let evaluator = EvaluatorProvider::default()
        .for_integration(&services.db, integration_id)
        .await
        .map_err(|err| anyhow::anyhow!("loading the installed policy set: {err}"))?;
    let source = ApiSource::new(&client);
    let chunk = std::num::NonZeroUsize::new(CHUNK).unwrap_or(std::num::NonZeroUsize::MIN);
    futures::stream::iter(windows)
        .map(|window| async {
            let progress = Progress::default();
            run_ingest_window(*window, &source, &sink, &evaluator, chunk, &progress).await
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await
        .map_err(|err| anyhow::anyhow!("pulling and evaluating a window: {err}"))?;
    let reading = meter.now()?;
    let chunks = sink.chunks.into_inner().unwrap_or_else(|e| e.into_inner());
    let events = chunks.iter().map(|chunk| chunk.events.len() as u64).sum();
    Ok((reading.throughput(events), chunks))
}

/// Baseline (d): the product's database sink alone. The data tables are emptied and the
/// chunks kept by [`fake_and_policies`] are stored again through [`DbSink`], as many at once
/// as the worker runs jobs: the same rows, statements and transactions as end to end, without
/// the API, the policies, the queue or the job life.
async fn sink_alone(
    services: &Services,
    integration_id: i64,
    chunks: Vec<IngestChunk<StoredFinding>>,
    concurrency: usize,
) -> anyhow::Result<Throughput> {
    let db = &services.db;
    let row = integration::Entity::find_by_id(integration_id)
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("integration {integration_id} disappeared"))?;
    let version = EvaluatorProvider::default()
        .for_integration(db, integration_id)
        .await
        .map_err(|err| anyhow::anyhow!("loading the installed policy set: {err}"))?
        .version();
    db.execute_unprepared(&format!("TRUNCATE {} CASCADE", DATA_TABLES.join(", ")))
        .await?;
    let sink = DbSink {
        db: db.clone(),
        integration_id,
        project_id: row.project_id,
        policy_set_version: version,
    };
    let events = chunks.iter().map(|chunk| chunk.events.len() as u64).sum();
    let meter = Meter::start()?;
    futures::stream::iter(chunks)
        .map(|chunk| sink.persist(chunk))
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await
        .map_err(|err| anyhow::anyhow!("storing a kept chunk: {err}"))?;
    Ok(meter.stop(events)?)
}

/// The measured phase: a backfill of the whole history in 1-hour batches, fed by the
/// scheduler's pump and run by an in-process worker, timed from recording the backfill to
/// its completion.
async fn end_to_end(
    app: &App,
    fake: &FakeServer,
    integration_id: i64,
    concurrency: usize,
    options: &Options,
) -> anyhow::Result<(Throughput, StoredCounts, JobTimes)> {
    let services = &app.services;
    let shutdown = CancellationToken::new();
    let worker = Worker::new(app, "bench-worker".to_owned(), shutdown.clone());
    let scheduler = Scheduler::new(services.clone(), app.transport.clone());

    let meter = Meter::start()?;
    let backfill = services
        .start_backfill(NewBackfill {
            integration_id,
            from: fake.history_start(),
            to: fake.history_end(),
            batch_width: BATCH_WIDTH.to_std().ok(),
            created_by: "bench".to_owned(),
        })
        .await?;
    let worker_task = tokio::spawn(async move { worker.run(PLANE, concurrency).await });
    // The pump pass of `Scheduler::run`, without its cron ticks: sync jobs would pull
    // windows the fake has no history for.
    let pump_task = {
        let shutdown = shutdown.clone();
        let every = options.pump_every;
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = interval.tick() => {
                        if let Err(err) = scheduler.pump(Utc::now()).await {
                            tracing::warn!(error = %err, "pump pass failed");
                        }
                    }
                }
            }
        })
    };
    let finished = wait_for_backfill(services, backfill.id, options).await;
    let end = meter.now();
    shutdown.cancel();
    let _ = pump_task.await;
    worker_task.await??;
    finished?;
    let end = end?;

    let db = &services.db;
    let stored = StoredCounts {
        events: count_rows(db, "events").await?,
        access_events: count_rows(db, "access_events").await?,
        sessions: count_rows(db, "sessions").await?,
        violations: count_rows(db, "violations").await?,
        alerts: count_rows(db, "alerts").await?,
        jobs_succeeded: scalar(db, "SELECT COUNT(*) FROM jobs WHERE status = 'succeeded'").await?
            as i64,
        requests: scalar(db, "SELECT COALESCE(SUM(requests), 0)::BIGINT FROM jobs").await?,
    };
    let throughput = end.throughput(stored.events);
    let jobs = job_times(db, throughput.seconds, concurrency).await?;
    Ok((throughput, stored, jobs))
}

async fn job_times(
    db: &DatabaseConnection,
    seconds: f64,
    concurrency: usize,
) -> anyhow::Result<JobTimes> {
    let sql = "SELECT \
        COALESCE(AVG(EXTRACT(EPOCH FROM enqueued_at - created_at)), 0)::FLOAT8, \
        COALESCE(AVG(EXTRACT(EPOCH FROM started_at - enqueued_at)), 0)::FLOAT8, \
        COALESCE(MAX(EXTRACT(EPOCH FROM started_at - enqueued_at)), 0)::FLOAT8, \
        COALESCE(AVG(EXTRACT(EPOCH FROM finished_at - started_at)), 0)::FLOAT8, \
        COALESCE(SUM(EXTRACT(EPOCH FROM finished_at - started_at)), 0)::FLOAT8 \
        FROM jobs WHERE status = 'succeeded'";
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("the job times query returned no row"))?;
    let at = |i: usize| row.try_get_by_index::<f64>(i);
    Ok(JobTimes {
        mean_pending_seconds: at(0)?,
        mean_queued_seconds: at(1)?,
        max_queued_seconds: at(2)?,
        mean_run_seconds: at(3)?,
        slot_utilisation: at(4)? / (seconds * concurrency as f64),
    })
}

/// Watches the backfill row's status (which the worker refreshes after every batch): one
/// primary-key read per poll, so watching costs the measurement next to nothing.
async fn wait_for_backfill(services: &Services, id: i64, options: &Options) -> anyhow::Result<()> {
    let deadline = Instant::now() + options.timeout;
    let mut interval = tokio::time::interval(Duration::from_millis(25));
    loop {
        interval.tick().await;
        let row = backfill::Entity::find_by_id(id)
            .one(&services.db)
            .await?
            .ok_or_else(|| anyhow::anyhow!("backfill {id} disappeared"))?;
        if row.status == BackfillStatus::Completed {
            return Ok(());
        }
        if row.status.is_terminal() {
            let view = services.backfill(id).await?;
            return Err(BenchError::BackfillFailed {
                status: view.status,
                failed: view.batches_failed,
                total: view.batches_total,
            }
            .into());
        }
        if Instant::now() > deadline {
            return Err(BenchError::Timeout {
                what: "the backfill",
                seconds: options.timeout.as_secs(),
            }
            .into());
        }
    }
}

/// Counts delivered no-op tasks and signals when all have arrived.
struct NoopCounter {
    seen: AtomicU64,
    target: u64,
    done: CancellationToken,
}

async fn noop(_payload: JobPayload, counter: Data<Arc<NoopCounter>>) -> Result<(), BoxDynError> {
    if counter.seen.fetch_add(1, Ordering::Relaxed) + 1 >= counter.target {
        counter.done.cancel();
    }
    Ok(())
}

/// Baseline (b): `jobs` payloads pushed through the product's Redis transport to a queue
/// of a private prefix, then drained by an apalis worker whose handler does nothing.
async fn queue_noop(
    url: &Secret,
    prefix: &str,
    jobs: u64,
    concurrency: usize,
    options: &Options,
) -> anyhow::Result<QueueBaseline> {
    let transport = RedisTransport::connect(url, prefix).await?;
    let plane = "noop";
    let window_start = Utc::now();
    let push = Meter::start()?;
    for job_id in 1..=jobs {
        let payload = JobPayload {
            job_id: job_id as i64,
            kind: JobKind::BackfillBatch,
            integration_id: 1,
            window_start,
            window_end: window_start + BATCH_WIDTH,
            attempt: 1,
        };
        Transport::Redis(transport.clone())
            .push(plane, &payload)
            .await?;
    }
    let pushed = push.stop(jobs)?;

    let counter = Arc::new(NoopCounter {
        seen: AtomicU64::new(0),
        target: jobs,
        done: CancellationToken::new(),
    });
    let done = counter.done.clone();
    let run = Meter::start()?;
    let worker = WorkerBuilder::new(format!("{prefix}-noop"))
        .backend(transport.consumer(plane, Priority::Backfill, concurrency))
        .concurrency(concurrency)
        .data(counter.clone())
        .build(noop)
        .run_until(async move {
            done.cancelled().await;
            Ok::<(), std::io::Error>(())
        });
    match tokio::time::timeout(options.timeout, worker).await {
        Ok(result) => result?,
        Err(_) => {
            return Err(BenchError::Timeout {
                what: "the no-op queue run",
                seconds: options.timeout.as_secs(),
            }
            .into())
        }
    }
    let ran = run.stop(counter.seen.load(Ordering::Relaxed))?;
    Ok(QueueBaseline {
        jobs,
        push_seconds: pushed.seconds,
        pushes_per_second: pushed.events_per_second,
        run_seconds: ran.seconds,
        jobs_per_second: ran.events_per_second,
        cpu_seconds_per_1000_jobs: ran.cpu_seconds_per_1000_events,
    })
}

/// Baseline (c): the stored rows exported with `COPY … TO STDOUT` and loaded with
/// `COPY … FROM STDIN` (binary) into empty copies of their tables with the same indexes —
/// the physical ceiling of persisting them. Only the load is timed.
async fn copy_baseline(db: &DatabaseConnection) -> anyhow::Result<CopyBaseline> {
    let pool = db.get_postgres_connection_pool();
    let mut conn = pool.acquire().await?;
    let mut exported = Vec::new();
    for table in DATA_TABLES {
        let copy = format!("{table}_copy");
        sea_orm::sqlx::raw_sql(sea_orm::sqlx::AssertSqlSafe(format!(
            "CREATE TABLE {copy} (LIKE {table} INCLUDING ALL)"
        )))
        .execute(&mut *conn)
        .await?;
        let chunks: Vec<_> = conn
            .copy_out_raw(&format!("COPY {table} TO STDOUT (FORMAT binary)"))
            .await?
            .try_collect()
            .await?;
        exported.push((table, copy, chunks));
    }

    let mut events_runs = Vec::with_capacity(COPY_RUNS);
    let mut all_runs = Vec::with_capacity(COPY_RUNS);
    let (mut events, mut all_rows) = (0, 0);
    for _ in 0..COPY_RUNS {
        let mut all = Duration::ZERO;
        all_rows = 0;
        for (table, copy, chunks) in &exported {
            sea_orm::sqlx::raw_sql(sea_orm::sqlx::AssertSqlSafe(format!("TRUNCATE {copy}")))
                .execute(&mut *conn)
                .await?;
            let started = Instant::now();
            let mut load = conn
                .copy_in_raw(&format!("COPY {copy} FROM STDIN (FORMAT binary)"))
                .await?;
            for chunk in chunks {
                load.send(chunk.as_ref()).await?;
            }
            let rows = load.finish().await?;
            let took = started.elapsed();
            all += took;
            all_rows += rows;
            if *table == "events" {
                events = rows;
                events_runs.push(took);
            }
        }
        all_runs.push(all);
    }
    let events_seconds = median(&mut events_runs).as_secs_f64();
    Ok(CopyBaseline {
        method: "COPY FROM STDIN (FORMAT binary) into an empty table with the same indexes"
            .to_owned(),
        runs: COPY_RUNS,
        events,
        events_seconds,
        events_per_second: events as f64 / events_seconds,
        all_rows,
        all_rows_seconds: median(&mut all_runs).as_secs_f64(),
    })
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

async fn count_rows(db: &DatabaseConnection, table: &str) -> anyhow::Result<u64> {
    scalar(db, &format!("SELECT COUNT(*) FROM {table}")).await
}

async fn scalar(db: &DatabaseConnection, sql: &str) -> anyhow::Result<u64> {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql.to_owned(),
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("{sql} returned no row"))?;
    Ok(row.try_get_by_index::<i64>(0)?.max(0) as u64)
}

/// Removes every key of the run's prefix, and the queues apalis registered globally.
pub(crate) async fn remove_redis_keys(url: &Secret, prefix: &str) -> anyhow::Result<()> {
    let mut conn = RedisTransport::connect(url, prefix).await?.conn;
    let pattern = format!("*{prefix}*");
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await?;
        if !keys.is_empty() {
            let () = redis::cmd("UNLINK")
                .arg(&keys)
                .query_async(&mut conn)
                .await?;
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    let queues: Vec<String> = redis::cmd("ZRANGE")
        .arg("core:apalis:queues:list")
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await?;
    let ours: Vec<&String> = queues.iter().filter(|q| q.contains(prefix)).collect();
    if !ours.is_empty() {
        let () = redis::cmd("ZREM")
            .arg("core:apalis:queues:list")
            .arg(ours)
            .query_async(&mut conn)
            .await?;
    }
    Ok(())
}

/// Wall time, process CPU time and machine CPU time from a starting point.
struct Meter {
    wall: Instant,
    cpu: Duration,
    machine: MachineCpu,
}

/// A phase's end: the meter's readings at that instant.
struct Reading {
    wall: Duration,
    cpu: Duration,
    machine_busy: f64,
}

impl Meter {
    fn start() -> Result<Self, BenchError> {
        Ok(Self {
            wall: Instant::now(),
            cpu: process_cpu()?,
            machine: MachineCpu::read()?,
        })
    }

    fn now(&self) -> Result<Reading, BenchError> {
        let machine = MachineCpu::read()?;
        Ok(Reading {
            wall: self.wall.elapsed(),
            cpu: process_cpu()?.saturating_sub(self.cpu),
            machine_busy: machine.busy_share_since(&self.machine),
        })
    }

    fn stop(&self, events: u64) -> Result<Throughput, BenchError> {
        Ok(self.now()?.throughput(events))
    }
}

impl Reading {
    fn throughput(&self, events: u64) -> Throughput {
        let seconds = self.wall.as_secs_f64();
        let cpu_seconds = self.cpu.as_secs_f64();
        Throughput {
            events,
            seconds,
            events_per_second: events as f64 / seconds,
            cpu_seconds,
            cpu_seconds_per_1000_events: cpu_seconds * 1000.0 / events.max(1) as f64,
            machine_cpu_busy: self.machine_busy,
        }
    }
}

/// User plus system CPU time of this process, all threads, living and exited.
fn process_cpu() -> Result<Duration, BenchError> {
    let path = "/proc/self/stat";
    let stat = std::fs::read_to_string(path).map_err(|err| BenchError::Proc {
        path,
        message: err.to_string(),
    })?;
    cpu_from_stat(&stat).ok_or(BenchError::Proc {
        path,
        message: "no utime and stime fields".to_owned(),
    })
}

/// utime and stime are fields 14 and 15; the command name (field 2) may hold spaces, so
/// fields are counted from the closing parenthesis, after which field 3 comes.
fn cpu_from_stat(stat: &str) -> Option<Duration> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_secs_f64(
        (utime + stime) as f64 / TICKS_PER_SECOND,
    ))
}

/// A `Vm…` line of /proc/self/status, in KiB.
fn proc_status_kib(field: &str) -> Result<u64, BenchError> {
    let path = "/proc/self/status";
    let status = std::fs::read_to_string(path).map_err(|err| BenchError::Proc {
        path,
        message: err.to_string(),
    })?;
    status_kib(&status, field).ok_or_else(|| BenchError::Proc {
        path,
        message: format!("no {field} line"),
    })
}

fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
}

/// The machine-wide CPU counters of /proc/stat's first line.
struct MachineCpu {
    busy: u64,
    total: u64,
}

impl MachineCpu {
    fn read() -> Result<Self, BenchError> {
        let path = "/proc/stat";
        let stat = std::fs::read_to_string(path).map_err(|err| BenchError::Proc {
            path,
            message: err.to_string(),
        })?;
        Self::parse(&stat).ok_or(BenchError::Proc {
            path,
            message: "no cpu line".to_owned(),
        })
    }

    /// `cpu user nice system idle iowait irq softirq steal …`: idle and iowait are not busy.
    fn parse(stat: &str) -> Option<Self> {
        let line = stat.lines().find(|line| line.starts_with("cpu "))?;
        let values: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|v| v.parse().ok())
            .collect::<Option<_>>()?;
        let total: u64 = values.iter().sum();
        let idle = values.get(3)? + values.get(4)?;
        Some(Self {
            busy: total - idle,
            total,
        })
    }

    fn busy_share_since(&self, earlier: &Self) -> f64 {
        let total = self.total.saturating_sub(earlier.total);
        if total == 0 {
            return 0.0;
        }
        self.busy.saturating_sub(earlier.busy) as f64 / total as f64
    }
}

impl fmt::Display for IngestBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.setup;
        let d = &self.stored;
        writeln!(
            f,
            "ingestion benchmark: {} users × {} days (seed {}), {} windows of {} s, \
             concurrency {}, {} transport, {} CPUs",
            s.users,
            s.days,
            s.seed,
            s.windows,
            s.batch_width_seconds,
            s.concurrency,
            s.transport,
            s.cpus
        )?;
        writeln!(
            f,
            "stored: {} events, {} access events, {} sessions, {} violations, {} alerts; \
             {} jobs made {} API requests",
            d.events,
            d.access_events,
            d.sessions,
            d.violations,
            d.alerts,
            d.jobs_succeeded,
            d.requests
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<42} {:>8} {:>9} {:>10} {:>9} {:>8}",
            "phase", "items", "seconds", "items/s", "CPU s/1k", "machine"
        )?;
        let measured = |f: &mut fmt::Formatter<'_>, name: &str, t: &Throughput| {
            writeln!(
                f,
                "{:<42} {:>8} {:>9.3} {:>10.1} {:>9.3} {:>7.0}%",
                name,
                t.events,
                t.seconds,
                t.events_per_second,
                t.cpu_seconds_per_1000_events,
                t.machine_cpu_busy * 100.0
            )
        };
        let loaded = |f: &mut fmt::Formatter<'_>, name: &str, rows: u64, seconds: f64| {
            writeln!(
                f,
                "{:<42} {:>8} {:>9.3} {:>10.1} {:>9} {:>8}",
                name,
                rows,
                seconds,
                rows as f64 / seconds,
                "-",
                "-"
            )
        };
        measured(
            f,
            "end to end (API→queue→worker→policies→PG)",
            &self.end_to_end,
        )?;
        measured(f, "fake API alone (pull, nothing stored)", &self.fake_only)?;
        measured(
            f,
            "fake API + policy evaluation (not stored)",
            &self.fake_and_policies,
        )?;
        measured(f, "database sink alone (same chunks)", &self.sink_alone)?;
        loaded(
            f,
            "PostgreSQL COPY of the events rows",
            self.copy.events,
            self.copy.events_seconds,
        )?;
        loaded(
            f,
            "PostgreSQL COPY of all stored data rows",
            self.copy.all_rows,
            self.copy.all_rows_seconds,
        )?;
        match &self.queue_noop {
            Some(q) => {
                writeln!(
                    f,
                    "{:<42} {:>8} {:>9.3} {:>10.1} {:>9.3} {:>8}",
                    "apalis-redis no-op jobs (run)",
                    q.jobs,
                    q.run_seconds,
                    q.jobs_per_second,
                    q.cpu_seconds_per_1000_jobs,
                    "-"
                )?;
                writeln!(
                    f,
                    "{:<42} {:>8} {:>9.3} {:>10.1}",
                    "apalis-redis no-op jobs (push)", q.jobs, q.push_seconds, q.pushes_per_second
                )?;
            }
            None => writeln!(f, "apalis-redis no-op jobs: skipped (no --redis-url)")?,
        }
        writeln!(f)?;
        let j = &self.jobs;
        writeln!(
            f,
            "jobs (means): pending {:.3} s, queued {:.3} s (max {:.3} s), running {:.3} s; \
             worker slots {:.0} % busy",
            j.mean_pending_seconds,
            j.mean_queued_seconds,
            j.max_queued_seconds,
            j.mean_run_seconds,
            j.slot_utilisation * 100.0
        )?;
        let r = &self.ratios;
        let percent = |f: &mut fmt::Formatter<'_>, name: &str, ratio: f64| {
            writeln!(f, "{name:<34} {:>7.1} %", ratio * 100.0)
        };
        percent(f, "end to end / COPY (events)", r.end_to_end_vs_copy)?;
        percent(
            f,
            "end to end / COPY (all data rows)",
            r.end_to_end_vs_copy_all_rows,
        )?;
        percent(f, "end to end / fake API alone", r.end_to_end_vs_fake_only)?;
        percent(
            f,
            "end to end / fake API + policies",
            r.end_to_end_vs_fake_and_policies,
        )?;
        percent(
            f,
            "end to end / database sink alone",
            r.end_to_end_vs_sink_alone,
        )?;
        percent(
            f,
            "database sink alone / COPY (events)",
            r.sink_alone_vs_copy,
        )?;
        if let Some(share) = r.queue_share_of_end_to_end {
            writeln!(
                f,
                "{:<34} {:>7.2} %",
                "queue (no-op) share of end to end",
                share * 100.0
            )?;
        }
        writeln!(
            f,
            "CPU s per 1k events: {:.3} policy evaluation, {:.3} storing and job life",
            r.cpu_seconds_per_1000_events_policies, r.cpu_seconds_per_1000_events_storing
        )?;
        writeln!(
            f,
            "goal end to end ≥ 50 % of COPY (events): {}",
            if r.end_to_end_vs_copy >= 0.5 {
                "met"
            } else {
                "not met"
            }
        )?;
        write!(
            f,
            "memory: {:.1} MiB resident after setup, peak {:.1} MiB through end to end",
            self.memory.rss_after_setup_bytes as f64 / 1_048_576.0,
            self.memory.peak_rss_bytes as f64 / 1_048_576.0
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_after_a_command_name_with_spaces_and_parentheses() {
        let stat =
            "4242 (tokio (rt) w) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 70 0 0 20 0 9 0 1 2 3";
        assert_eq!(cpu_from_stat(stat), Some(Duration::from_millis(3_200)));
        assert_eq!(cpu_from_stat("4242 (short) S 1"), None);
    }

    #[test]
    fn this_process_s_cpu_time_grows_with_work() {
        let before = process_cpu().unwrap();
        let started = Instant::now();
        let mut x = 0u64;
        while started.elapsed() < Duration::from_millis(150) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        assert!(process_cpu().unwrap() > before);
    }

    #[test]
    fn status_fields_are_read_in_kib() {
        let status = "Name:\tlogwarden\nVmHWMx:\t1 kB\nVmHWM:\t  20480 kB\nVmRSS:\t10240 kB\n";
        assert_eq!(status_kib(status, "VmHWM"), Some(20_480));
        assert_eq!(status_kib(status, "VmSwap"), None);
        assert!(proc_status_kib("VmHWM").unwrap() >= proc_status_kib("VmRSS").unwrap() / 2);
    }

    #[test]
    fn machine_busy_share_excludes_idle_and_iowait() {
        let earlier = MachineCpu::parse("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1").unwrap();
        let later = MachineCpu::parse("cpu  200 0 200 800 200 0 0 0 0 0\ncpu0 1").unwrap();
        assert!((later.busy_share_since(&earlier) - 0.5).abs() < 1e-9);
    }

    fn small_run(redis_url: Option<String>) -> IngestBenchArgs {
        let env = |name: &str, default: &str| std::env::var(name).unwrap_or(default.to_owned());
        IngestBenchArgs {
            users: 2,
            days: 1,
            seed: 11,
            concurrency: 2,
            database_url: Secret::new(env(
                "TEST_DATABASE_URL",
                "postgres://postgres@127.0.0.1:5432/test",
            )),
            redis_url: redis_url.map(Secret::new),
            noop_jobs: 200,
            pump_every: "50ms".to_owned(),
            timeout: "2m".to_owned(),
            json: false,
        }
    }

    async fn schema_exists(url: &Secret, schema: &str) -> bool {
        let db = crate::store::connect(url).await.unwrap();
        let row = db
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                db.get_database_backend(),
                "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = $1",
                [schema.into()],
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<i64>(0).unwrap() == 1
    }

    #[test]
    fn a_zero_concurrency_is_rejected_naming_the_flag() {
        let args = IngestBenchArgs {
            concurrency: 0,
            ..small_run(None)
        };
        let err = Options::parse(&args).err().unwrap().to_string();
        assert!(err.contains("--concurrency"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_on_the_in_process_queue_stores_every_pulled_event_and_drops_its_schema() {
        let args = small_run(None);
        let url = args.database_url.clone();

        let report = run_ingest(args).await.unwrap();

        assert!(report.pulled.prompt_events > 0);
        assert_eq!(report.stored.events, report.pulled.prompt_events);
        assert_eq!(report.stored.access_events, report.pulled.activities);
        assert_eq!(report.stored.jobs_succeeded as usize, report.setup.windows);
        assert_eq!(report.copy.events, report.stored.events);
        let stored = &report.stored;
        assert!(
            report.copy.all_rows
                >= stored.events
                    + stored.access_events
                    + stored.sessions
                    + stored.violations
                    + stored.alerts
        );
        assert_eq!(report.fake_and_policies.events, report.pulled.prompt_events);
        assert_eq!(report.sink_alone.events, report.stored.events);
        assert!(report.jobs.mean_run_seconds > 0.0);
        assert!(report.end_to_end.events_per_second > 0.0);
        assert!(report.ratios.end_to_end_vs_copy > 0.0);
        assert!(report.queue_noop.is_none());
        assert!(report.memory.peak_rss_bytes >= report.memory.rss_after_setup_bytes);
        assert!(report.setup.schema.starts_with("bench_"));
        assert!(!schema_exists(&url, &report.setup.schema).await);
        let table = report.to_string();
        assert!(table.contains("end to end / COPY"), "{table}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_run_on_redis_measures_the_no_op_queue_too() {
        let redis = std::env::var("TEST_REDIS_URL").unwrap_or("redis://127.0.0.1:6379".to_owned());

        let report = run_ingest(small_run(Some(redis))).await.unwrap();

        assert_eq!(report.setup.transport, "redis");
        assert_eq!(report.stored.events, report.pulled.prompt_events);
        let queue = report.queue_noop.expect("the no-op queue baseline");
        assert_eq!(queue.jobs, 200);
        assert!(queue.jobs_per_second > 0.0 && queue.pushes_per_second > 0.0);
        assert!(report.ratios.queue_share_of_end_to_end.is_some());
    }
}
