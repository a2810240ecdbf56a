//! The command line: one binary, one subcommand per role and per operator action. Every
//! action calls the service layer; nothing here holds logic of its own beyond parsing and
//! printing.

pub mod pull;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use logwarden_jobs::kind::{JobKind, JobStatus};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{parse_duration, Settings, SettingsArgs};
use crate::infra::queue::{MemoryTransport, RedisTransport, Transport};
use crate::infra::ratelimit::{LocalRateLimiter, RateLimit, RedisLimiterOptions, RedisRateLimiter};
use crate::infra::secret::Secret;
use crate::ingest::evaluators::EvaluatorProvider;
use crate::roles::scheduler::Scheduler;
use crate::roles::worker::{GateFactory, Worker};
use crate::service::backfills::{BackfillQuery, NewBackfill};
use crate::service::integrations::{IntegrationQuery, NewIntegration};
use crate::service::jobs::JobQuery;
use crate::service::page::{every_page, Limit};
use crate::service::Services;

#[derive(Debug, Parser)]
#[command(
    name = "logwarden",
    version,
    about = "Compliance API ingestion and runtime policies for Claude Enterprise"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending database migrations and exit.
    Migrate,
    /// Run the scheduler: sync ticks, backfill flow control, repairs.
    Scheduler(SchedulerArgs),
    /// Run a worker for one data plane.
    Worker(WorkerArgs),
    /// Manage integrations.
    #[command(subcommand)]
    Integration(IntegrationCommand),
    /// Start and watch backfills.
    #[command(subcommand)]
    Backfill(BackfillCommand),
    /// Inspect and repair jobs.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Evaluate text against policy sets; edit and install an integration's policy set.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Run everything in one process on SQLite against the built-in fake Compliance API.
    Demo(crate::tools::demo::DemoArgs),
    /// Serve the fake Compliance API (for tests, demos and load).
    FakeApi(FakeApiArgs),
    /// Pull one window through the client (no database) and print its counts.
    Pull(PullArgs),
    /// Measure the pipeline.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// End-to-end ingestion throughput against the in-process fake API, with its baselines.
    Ingest(crate::tools::bench::IngestBenchArgs),
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Read JSON lines {"id", "role": "user"|"assistant"|"tool", "text"} on stdin and write one
    /// JSON line of findings and tags per input.
    Eval {
        /// A template: default, data-protection, prompt-attacks or strict.
        #[arg(long, conflicts_with_all = ["integration", "file"])]
        template: Option<String>,
        /// The installed policy set of an integration (id or name).
        #[arg(long, conflicts_with = "file")]
        integration: Option<String>,
        /// A policy set in TOML.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// List the templates.
    Templates,
    /// Show an integration's draft, installed version and pending changes.
    Show { integration: String },
    /// Replace an integration's draft with a template or a TOML file.
    Draft {
        integration: String,
        #[arg(long, conflicts_with = "file", required_unless_present = "file")]
        template: Option<String>,
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Install the draft as the next version.
    Install { integration: String },
    /// Re-run the installed set over stored events of a time range (a `reevaluate` job).
    Reevaluate {
        integration: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
    },
}

#[derive(Debug, Args)]
pub struct FakeApiArgs {
    #[arg(long, default_value_t = 8181)]
    pub port: u16,
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Seed of the generated organisation.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[arg(long, default_value_t = 12)]
    pub users: u32,
    #[arg(long, default_value_t = 3)]
    pub chats_per_user_per_day: u32,
    #[arg(long, default_value_t = 3)]
    pub turns_per_chat: u32,
    /// First instant of the generated history (default 2026-04-01T00:00:00Z).
    #[arg(long)]
    pub start: Option<String>,
    #[arg(long, default_value_t = 14)]
    pub days: u32,
    /// Share of prompts that carry a planted policy hit.
    #[arg(long, default_value_t = 0.08)]
    pub plant_rate: f64,
    /// Accepted key, `VALUE[:scope,scope...]` (repeatable). Default: the documented test key
    /// with every read scope.
    #[arg(long = "key")]
    pub keys: Vec<String>,
    /// Requests per minute for the organisation.
    #[arg(long, default_value_t = 600)]
    pub rate_limit: u32,
    /// Switch the rate limit off.
    #[arg(long)]
    pub no_rate_limit: bool,
    /// New chats and messages keep arriving as real time passes.
    #[arg(long)]
    pub live: bool,
    /// Faults in force at start, as the JSON of `POST /_fake/faults`.
    #[arg(long)]
    pub faults: Option<String>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    #[arg(long)]
    pub base_url: String,
    #[arg(long, env = "LOGWARDEN_API_KEY", hide_env_values = true)]
    pub api_key: Secret,
    /// RFC 3339, inclusive.
    #[arg(long)]
    pub from: String,
    /// RFC 3339, exclusive.
    #[arg(long)]
    pub to: String,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// How often the pump feeds pending jobs and repairs the queue.
    #[arg(long, default_value = "2s")]
    pub pump_every: String,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The data plane whose queues this worker consumes.
    #[arg(long, env = "LOGWARDEN_DATA_PLANE")]
    pub data_plane: String,
    /// Backfill jobs run at once (sync jobs get half as many slots of their own).
    #[arg(long, env = "LOGWARDEN_CONCURRENCY", default_value_t = 4)]
    pub concurrency: usize,
    /// Unique name of this worker in the fleet (default: host, pid and a random suffix).
    #[arg(long, env = "LOGWARDEN_WORKER_NAME")]
    pub name: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum IntegrationCommand {
    /// Add an integration after testing its key against the Compliance API.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        project: String,
        #[arg(long)]
        data_plane: String,
        /// The Compliance Access Key (or set LOGWARDEN_API_KEY).
        #[arg(long, env = "LOGWARDEN_API_KEY", hide_env_values = true)]
        api_key: Secret,
        /// Default: https://api.anthropic.com
        #[arg(long)]
        base_url: Option<String>,
        /// RFC 3339 time where syncing starts (default: initial_lookback before now).
        #[arg(long)]
        sync_from: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List integrations.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Stop creating sync jobs for an integration (by id or name).
    Pause { integration: String },
    /// Resume syncing from the watermark.
    Resume { integration: String },
    /// Delete an integration: its unfinished jobs are canceled; ingested data stays.
    Delete { integration: String },
}

#[derive(Debug, Subcommand)]
pub enum BackfillCommand {
    /// Record a backfill and all its batches; prints its id.
    Start {
        #[arg(long)]
        integration: String,
        /// RFC 3339, e.g. 2026-04-01T00:00:00Z
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// e.g. 1h (default: the backfill_batch_width setting)
        #[arg(long)]
        batch_width: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show a backfill's progress.
    Status {
        id: i64,
        /// Keep showing progress until the backfill ends.
        #[arg(long)]
        watch: bool,
        #[arg(long)]
        json: bool,
    },
    /// List backfills.
    List {
        #[arg(long)]
        json: bool,
    },
    Cancel {
        id: i64,
    },
    Pause {
        id: i64,
    },
    Resume {
        id: i64,
    },
    /// Put the failed batches back in line.
    RetryFailed {
        id: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs, newest first.
    List {
        /// Integration id or name.
        #[arg(long)]
        integration: Option<String>,
        /// pending, enqueued, processing, succeeded, failed or canceled
        #[arg(long)]
        status: Option<String>,
        /// sync, backfill_batch, reconcile or reevaluate
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        backfill: Option<i64>,
        /// 1 to 1000.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// Put a failed job back in line.
    Retry { id: i64 },
    /// Cancel a job that has not finished.
    Cancel { id: i64 },
}

/// Parses an RFC 3339 timestamp, naming the flag when it is not one.
pub fn parse_time(field: &str, value: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| anyhow::anyhow!("invalid --{field} {value:?}: expected an RFC 3339 time such as 2026-04-08T00:00:00Z"))
}

/// Runs the CLI; returns the process exit code.
pub async fn run(mut cli: Cli) -> anyhow::Result<()> {
    if matches!(cli.command, Command::Demo(_) | Command::Bench(_)) {
        // The demo draws a progress line; job-by-job logs would scroll it away.
        cli.settings
            .log_level
            .get_or_insert_with(|| "warn".to_owned());
    }
    let settings = Arc::new(Settings::load(&cli.settings)?);
    crate::infra::telemetry::init(settings.log_format, &settings.log_level);
    match cli.command {
        Command::Migrate => {
            let db = crate::store::connect(&settings.database_url).await?;
            crate::store::migrate(&db).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Scheduler(args) => {
            let services = services(&settings).await?;
            let transport = transport(&settings).await?;
            let every = parse_duration("pump_every", &args.pump_every)?;
            let shutdown = shutdown_on_signal();
            Scheduler::new(services, transport)
                .run(every, shutdown)
                .await
        }
        Command::Worker(args) => {
            logwarden_jobs::payload::DataPlaneName::parse(&args.data_plane)
                .map_err(|err| anyhow::anyhow!("{err}"))?;
            let services = services(&settings).await?;
            let transport = transport(&settings).await?;
            let worker = build_worker(services, transport, args.name, shutdown_on_signal()).await?;
            worker.run(&args.data_plane, args.concurrency).await
        }
        Command::Integration(command) => integration(&settings, command).await,
        Command::Backfill(command) => backfill(&settings, command).await,
        Command::Jobs(command) => jobs(&settings, command).await,
        Command::Policy(command) => policy(&settings, command).await,
        Command::Demo(args) => {
            crate::tools::demo::run(args, &cli.settings, shutdown_on_signal()).await
        }
        Command::FakeApi(args) => fake_api(args).await,
        Command::Pull(args) => pull(&settings, args).await,
        Command::Bench(BenchCommand::Ingest(args)) => {
            let json = args.json;
            let report = crate::tools::bench::run_ingest(args).await?;
            if json {
                print_json(&report)?;
            } else {
                println!("{report}");
            }
            Ok(())
        }
    }
}

/// Connects to the database and applies pending migrations.
pub async fn services(settings: &Arc<Settings>) -> anyhow::Result<Services> {
    let db = crate::store::open(&settings.database_url).await?;
    Ok(Services::new(db, settings.clone()))
}

/// Redis when `redis_url` is set, otherwise the in-process queue.
pub async fn transport(settings: &Settings) -> anyhow::Result<Transport> {
    Ok(match &settings.redis_url {
        Some(url) => Transport::Redis(RedisTransport::connect(url, &settings.redis_prefix).await?),
        None => Transport::Memory(MemoryTransport::default()),
    })
}

/// A worker with the fleet-wide rate limiter matching its transport.
pub async fn build_worker(
    services: Services,
    transport: Transport,
    name: Option<String>,
    shutdown: CancellationToken,
) -> anyhow::Result<Worker> {
    let name = name.unwrap_or_else(|| {
        format!(
            "worker-{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        )
    });
    let rate = RateLimit::per_minute(services.settings.rate_limit_per_minute)
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    // Every worker of the fleet shares one budget per organisation in Redis; the embedded
    // mode has one process, whose own budget is the whole budget.
    let gates: GateFactory = match &transport {
        Transport::Redis(redis) => {
            let limiter = RedisRateLimiter::new(
                redis.conn.clone(),
                RedisLimiterOptions::new(redis.prefix.clone(), rate),
                "default",
            )
            .map_err(|err| anyhow::anyhow!("{err}"))?;
            let local =
                LocalRateLimiter::new(rate, "default").map_err(|err| anyhow::anyhow!("{err}"))?;
            Arc::new(move |org: &str| {
                limiter
                    .for_org(org)
                    .or_else(|_| local.for_org("default"))
                    .unwrap_or_else(|_| Arc::new(local.clone()))
            })
        }
        Transport::Memory(_) => {
            let local =
                LocalRateLimiter::new(rate, "default").map_err(|err| anyhow::anyhow!("{err}"))?;
            Arc::new(move |org: &str| {
                local
                    .for_org(org)
                    .unwrap_or_else(|_| Arc::new(local.clone()))
            })
        }
    };
    let gates = Some(gates);
    Ok(Worker {
        services,
        transport,
        name,
        gates,
        evaluators: EvaluatorProvider::default(),
        shutdown,
        tracker: TaskTracker::new(),
    })
}

/// Cancelled on Ctrl-C or SIGTERM.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("install the SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down: finishing or releasing running jobs");
        trigger.cancel();
    });
    token
}

fn read_policy_file(path: &std::path::Path) -> anyhow::Result<logwarden_policy::PolicySetConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read policy set file {}", path.display()))?;
    logwarden_policy::PolicySetConfig::from_toml_str(&text)
        .map_err(|err| anyhow::anyhow!("policy set file {}: {err}", path.display()))
}

async fn policy(settings: &Arc<Settings>, command: PolicyCommand) -> anyhow::Result<()> {
    use logwarden_policy::{template, templates, CompiledPolicySet};
    match command {
        PolicyCommand::Eval {
            template: name,
            integration,
            file,
        } => {
            let config = match (name, integration, file) {
                (_, _, Some(path)) => read_policy_file(&path)?,
                (_, Some(key), None) => {
                    let services = services(settings).await?;
                    let id = services.resolve_integration(&key).await?;
                    crate::service::policies::installed(&services.db, id)
                        .await?
                        .map(|(_, config)| config)
                        .ok_or_else(|| {
                            anyhow::anyhow!("integration {key:?} has no installed policy set")
                        })?
                }
                (name, None, None) => {
                    let name = name.unwrap_or_else(|| "default".to_owned());
                    template(&name).ok_or_else(|| {
                        let known: Vec<&str> = templates().iter().map(|t| t.id).collect();
                        anyhow::anyhow!(
                            "invalid --template {name:?}: expected one of default, {}",
                            known.join(", ")
                        )
                    })?
                }
            };
            let set =
                CompiledPolicySet::compile(&config).map_err(|err| anyhow::anyhow!("{err}"))?;
            let summary = logwarden_policy::run_eval(
                std::io::stdin().lock(),
                std::io::stdout().lock(),
                &set,
            )?;
            eprintln!(
                "{} lines, {} flagged, {} errors",
                summary.lines, summary.flagged, summary.errors
            );
        }
        PolicyCommand::Templates => {
            println!("{:<16} {:<18} DESCRIPTION", "ID", "NAME");
            for info in templates() {
                println!("{:<16} {:<18} {}", info.id, info.name, info.description);
            }
        }
        PolicyCommand::Show { integration } => {
            let services = services(settings).await?;
            let id = services.resolve_integration(&integration).await?;
            print_json(&services.policy_set(id).await?)?;
        }
        PolicyCommand::Draft {
            integration,
            template,
            file,
        } => {
            let services = services(settings).await?;
            let id = services.resolve_integration(&integration).await?;
            let view = match (template, file) {
                (_, Some(path)) => services.set_draft(id, &read_policy_file(&path)?).await?,
                (Some(name), None) => services.draft_from_template(id, &name).await?,
                (None, None) => anyhow::bail!("give --template NAME or --file policy-set.toml"),
            };
            eprintln!(
                "draft saved; {} pending changes",
                view.pending_changes.len()
            );
            print_json(&view.pending_changes)?;
        }
        PolicyCommand::Reevaluate {
            integration,
            from,
            to,
        } => {
            let services = services(settings).await?;
            let id = services.resolve_integration(&integration).await?;
            let job = services
                .start_reevaluation(id, parse_time("from", &from)?, parse_time("to", &to)?)
                .await?;
            println!("{}", job.id);
            eprintln!(
                "re-evaluation job {} recorded with policy set version {}",
                job.id,
                job.policy_set_version.unwrap_or_default()
            );
        }
        PolicyCommand::Install { integration } => {
            let services = services(settings).await?;
            let id = services.resolve_integration(&integration).await?;
            let view = services.install_policy_set(id, "cli").await?;
            eprintln!(
                "installed version {}",
                view.installed_version.unwrap_or_default()
            );
        }
    }
    Ok(())
}

async fn fake_api(args: FakeApiArgs) -> anyhow::Result<()> {
    let keys = args
        .keys
        .iter()
        .map(|spec| spec.parse::<logwarden_fake_api::ApiKeySpec>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| anyhow::anyhow!("invalid --key: {err}"))?;
    let faults = match &args.faults {
        Some(json) => {
            serde_json::from_str(json).map_err(|err| anyhow::anyhow!("invalid --faults: {err}"))?
        }
        None => Default::default(),
    };
    let config = logwarden_fake_api::FakeConfig {
        seed: args.seed,
        users: args.users,
        chats_per_user_per_day: args.chats_per_user_per_day,
        turns_per_chat: args.turns_per_chat,
        start: args
            .start
            .as_deref()
            .map(|s| parse_time("start", s))
            .transpose()?,
        days: args.days,
        plant_rate: args.plant_rate,
        keys,
        rate_limit: (!args.no_rate_limit).then_some(args.rate_limit),
        live: args.live,
        faults,
    };
    let addr = std::net::SocketAddr::new(args.host, args.port);
    if config.keys.is_empty() {
        eprintln!(
            "accepting the default test key {}",
            logwarden_fake_api::DEFAULT_TEST_KEY
        );
    }
    eprintln!("fake Compliance API on http://{addr}");
    logwarden_fake_api::serve(config, addr).await?;
    Ok(())
}

async fn pull(settings: &Settings, args: PullArgs) -> anyhow::Result<()> {
    let from = parse_time("from", &args.from)?;
    let to = parse_time("to", &args.to)?;
    if from >= to {
        anyhow::bail!(
            "invalid --from {}: must be before --to {}",
            args.from,
            args.to
        );
    }
    let client = crate::service::integrations::client_for(settings, &args.base_url, &args.api_key)?;
    let counts = crate::cli::pull::pull(&client, from, to, false)
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    if args.json {
        print_json(&counts)?;
    } else {
        println!(
            "activities {}\nchats {}\nmessages {}\nprompt events {}",
            counts.activities, counts.chats, counts.messages, counts.prompt_events
        );
    }
    Ok(())
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

async fn integration(settings: &Arc<Settings>, command: IntegrationCommand) -> anyhow::Result<()> {
    let services = services(settings).await?;
    match command {
        IntegrationCommand::Add {
            name,
            project,
            data_plane,
            api_key,
            base_url,
            sync_from,
            json,
        } => {
            let sync_from = sync_from.map(|t| parse_time("sync-from", &t)).transpose()?;
            let view = services
                .add_integration(NewIntegration {
                    name,
                    project,
                    data_plane,
                    api_key,
                    base_url,
                    sync_from,
                })
                .await?;
            if json {
                print_json(&view)?;
            } else {
                println!("{}", view.id);
                eprintln!(
                    "integration {:?} added (key …{}), syncing from {}",
                    view.name,
                    view.api_key_last4,
                    view.sync_watermark
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_default()
                );
            }
        }
        IntegrationCommand::List { json } => {
            let views = every_page(|cursor| {
                services.list_integrations(IntegrationQuery {
                    limit: Limit::LARGEST,
                    cursor,
                    ..Default::default()
                })
            })
            .await?;
            if json {
                print_json(&views)?;
            } else {
                println!(
                    "{:<5} {:<24} {:<10} {:<12} {:<8} {:<26} LAST ERROR",
                    "ID", "NAME", "STATUS", "DATA PLANE", "KEY", "WATERMARK"
                );
                for v in views {
                    println!(
                        "{:<5} {:<24} {:<10} {:<12} …{:<7} {:<26} {}",
                        v.id,
                        v.name,
                        v.status,
                        v.data_plane,
                        v.api_key_last4,
                        v.sync_watermark
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_else(|| "-".into()),
                        v.last_error_class.unwrap_or_default()
                    );
                }
            }
        }
        IntegrationCommand::Pause { integration } => {
            let id = services.resolve_integration(&integration).await?;
            let v = services.pause_integration(id).await?;
            eprintln!("integration {:?} is {}", v.name, v.status);
        }
        IntegrationCommand::Resume { integration } => {
            let id = services.resolve_integration(&integration).await?;
            let v = services.resume_integration(id).await?;
            eprintln!("integration {:?} is {}", v.name, v.status);
        }
        IntegrationCommand::Delete { integration } => {
            let id = services.resolve_integration(&integration).await?;
            let v = services.delete_integration(id).await?;
            eprintln!(
                "integration {:?} is {}; its unfinished jobs were canceled",
                v.name, v.status
            );
        }
    }
    Ok(())
}

async fn backfill(settings: &Arc<Settings>, command: BackfillCommand) -> anyhow::Result<()> {
    let services = services(settings).await?;
    let show = |view: &crate::service::backfills::BackfillView, json: bool| -> anyhow::Result<()> {
        if json {
            print_json(view)
        } else {
            println!("{}", progress_line(view));
            Ok(())
        }
    };
    match command {
        BackfillCommand::Start {
            integration,
            from,
            to,
            batch_width,
            json,
        } => {
            let batch_width = batch_width
                .map(|w| parse_duration("batch_width", &w))
                .transpose()?;
            let view = services
                .start_backfill(NewBackfill {
                    integration_id: services.resolve_integration(&integration).await?,
                    from: parse_time("from", &from)?,
                    to: parse_time("to", &to)?,
                    batch_width,
                    created_by: "cli".to_owned(),
                })
                .await?;
            if json {
                print_json(&view)?;
            } else {
                println!("{}", view.id);
                eprintln!(
                    "backfill {} recorded with {} batches",
                    view.id, view.batches_total
                );
            }
        }
        BackfillCommand::Status { id, watch, json } => loop {
            let view = services.backfill(id).await?;
            let ended = view.status.is_terminal();
            if watch && !json {
                eprint!("\r{}", progress_line(&view));
                if ended {
                    eprintln!();
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            } else {
                show(&view, json)?;
                if !watch || ended {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        },
        BackfillCommand::List { json } => {
            let views = every_page(|cursor| {
                services.list_backfills(BackfillQuery {
                    limit: Limit::LARGEST,
                    cursor,
                    ..Default::default()
                })
            })
            .await?;
            if json {
                print_json(&views)?;
            } else {
                for view in views {
                    println!("{}", progress_line(&view));
                }
            }
        }
        BackfillCommand::Cancel { id } => show(&services.cancel_backfill(id).await?, false)?,
        BackfillCommand::Pause { id } => show(&services.pause_backfill(id).await?, false)?,
        BackfillCommand::Resume { id } => show(&services.resume_backfill(id).await?, false)?,
        BackfillCommand::RetryFailed { id } => {
            show(&services.retry_failed_batches(id).await?, false)?
        }
    }
    Ok(())
}

/// `#7 running [#########-----------] 45/100 batches, 2 failed, synced up to …`
fn progress_line(view: &crate::service::backfills::BackfillView) -> String {
    let total = view.batches_total.max(1);
    let filled = (view.batches_done * 20 / total) as usize;
    format!(
        "#{} {:<9} [{}{}] {}/{} batches, {} failed, {} in flight, synced up to {}",
        view.id,
        view.status,
        "#".repeat(filled),
        "-".repeat(20 - filled.min(20)),
        view.batches_done,
        view.batches_total,
        view.batches_failed,
        view.batches_in_flight,
        view.synced_up_to
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| "-".into())
    )
}

async fn jobs(settings: &Arc<Settings>, command: JobsCommand) -> anyhow::Result<()> {
    let services = services(settings).await?;
    match command {
        JobsCommand::List {
            integration,
            status,
            kind,
            backfill,
            limit,
            json,
        } => {
            let integration_id = match integration {
                Some(key) => Some(services.resolve_integration(&key).await?),
                None => None,
            };
            let query = JobQuery {
                integration_id,
                backfill_id: backfill,
                status: status.map(|s| s.parse::<JobStatus>()).transpose()?,
                kind: kind.map(|k| k.parse::<JobKind>()).transpose()?,
                limit: Limit::new(limit)?,
                ..Default::default()
            };
            let views = services
                .list_jobs(query)
                .await
                .context("listing jobs")?
                .items;
            if json {
                print_json(&views)?;
            } else {
                println!(
                    "{:<7} {:<15} {:<5} {:<11} {:<7} {:<22} {:<7} ERROR",
                    "ID", "KIND", "INT", "STATUS", "TRY", "WINDOW START", "EVENTS"
                );
                for v in views {
                    println!(
                        "{:<7} {:<15} {:<5} {:<11} {:<7} {:<22} {:<7} {}",
                        v.id,
                        v.kind,
                        v.integration_id,
                        v.status,
                        format!("{}/{}", v.attempt, v.max_attempts),
                        v.window_start.format("%Y-%m-%dT%H:%M:%SZ"),
                        v.counters.events,
                        v.error
                            .map(|e| format!("{}: {}", e.class.unwrap_or_default(), e.message))
                            .unwrap_or_default()
                    );
                }
            }
        }
        JobsCommand::Retry { id } => {
            let v = services.retry_job(id).await?;
            eprintln!("job {} is {}", v.id, v.status);
        }
        JobsCommand::Cancel { id } => {
            let v = services.cancel_job(id).await?;
            eprintln!("job {} is {}", v.id, v.status);
        }
    }
    Ok(())
}
