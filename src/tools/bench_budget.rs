//! `logwarden bench budget`: how much of an organisation's rate budget a fleet of worker
//! processes uses during a long backfill, how long sync windows take meanwhile, and how many
//! requests each window costs against the least the Compliance API allows.
//!
//! The fake API (in this process) enforces the budget and counts what it receives; the
//! scheduler runs in this process and the workers are child processes of this binary, on a
//! private PostgreSQL schema and Redis key prefix that the run removes at its end.

use std::fmt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use logwarden_entities::job;
use logwarden_jobs::kind::{JobKind, JobStatus};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::{parse_duration, Settings, SettingsArgs};
use crate::infra::crypto::MasterKey;
use crate::infra::secret::Secret;
use crate::roles::scheduler::Scheduler;
use crate::service::backfills::NewBackfill;
use crate::service::integrations::NewIntegration;
use crate::tools::bench::remove_redis_keys;
use logwarden_fake_api::{FakeConfig, FakeServer};

const PLANE: &str = "default";
/// The least the API allows per window: activity pages of 5,000 and chat pages of 1,000 (one
/// of each even when empty), and one messages request per updated chat.
const ACTIVITY_PAGE_MAX: u64 = 5_000;
const CHAT_PAGE_MAX: u64 = 1_000;

#[derive(Debug, clap::Args)]
pub struct BudgetBenchArgs {
    /// Worker processes of the fleet.
    #[arg(long, default_value_t = 2)]
    pub workers: u32,
    /// `--concurrency` of each worker.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Requests per minute the fake API allows the organisation (and the fleet's setting).
    #[arg(long, default_value_t = 600)]
    pub rate_limit: u32,
    /// How long the fleet runs, from the start of the backfill.
    #[arg(long, default_value = "3m")]
    pub duration: String,
    /// Users in the fake organisation.
    #[arg(long, default_value_t = 400)]
    pub users: u32,
    #[arg(long, default_value_t = 4)]
    pub chats_per_user_per_day: u32,
    /// Days of history, running into the present so that sync windows find activity.
    #[arg(long, default_value_t = 14)]
    pub days: u32,
    /// Days of the backfill, from the start of the history.
    #[arg(long, default_value_t = 13)]
    pub backfill_days: u32,
    /// Sync tick (cron with seconds); short, so that a few syncs run during the backfill.
    #[arg(long, default_value = "*/30 * * * * *")]
    pub sync_schedule: String,
    /// Seed of the fake organisation.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// PostgreSQL server; the run creates a private schema there and drops it at the end.
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    pub database_url: Secret,
    /// Redis of the fleet (the workers are separate processes).
    #[arg(
        long,
        env = "REDIS_URL",
        hide_env_values = true,
        default_value = "redis://127.0.0.1:6379"
    )]
    pub redis_url: Secret,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BudgetBenchReport {
    pub workers: u32,
    pub concurrency: usize,
    pub rate_limit_per_minute: u32,
    pub sync_reserved_percent: u32,
    pub seconds: f64,
    /// Requests the fake API received in each whole minute since the backfill started.
    pub requests_per_minute: Vec<u64>,
    /// Requests of the minutes after the first over the limit of those minutes.
    pub utilisation_after_first_minute: f64,
    /// 429s from the fake API's own limit (no fault is injected).
    pub api_rate_limited: u64,
    /// The most requests the fake received in any 60 seconds.
    pub max_requests_in_60s: u64,
    pub sync: SyncLatency,
    pub requests: RequestCounts,
    pub backfill_batches_succeeded: u64,
}

/// Time from a sync job's creation at its tick to its end.
#[derive(Debug, Clone, Serialize)]
pub struct SyncLatency {
    pub tick_seconds: i64,
    pub jobs: usize,
    /// Syncs still unfinished at the end count with their age then.
    pub unfinished: usize,
    pub p50_seconds: f64,
    pub p95_seconds: f64,
}

