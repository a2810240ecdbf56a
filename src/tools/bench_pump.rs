//! `logwarden bench pump`: one scheduler pump pass against a large backlog of backfill
//! batches (default 1,000,000 batch rows over 100 backfills, 90 % done) on PostgreSQL, with
//! the same-run cost of what the pump did before (recounting every batch row of every open
//! backfill) as the baseline, and the time to create a long backfill of narrow batches.

use std::fmt;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use serde::Serialize;

use crate::app::App;
use crate::config::{Settings, SettingsArgs};
use crate::infra::crypto::MasterKey;
use crate::infra::secret::Secret;
use crate::roles::scheduler::Scheduler;
use crate::service::backfills::NewBackfill;
use crate::service::integrations::NewIntegration;
use crate::store::backfills::{batch_counts, recount_batches};
use logwarden_fake_api::FakeConfig;

#[derive(Debug, clap::Args)]
pub struct PumpBenchArgs {
    /// Open backfills.
    #[arg(long, default_value_t = 100)]
    pub backfills: u32,
    /// Batch rows of each backfill.
    #[arg(long, default_value_t = 10_000)]
    pub batches: u32,
    /// Share of each backfill's batches already succeeded, in percent.
    #[arg(long, default_value_t = 90)]
    pub done_percent: u32,
    /// Integrations the backfills are spread over.
    #[arg(long, default_value_t = 10)]
    pub integrations: u32,
    /// Measured pump passes; between two, 50 in-flight batches finish (untimed).
    #[arg(long, default_value_t = 20)]
    pub passes: usize,
    /// PostgreSQL server; the run creates a private schema there and drops it at the end.
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    pub database_url: Secret,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// What one run measured (milliseconds).
#[derive(Debug, Clone, Serialize)]
pub struct PumpBenchReport {
    pub batch_rows: u64,
    pub backfills: u32,
    pub done_percent: u32,
    /// The first pass, which refreshes every backfill (all changed since setup).
    pub first_pass_ms: f64,
    /// Passes after 50 batches finished: p50 / p95 / max.
    pub pass_p50_ms: f64,
    pub pass_p95_ms: f64,
    pub pass_max_ms: f64,
    /// Baseline: recounting every batch row of every open backfill by status, as the pump
    /// did each pass before the counters.
    pub recount_all_ms: f64,
    /// Creating a 365-day backfill of 15-minute batches through the service.
    pub create_long_backfill_ms: f64,
    pub create_long_backfill_batches: i64,
    /// The counters on every backfill row equal a recount of its batch rows.
    pub counters_match_recount: bool,
}

impl fmt::Display for PumpBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} batch rows over {} backfills, {} % done",
            self.batch_rows, self.backfills, self.done_percent
        )?;
        writeln!(
            f,
            "first pump pass (every backfill refreshed): {:.1} ms",
            self.first_pass_ms
        )?;
        writeln!(
            f,
            "pump pass after 50 batches finished: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
            self.pass_p50_ms, self.pass_p95_ms, self.pass_max_ms
        )?;
        writeln!(
            f,
            "baseline, recount of every batch row of every open backfill: {:.1} ms",
            self.recount_all_ms
        )?;
        writeln!(
            f,
            "creating a backfill of {} batches: {:.1} ms",
            self.create_long_backfill_batches, self.create_long_backfill_ms
        )?;
        write!(
            f,
            "counters match a recount: {}",
            self.counters_match_recount
        )
    }
}

