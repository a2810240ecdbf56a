//! `logwarden bench export` and `logwarden bench search`: the investigation API over a large
//! synthetic history on PostgreSQL (default 1,000,000 events of 1,000 users in 50,000
//! chats over 30 days, one event in ten with a violation of one of five policies), written
//! in bulk into a private schema that is dropped at the end.
//!
//! - `export`: the server (in this process) streams every event as CSV and as NDJSON over
//!   real HTTP; the report gives events per second and the growth of the process' resident
//!   memory over its level before the export (sampled every 20 ms), with the same-run
//!   baseline of reading the same rows through the service's stream alone.
//! - `search`: p50/p95/max latency of the search by user and range, by policy and range,
//!   by full-text word and range, and of one session's chat (its events in time order),
//!   each over `--runs` different users, policies, words and chats.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use futures::{StreamExt, TryStreamExt};
use logwarden_entities::event;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder,
};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::{Settings, SettingsArgs};
use crate::infra::crypto::MasterKey;
use crate::infra::secret::Secret;
use crate::roles::serve::RunningServer;
use crate::service::integrations::NewIntegration;
use crate::service::investigation::events::EventQuery;
use crate::service::scope::Scope;
use crate::service::tokens::{NewToken, Role};
use crate::service::Services;
use logwarden_fake_api::FakeConfig;

/// Policies of the synthetic violations.
const POLICIES: [&str; 5] = ["pii", "secrets", "injection", "toxicity", "source_code"];
/// Days the synthetic history spans.
const DAYS: i64 = 30;

#[derive(Debug, Clone, clap::Args)]
pub struct InvestigationBenchArgs {
    /// Events to write.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Distinct users.
    #[arg(long, default_value_t = 1_000)]
    pub users: u64,
    /// Distinct chats (sessions).
    #[arg(long, default_value_t = 50_000)]
    pub chats: u64,
    /// PostgreSQL server; the run creates a private schema there and drops it at the end.
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    pub database_url: Secret,
    /// Keep the history in this schema instead of a private one dropped at the end: the
    /// first run creates and fills it, later runs with the same sizes reuse it as it is
    /// (after running any new migration on it). `DROP SCHEMA … CASCADE` removes it.
    #[arg(long)]
    pub schema: Option<String>,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct SearchBenchArgs {
    #[command(flatten)]
    pub data: InvestigationBenchArgs,
    /// Timed queries of each kind, each with other parameters.
    #[arg(long, default_value_t = 100)]
    pub runs: usize,
}

/// One export over HTTP.
#[derive(Debug, Clone, Serialize)]
pub struct ExportRun {
    pub format: String,
    pub events: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub events_per_second: f64,
    /// Resident memory of the process before the export, MiB.
    pub rss_before_mib: f64,
    /// Highest resident memory during the export, MiB.
    pub rss_peak_mib: f64,
    pub rss_growth_mib: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExportBenchReport {
    pub events: u64,
    pub seed_seconds: f64,
    /// Baseline: every row read through the service's stream, no encoding, no HTTP.
    pub stream_only_events_per_second: f64,
    pub runs: Vec<ExportRun>,
}

impl fmt::Display for ExportBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} events on PostgreSQL (written in {:.0} s)",
            self.events, self.seed_seconds
        )?;
        writeln!(
            f,
            "baseline, the service's stream alone: {:.0} events/s",
            self.stream_only_events_per_second
        )?;
        for run in &self.runs {
            writeln!(
                f,
                "{} over HTTP: {} events, {:.1} MiB in {:.1} s = {:.0} events/s ({:.2} of the baseline); \
                 RSS {:.1} MiB before, peak {:.1} MiB, growth {:.1} MiB",
                run.format,
                run.events,
                run.bytes as f64 / 1_048_576.0,
                run.seconds,
                run.events_per_second,
                run.events_per_second / self.stream_only_events_per_second.max(1.0),
                run.rss_before_mib,
                run.rss_peak_mib,
                run.rss_growth_mib
            )?;
        }
        Ok(())
    }
}

/// Latencies of one kind of query, milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub query: String,
    pub runs: usize,
    /// Mean rows returned per query.
    pub mean_rows: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SearchBenchReport {
    pub events: u64,
    pub seed_seconds: f64,
    pub latencies: Vec<Latency>,
}