/// Requests of the succeeded windows against the least the API allows for them.
#[derive(Debug, Clone, Serialize)]
pub struct RequestCounts {
    pub windows: usize,
    pub requests: u64,
    pub minimum: u64,
    pub ratio: f64,
}

impl fmt::Display for BudgetBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "fleet: {} worker processes × concurrency {}, budget {}/min ({} % kept for syncs), {:.0} s",
            self.workers,
            self.concurrency,
            self.rate_limit_per_minute,
            self.sync_reserved_percent,
            self.seconds
        )?;
        let minutes: Vec<String> = self
            .requests_per_minute
            .iter()
            .map(u64::to_string)
            .collect();
        writeln!(f, "requests per minute: {}", minutes.join(", "))?;
        writeln!(
            f,
            "utilisation after the first minute: {:.1} %",
            self.utilisation_after_first_minute * 100.0
        )?;
        writeln!(
            f,
            "429s from the API's limit: {}; most requests in any 60 s: {}",
            self.api_rate_limited, self.max_requests_in_60s
        )?;
        writeln!(
            f,
            "sync latency (tick {} s): p50 {:.1} s, p95 {:.1} s over {} syncs ({} unfinished)",
            self.sync.tick_seconds,
            self.sync.p50_seconds,
            self.sync.p95_seconds,
            self.sync.jobs,
            self.sync.unfinished
        )?;
        writeln!(
            f,
            "requests per window: {} for {} windows, minimum {}, ratio {:.3}",
            self.requests.requests,
            self.requests.windows,
            self.requests.minimum,
            self.requests.ratio
        )?;
        write!(
            f,
            "backfill batches succeeded: {}",
            self.backfill_batches_succeeded
        )
    }
}

/// Runs the fleet against a private PostgreSQL schema and Redis prefix, removed at the end.
pub async fn run_budget(args: BudgetBenchArgs) -> anyhow::Result<BudgetBenchReport> {
    if args.workers == 0 || args.concurrency == 0 {
        anyhow::bail!("invalid --workers/--concurrency: both must be at least 1");
    }
    if args.backfill_days == 0 || args.backfill_days > args.days {
        anyhow::bail!(
            "invalid --backfill-days {}: must be between 1 and --days ({})",
            args.backfill_days,
            args.days
        );
    }
    let duration = parse_duration("duration", &args.duration)?;
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let schema = format!("bench_{run_id}");
    let prefix = format!("logwarden-bench-{run_id}");
    let admin = crate::store::connect_with(&args.database_url, None).await?;
    admin
        .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
        .await?;
    let result = run_in_schema(&args, duration, &schema, &prefix).await;
    if let Err(err) = admin
        .execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
    {
        tracing::warn!(%schema, error = %err, "cannot drop the benchmark's schema");
    }
    if let Err(err) = remove_redis_keys(&args.redis_url, &prefix).await {
        tracing::warn!(error = %err, "cannot remove the benchmark's Redis keys");
    }
    result
}