pub async fn run_pump(args: PumpBenchArgs) -> anyhow::Result<PumpBenchReport> {
    if args.backfills == 0 || args.batches == 0 || args.integrations == 0 || args.passes == 0 {
        anyhow::bail!("--backfills, --batches, --integrations and --passes must be at least 1");
    }
    if args.done_percent > 100 {
        anyhow::bail!("invalid --done-percent {}: 0 to 100", args.done_percent);
    }
    let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let admin = crate::store::connect(&args.database_url).await?;
    admin
        .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
        .await?;
    let result = run_in_schema(&args, &schema).await;
    if let Err(err) = admin
        .execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
    {
        tracing::warn!(%schema, error = %err, "cannot drop the benchmark's schema");
    }
    admin.close().await?;
    result
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn run_in_schema(args: &PumpBenchArgs, schema: &str) -> anyhow::Result<PumpBenchReport> {
    let db = crate::store::connect_with(&args.database_url, Some(schema)).await?;
    crate::store::migrate(&db).await?;
    let settings = Settings::load(&SettingsArgs {
        database_url: Some(args.database_url.clone()),
        master_key: Some(MasterKey::generate_base64()),
        // The fake API listens on plain HTTP on loopback.
        allow_loopback_http: Some("true".to_owned()),
        ..Default::default()
    })?;
    let app = App::with_database(db.clone(), &settings).await?;
    let services = app.services.clone();
    let fake = logwarden_fake_api::spawn(FakeConfig {
        users: 1,
        days: 1,
        rate_limit: None,
        ..FakeConfig::default()
    })
    .await?;
    let mut integration_ids = Vec::new();
    for n in 0..args.integrations {
        let row = services
            .add_integration(NewIntegration {
                name: format!("bench-{n}"),
                project: "bench".to_owned(),
                data_plane: "default".to_owned(),
                api_key: Secret::new(logwarden_fake_api::DEFAULT_TEST_KEY),
                base_url: Some(fake.base_url()),
                sync_from: Some(fake.history_end()),
            })
            .await?;
        integration_ids.push(row.id);
    }
    eprintln!(
        "writing {} batch rows over {} backfills",
        u64::from(args.backfills) * u64::from(args.batches),
        args.backfills
    );
    seed(&db, args, &integration_ids).await?;
    fake.shutdown().await?;

    let scheduler = Scheduler::new(services.clone(), app.transport.clone());
    let started = Instant::now();
    scheduler.pump(Utc::now()).await?;
    let first_pass = started.elapsed();
    let mut passes = Vec::with_capacity(args.passes);
    for _ in 0..args.passes {
        // Untimed: 50 in-flight batches finish, as workers would between two passes.
        db.execute_unprepared(
            "UPDATE jobs SET status = 'succeeded', finished_at = now() WHERE id IN \
             (SELECT id FROM jobs WHERE status = 'enqueued' ORDER BY id LIMIT 50)",
        )
        .await?;
        let started = Instant::now();
        scheduler.pump(Utc::now()).await?;
        passes.push(started.elapsed());
    }
    passes.sort();
    let at = |q: f64| passes[((passes.len() - 1) as f64 * q).round() as usize];

    let ids: Vec<i64> = <logwarden_entities::backfill::Entity as sea_orm::EntityTrait>::find()
        .all(&db)
        .await?
        .into_iter()
        .map(|row| row.id)
        .collect();
    let started = Instant::now();
    let mut recounted = Vec::with_capacity(ids.len());
    for id in &ids {
        recounted.push((*id, recount_batches(&db, *id).await?));
    }
    let recount_all = started.elapsed();
    let counters = batch_counts(&db, &ids).await?;
    let counters_match_recount = recounted
        .iter()
        .all(|(id, counts)| counters.get(id) == Some(counts));

    let now = Utc::now();
    let started = Instant::now();
    let long = services
        .start_backfill(NewBackfill {
            integration_id: integration_ids[0],
            from: now - TimeDelta::days(366),
            to: now - TimeDelta::days(1),
            batch_width: Some(Duration::from_secs(15 * 60)),
            created_by: "bench".to_owned(),
        })
        .await?;
    let create = started.elapsed();

    Ok(PumpBenchReport {
        batch_rows: u64::from(args.backfills) * u64::from(args.batches),
        backfills: args.backfills,
        done_percent: args.done_percent,
        first_pass_ms: millis(first_pass),
        pass_p50_ms: millis(at(0.5)),
        pass_p95_ms: millis(at(0.95)),
        pass_max_ms: millis(at(1.0)),
        recount_all_ms: millis(recount_all),
        create_long_backfill_ms: millis(create),
        create_long_backfill_batches: long.batches_total,
        counters_match_recount,
    })
}

/// Writes the backfills and their batch rows in bulk with the counter trigger off (setup
/// only; nothing here is timed), then sets the counters from the rows in one statement.
async fn seed(
    db: &DatabaseConnection,
    args: &PumpBenchArgs,
    integrations: &[i64],
) -> anyhow::Result<()> {
    let ids = integrations
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let done = u64::from(args.batches) * u64::from(args.done_percent) / 100;
    let txn = db.begin().await?;
    txn.execute_unprepared("SET LOCAL session_replication_role = replica")
        .await?;
    txn.execute_unprepared(&format!(
        "INSERT INTO backfills (integration_id, range_start, range_end, batch_width_seconds, \
           status, batches_total, batches_done, batches_failed, created_by, created_at, \
           updated_at, batches_written_until) \
         SELECT (ARRAY[{ids}])[1 + (b % {n})], now() - interval '{batches} hours' - interval '2 days', \
           now() - interval '2 days', 3600, 'running', {batches}, 0, 0, 'bench', now(), now(), \
           now() - interval '2 days' \
         FROM generate_series(0, {last}) b",
        n = integrations.len(),
        batches = args.batches,
        last = args.backfills - 1,
    ))
    .await?;
    txn.execute_unprepared(&format!(
        "INSERT INTO jobs (kind, integration_id, backfill_id, window_start, window_end, \
           dedupe_key, status, attempt, max_attempts, created_at, pages, requests, chats, \
           messages, events, access_events, violations, alerts) \
         SELECT 'backfill_batch', b.integration_id, b.id, \
           b.range_start + g * interval '1 hour', b.range_start + (g + 1) * interval '1 hour', \
           b.integration_id || ':backfill_batch:' || g || ':b' || b.id, \
           CASE WHEN g < {done} THEN 'succeeded' ELSE 'pending' END, \
           CASE WHEN g < {done} THEN 1 ELSE 0 END, 5, now(), 0, 0, 0, 0, 0, 0, 0, 0 \
         FROM backfills b CROSS JOIN generate_series(0, {last}) g",
        last = args.batches - 1,
    ))
    .await?;
    txn.commit().await?;
    db.execute_unprepared(
        "UPDATE backfills SET \
         batches_pending = (SELECT count(*) FROM jobs j WHERE j.backfill_id = backfills.id AND j.status = 'pending'), \
         batches_done = (SELECT count(*) FROM jobs j WHERE j.backfill_id = backfills.id AND j.status = 'succeeded'), \
         progress_seq = 1",
    )
    .await?;
    db.execute_unprepared("ANALYZE jobs").await?;
    db.execute_unprepared("ANALYZE backfills").await?;
    Ok(())
}