impl fmt::Display for SearchBenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} events on PostgreSQL (written in {:.0} s)",
            self.events, self.seed_seconds
        )?;
        for l in &self.latencies {
            writeln!(
                f,
                "{:<40} {} runs, {:.1} rows: p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms",
                l.query, l.runs, l.mean_rows, l.p50_ms, l.p95_ms, l.max_ms
            )?;
        }
        Ok(())
    }
}

/// A migrated private schema with the synthetic history, and the app on it.
struct Seeded {
    app: App,
    db: DatabaseConnection,
    start: DateTime<Utc>,
    seed_seconds: f64,
}

/// Runs `body` on a fresh schema of `args.database_url` seeded with the history, and drops
/// the schema afterwards whatever happened.
async fn in_seeded_schema<T, F, Fut>(args: &InvestigationBenchArgs, body: F) -> anyhow::Result<T>
where
    F: FnOnce(Seeded) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    if args.events == 0 || args.users == 0 || args.chats == 0 {
        anyhow::bail!("--events, --users and --chats must be at least 1");
    }
    if let Some(schema) = &args.schema {
        if schema.is_empty()
            || !schema
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            anyhow::bail!("--schema must be a name of lowercase letters, digits and _");
        }
        let admin = crate::store::connect(&args.database_url).await?;
        admin
            .execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .await?;
        admin.close().await?;
        let seeded = seed(args, schema).await?;
        return body(seeded).await;
    }
    let schema = format!("bench_{}", uuid::Uuid::new_v4().simple());
    let admin = crate::store::connect(&args.database_url).await?;
    admin
        .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
        .await?;
    let result = async {
        let seeded = seed(args, &schema).await?;
        body(seeded).await
    }
    .await;
    if let Err(err) = admin
        .execute_unprepared(&format!("DROP SCHEMA {schema} CASCADE"))
        .await
    {
        tracing::warn!(%schema, error = %err, "cannot drop the benchmark's schema");
    }
    admin.close().await?;
    result
}

async fn seed(args: &InvestigationBenchArgs, schema: &str) -> anyhow::Result<Seeded> {
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
    let start = DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")?.with_timezone(&Utc);
    let stored = event::Entity::find().count(&db).await?;
    if stored > 0 {
        if stored != args.events {
            anyhow::bail!(
                "schema {schema} holds {stored} events, not --events {}: drop it or pass that count",
                args.events
            );
        }
        eprintln!("reusing the {stored} events of schema {schema}");
        return Ok(Seeded {
            app,
            db,
            start,
            seed_seconds: 0.0,
        });
    }
    let fake = logwarden_fake_api::spawn(FakeConfig {
        users: 1,
        days: 1,
        rate_limit: None,
        ..FakeConfig::default()
    })
    .await?;
    let integration = app
        .services
        .add_integration(NewIntegration {
            name: "bench".to_owned(),
            project: "bench".to_owned(),
            data_plane: "default".to_owned(),
            api_key: Secret::new(logwarden_fake_api::DEFAULT_TEST_KEY),
            base_url: Some(fake.base_url()),
            sync_from: Some(fake.history_end()),
        })
        .await?;
    fake.shutdown().await?;
    let project_id = logwarden_entities::integration::Entity::find_by_id(integration.id)
        .one(&db)
        .await?
        .map(|row| row.project_id)
        .unwrap_or_default();
    eprintln!("writing {} events", args.events);
    let started = Instant::now();
    let step_ms = (DAYS * 86_400_000) as u64 / args.events.max(1);
    let words = POLICIES
        .iter()
        .map(|policy| format!("'{policy}'"))
        .collect::<Vec<_>>()
        .join(",");
    // Events in slices so no single statement holds millions of rows in memory.
    let slice = 100_000;
    let mut first = 0;
    while first < args.events {
        let last = (first + slice).min(args.events) - 1;
        db.execute_unprepared(&format!(
            "INSERT INTO events (id, integration_id, project_id, chat_id, user_message_id, user_id, \
               user_email, model, provider, input_text, output_text, tool_calls, attachments, \
               prompt_tokens, response_tokens, total_tokens, complete, event_time, responded_at, \
               ingested_at, updated_at, tags, violation_summary, policy_set_version, content_hash) \
             SELECT md5('e' || g)::uuid, {integration}, {project_id}, 'chat-' || (g % {chats}), \
               'msg-' || g, 'user-' || (g % {users}), 'user' || (g % {users}) || '@bench.example', \
               (ARRAY['claude-sonnet-4','claude-opus-4','claude-haiku-4'])[1 + g % 3], \
               'ANTHROPIC_COMPLIANCE_API', \
               'Please review the ' || (ARRAY['contract','invoice','report','summary','email'])[1 + g % 5] \
                 || ' number ' || g || ' about topic' || (g % 1000) || ' and list the risks', \
               'Here is the review of item ' || g || ': topic' || (g % 1000) || ' looks fine overall.', \
               '[]', '[]', 40, 60, 100, true, \
               TIMESTAMPTZ '{start}' + g * interval '{step_ms} milliseconds', \
               TIMESTAMPTZ '{start}' + g * interval '{step_ms} milliseconds' + interval '2 seconds', \
               now(), now(), \
               CASE WHEN g % 10 = 0 THEN '[\"Sensitive\"]'::json ELSE '[]'::json END, '{{}}', 1, md5('c' || g) \
             FROM generate_series({first}, {last}) g",
            integration = integration.id,
            chats = args.chats,
            users = args.users,
            start = start.to_rfc3339(),
        ))
        .await?;
        db.execute_unprepared(&format!(
            "INSERT INTO violations (id, event_id, integration_id, policy, rule, direction, \
               span_start, span_end, evidence, severity, configured_action, effective_action, \
               user_id, event_time, policy_set_version, created_at) \
             SELECT md5('v' || g)::uuid, md5('e' || g)::uuid, {integration}, \
               (ARRAY[{words}])[1 + (g / 10) % 5], 'rule', 'input', 0, 8, '****', 'high', 'alert', 'alert', \
               'user-' || (g % {users}), TIMESTAMPTZ '{start}' + g * interval '{step_ms} milliseconds', 1, now() \
             FROM generate_series({first}, {last}) g WHERE g % 10 = 0",
            integration = integration.id,
            users = args.users,
            start = start.to_rfc3339(),
        ))
        .await?;
        first = last + 1;
        eprintln!("  {first} written");
    }
    db.execute_unprepared("ANALYZE events").await?;
    db.execute_unprepared("ANALYZE violations").await?;
    Ok(Seeded {
        app,
        db,
        start,
        seed_seconds: started.elapsed().as_secs_f64(),
    })
}