async fn run_in_schema(
    args: &BudgetBenchArgs,
    duration: Duration,
    schema: &str,
    prefix: &str,
) -> anyhow::Result<BudgetBenchReport> {
    let db = crate::store::connect_with(&args.database_url, Some(schema)).await?;
    crate::store::migrate(&db).await?;
    let master_key = MasterKey::generate_base64();
    let settings = Settings::load(&SettingsArgs {
        database_url: Some(args.database_url.clone()),
        redis_url: Some(args.redis_url.clone()),
        redis_prefix: Some(prefix.to_owned()),
        master_key: Some(master_key.clone()),
        rate_limit_per_minute: Some(args.rate_limit.to_string()),
        sync_schedule: Some(args.sync_schedule.clone()),
        // The fake API listens on plain HTTP on loopback.
        allow_loopback_http: Some("true".to_owned()),
        ..Default::default()
    })?;
    let app = App::with_database(db.clone(), &settings).await?;
    let services = app.services.clone();

    eprintln!(
        "generating the fake organisation ({} users × {} chats a day, {} days)",
        args.users, args.chats_per_user_per_day, args.days
    );
    let fake = logwarden_fake_api::spawn(FakeConfig {
        seed: args.seed,
        users: args.users,
        chats_per_user_per_day: args.chats_per_user_per_day,
        days: args.days,
        rate_limit: Some(args.rate_limit),
        live: true,
        ..FakeConfig::default()
    })
    .await?;
    let integration = services
        .add_integration(NewIntegration {
            name: "bench".to_owned(),
            project: "bench".to_owned(),
            data_plane: PLANE.to_owned(),
            api_key: Secret::new(logwarden_fake_api::DEFAULT_TEST_KEY),
            base_url: Some(fake.base_url()),
            sync_from: None,
        })
        .await?;

    eprintln!("starting {} worker processes", args.workers);
    let worker_url = with_search_path(args.database_url.expose(), schema);
    let mut workers = Vec::new();
    for index in 0..args.workers {
        let child = tokio::process::Command::new(std::env::current_exe()?)
            .args(["worker", "--data-plane", PLANE, "--concurrency"])
            .arg(args.concurrency.to_string())
            .arg("--name")
            .arg(format!("bench-worker-{index}"))
            .env("DATABASE_URL", &worker_url)
            .env("REDIS_URL", args.redis_url.expose())
            .env("LOGWARDEN_REDIS_PREFIX", prefix)
            .env("LOGWARDEN_MASTER_KEY", master_key.expose())
            .env("LOGWARDEN_ALLOW_LOOPBACK_HTTP", "true")
            .env(
                "LOGWARDEN_RATE_LIMIT_PER_MINUTE",
                args.rate_limit.to_string(),
            )
            .env("LOGWARDEN_LOG_LEVEL", "warn")
            .env_remove("LOGWARDEN_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        workers.push(child);
    }

    let shutdown = CancellationToken::new();
    let scheduler = Scheduler::new(services.clone(), app.transport.clone());
    let scheduler_task = {
        let shutdown = shutdown.clone();
        tokio::spawn(async move { scheduler.run(Duration::from_secs(2), shutdown).await })
    };
    let backfill_from = fake.history_start();
    let backfill_to = backfill_from + chrono::TimeDelta::days(i64::from(args.backfill_days));
    fake.reset_stats();
    let started_wall = Utc::now();
    let started = Instant::now();
    services
        .start_backfill(NewBackfill {
            integration_id: integration.id,
            from: backfill_from,
            to: backfill_to,
            batch_width: None,
            created_by: "bench".to_owned(),
        })
        .await?;
    eprintln!(
        "backfilling {} days for {} s",
        args.backfill_days,
        duration.as_secs()
    );
    let requests_per_minute = sample_minutes(&fake, started, duration).await;
    let seconds = started.elapsed().as_secs_f64();
    let ended_wall = Utc::now();
    let stats = fake.stats();

    shutdown.cancel();
    for worker in &mut workers {
        worker.start_kill()?;
    }
    for mut worker in workers {
        worker.wait().await?;
    }
    scheduler_task.await??;

    let sync = sync_latency(&db, &settings, started_wall, ended_wall).await?;
    let (requests, batches) = request_counts(&db, &fake, started_wall).await?;
    fake.shutdown().await?;
    db.close().await?;

    let later: u64 = requests_per_minute.iter().skip(1).sum();
    let later_minutes = requests_per_minute.len().saturating_sub(1) as f64;
    Ok(BudgetBenchReport {
        workers: args.workers,
        concurrency: args.concurrency,
        rate_limit_per_minute: args.rate_limit,
        sync_reserved_percent: settings.sync_reserved_percent,
        seconds,
        utilisation_after_first_minute: if later_minutes > 0.0 {
            later as f64 / (later_minutes * f64::from(args.rate_limit))
        } else {
            0.0
        },
        requests_per_minute,
        api_rate_limited: stats.by_status.get(&429).copied().unwrap_or(0),
        max_requests_in_60s: stats.max_requests_in_60s,
        sync,
        requests,
        backfill_batches_succeeded: batches,
    })
}

/// The worker processes reach the run's schema through the URL alone.
fn with_search_path(url: &str, schema: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-c%20search_path%3D{schema}")
}

/// Requests received in each whole minute of `duration` from `started`.
async fn sample_minutes(fake: &FakeServer, started: Instant, duration: Duration) -> Vec<u64> {
    let minutes = duration.as_secs() / 60;
    let mut counts = Vec::new();
    let mut before = 0;
    for minute in 1..=minutes {
        tokio::time::sleep_until((started + Duration::from_secs(minute * 60)).into()).await;
        let now = fake.stats().requests;
        counts.push(now - before);
        before = now;
    }
    tokio::time::sleep_until((started + duration).into()).await;
    counts
}

async fn sync_latency(
    db: &sea_orm::DatabaseConnection,
    settings: &Settings,
    from: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<SyncLatency> {
    let syncs = job::Entity::find()
        .filter(job::Column::Kind.eq(JobKind::Sync))
        .filter(job::Column::CreatedAt.gte(from))
        .all(db)
        .await?;
    let mut unfinished = 0;
    let mut seconds: Vec<f64> = syncs
        .iter()
        .map(|row| {
            let finished = match (row.status, row.finished_at) {
                (JobStatus::Succeeded | JobStatus::Failed, Some(at)) => at,
                _ => {
                    unfinished += 1;
                    end
                }
            };
            (finished - row.created_at).as_seconds_f64()
        })
        .collect();
    seconds.sort_by(f64::total_cmp);
    Ok(SyncLatency {
        tick_seconds: settings.sync_period().num_seconds(),
        jobs: seconds.len(),
        unfinished,
        p50_seconds: percentile(&seconds, 0.50),
        p95_seconds: percentile(&seconds, 0.95),
    })
}

fn percentile(sorted: &[f64], share: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (share * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The least requests a window allows, given what the API holds for it.
pub fn minimum_requests(activities: u64, updated_chats: u64) -> u64 {
    activities.div_ceil(ACTIVITY_PAGE_MAX).max(1)
        + updated_chats.div_ceil(CHAT_PAGE_MAX).max(1)
        + updated_chats
}

/// Requests of the windows that succeeded during the run, and their minimum from the fake's
/// manifest of each window; also the number of backfill batches among them.
async fn request_counts(
    db: &sea_orm::DatabaseConnection,
    fake: &FakeServer,
    from: DateTime<Utc>,
) -> anyhow::Result<(RequestCounts, u64)> {
    let done = job::Entity::find()
        .filter(job::Column::Status.eq(JobStatus::Succeeded))
        .filter(job::Column::CreatedAt.gte(from))
        .all(db)
        .await?;
    let (mut requests, mut minimum, mut batches) = (0u64, 0u64, 0u64);
    for row in &done {
        let manifest = fake.manifest(row.window_start, row.window_end);
        requests += u64::try_from(row.requests).unwrap_or(0);
        minimum += minimum_requests(manifest.activities, manifest.chats);
        batches += u64::from(row.kind == JobKind::BackfillBatch);
    }
    Ok((
        RequestCounts {
            windows: done.len(),
            requests,
            minimum,
            ratio: if minimum == 0 {
                0.0
            } else {
                requests as f64 / minimum as f64
            },
        },
        batches,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_minimum_counts_one_page_of_each_list_even_when_empty_and_one_request_per_chat() {
        assert_eq!(minimum_requests(0, 0), 2);
        assert_eq!(minimum_requests(5_000, 1_000), 1 + 1 + 1_000);
        assert_eq!(minimum_requests(5_001, 1_001), 2 + 2 + 1_001);
    }

    #[test]
    fn workers_reach_the_schema_through_the_url_options() {
        assert_eq!(
            with_search_path("postgres://u@h/db", "bench_x"),
            "postgres://u@h/db?options=-c%20search_path%3Dbench_x"
        );
        assert_eq!(
            with_search_path("postgres://u@h/db?sslmode=disable", "s"),
            "postgres://u@h/db?sslmode=disable&options=-c%20search_path%3Ds"
        );
    }
}