/// VmRSS of this process, MiB.
fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|value| value.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(0.0)
}

pub async fn run_export(args: InvestigationBenchArgs) -> anyhow::Result<ExportBenchReport> {
    let events = args.events;
    in_seeded_schema(&args, |seeded| async move {
        let services = seeded.app.services.clone();
        let started = Instant::now();
        let streamed = services
            .stream_events(&Scope::Everything, &EventQuery::default())
            .try_fold(0_u64, |n, _| async move { Ok(n + 1) })
            .await?;
        let stream_only = streamed as f64 / started.elapsed().as_secs_f64();

        let shutdown = CancellationToken::new();
        let server = RunningServer::start(&seeded.app, "127.0.0.1:0", shutdown.clone()).await?;
        let token = services
            .create_token(NewToken {
                name: "bench".to_owned(),
                role: Role::Investigator,
                projects: Vec::new(),
            })
            .await?;
        let http = reqwest::Client::new();
        let mut runs = Vec::new();
        for format in ["csv", "ndjson"] {
            let before = rss_mib();
            let peak = Arc::new(AtomicU64::new(before.to_bits()));
            let sampling = CancellationToken::new();
            let sampler = tokio::spawn({
                let peak = peak.clone();
                let sampling = sampling.clone();
                async move {
                    loop {
                        let now = rss_mib();
                        if now > f64::from_bits(peak.load(Ordering::Relaxed)) {
                            peak.store(now.to_bits(), Ordering::Relaxed);
                        }
                        tokio::select! {
                            () = sampling.cancelled() => return,
                            () = tokio::time::sleep(Duration::from_millis(20)) => {}
                        }
                    }
                }
            });
            let started = Instant::now();
            let response = http
                .get(format!(
                    "{}/api/v1/exports/events?format={format}&tz=Europe%2FParis",
                    server.url()
                ))
                .bearer_auth(token.token.expose())
                .send()
                .await?
                .error_for_status()?;
            let mut body = response.bytes_stream();
            let (mut bytes, mut lines) = (0_u64, 0_u64);
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                bytes += chunk.len() as u64;
                lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
            }
            let seconds = started.elapsed().as_secs_f64();
            sampling.cancel();
            sampler.await?;
            let exported = if format == "csv" { lines - 1 } else { lines };
            let peak = f64::from_bits(peak.load(Ordering::Relaxed));
            runs.push(ExportRun {
                format: format.to_owned(),
                events: exported,
                bytes,
                seconds,
                events_per_second: exported as f64 / seconds,
                rss_before_mib: before,
                rss_peak_mib: peak,
                rss_growth_mib: peak - before,
            });
        }
        shutdown.cancel();
        Ok(ExportBenchReport {
            events,
            seed_seconds: seeded.seed_seconds,
            stream_only_events_per_second: stream_only,
            runs,
        })
    })
    .await
}

fn latency(query: &str, mut samples: Vec<Duration>, rows: usize) -> Latency {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    Latency {
        query: query.to_owned(),
        runs: samples.len(),
        mean_rows: rows as f64 / samples.len().max(1) as f64,
        p50_ms: ms(at(0.5)),
        p95_ms: ms(at(0.95)),
        max_ms: ms(at(1.0)),
    }
}

/// Times `query` (a search through the service, with its capped total) `runs` times.
async fn time_searches(
    services: &Services,
    name: &str,
    runs: usize,
    query: impl Fn(usize) -> EventQuery,
) -> anyhow::Result<Latency> {
    let mut samples = Vec::with_capacity(runs);
    let mut rows = 0;
    for run in 0..runs {
        let query = query(run);
        let started = Instant::now();
        let page = services.search_events(&Scope::Everything, &query).await?;
        samples.push(started.elapsed());
        rows += page.items.len();
    }
    Ok(latency(name, samples, rows))
}

pub async fn run_search(args: SearchBenchArgs) -> anyhow::Result<SearchBenchReport> {
    let runs = args.runs.max(1);
    let events = args.data.events;
    let (users, chats) = (args.data.users, args.data.chats);
    in_seeded_schema(&args.data, |seeded| async move {
        let services = &seeded.app.services;
        let start = seeded.start;
        // A different window for each run, across the history.
        let window = |run: usize, width: TimeDelta| {
            let offset = TimeDelta::hours((run as i64 * 7) % (DAYS * 24 - width.num_hours()));
            (start + offset, start + offset + width)
        };
        let mut latencies = Vec::new();
        latencies.push(
            time_searches(services, "by user and range (7 days)", runs, |run| {
                let (from, to) = window(run, TimeDelta::days(7));
                EventQuery {
                    user_email: Some(format!("user{}@bench.example", (run * 37) as u64 % users)),
                    from: Some(from),
                    to: Some(to),
                    ..Default::default()
                }
            })
            .await?,
        );
        latencies.push(
            time_searches(services, "by policy and range (1 day)", runs, |run| {
                let (from, to) = window(run, TimeDelta::days(1));
                EventQuery {
                    policy: Some(POLICIES[run % POLICIES.len()].to_owned()),
                    from: Some(from),
                    to: Some(to),
                    ..Default::default()
                }
            })
            .await?,
        );
        latencies.push(
            time_searches(services, "full-text word and range (7 days)", runs, |run| {
                let (from, to) = window(run, TimeDelta::days(7));
                EventQuery {
                    q: Some(format!("topic{}", (run * 13) % 1000)),
                    from: Some(from),
                    to: Some(to),
                    ..Default::default()
                }
            })
            .await?,
        );
        // One session's chat: its events in time order, as the session view reads them.
        let mut samples = Vec::with_capacity(runs);
        let mut rows = 0;
        for run in 0..runs {
            let chat = format!("chat-{}", (run as u64 * 499) % chats);
            let started = Instant::now();
            let found = event::Entity::find()
                .filter(event::Column::ChatId.eq(chat))
                .order_by_asc(event::Column::EventTime)
                .order_by_asc(event::Column::Id)
                .all(&seeded.db)
                .await?;
            samples.push(started.elapsed());
            rows += found.len();
        }
        latencies.push(latency("one session's chat", samples, rows));
        Ok(SearchBenchReport {
            events,
            seed_seconds: seeded.seed_seconds,
            latencies,
        })
    })
    .await
}
