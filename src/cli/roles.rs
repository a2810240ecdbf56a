//! `logwarden migrate`, `scheduler` and `worker`: the commands that prepare the database and
//! run the long-lived roles of the fleet.

use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::{
    parse_duration, ApiSettings, BackfillSettings, DatabaseSettings, JobSettings,
    MasterKeySettings, MetricsSettings, RedisSettings, Settings, SettingsArgs, SyncSettings,
};
use crate::roles::metrics::MetricsListener;
use crate::roles::scheduler::Scheduler;
use crate::roles::worker::Worker;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    database: DatabaseSettings,
}

impl MigrateArgs {
    pub fn reads(&self, args: &mut SettingsArgs) {
        self.database.apply(args);
    }

    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        crate::store::open(&settings.database_url).await?;
        eprintln!("migrations applied");
        Ok(())
    }
}

#[derive(Debug, Args)]
pub struct SchedulerArgs {
    /// How often the pump feeds pending jobs and repairs the queue.
    #[arg(long, default_value = "2s")]
    pump_every: String,
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(flatten)]
    redis: RedisSettings,
    #[command(flatten)]
    sync: SyncSettings,
    #[command(flatten)]
    backfill: BackfillSettings,
    #[command(flatten)]
    jobs: JobSettings,
    #[command(flatten)]
    metrics: MetricsSettings,
}

impl SchedulerArgs {
    pub fn reads(&self, args: &mut SettingsArgs) {
        self.database.apply(args);
        self.redis.apply(args);
        self.sync.apply(args);
        self.backfill.apply(args);
        self.jobs.apply(args);
        self.metrics.apply(args);
    }

    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        require_redis("scheduler", settings)?;
        let every = parse_duration("pump_every", &self.pump_every)?;
        let app = App::build(settings).await?;
        let shutdown = shutdown_on_signal();
        let metrics = MetricsListener::start(&settings.metrics_listen, shutdown.clone()).await?;
        let result = Scheduler::new(app.services, app.transport)
            .run(every, shutdown.clone())
            .await;
        stop_metrics(metrics, &shutdown).await;
        result
    }
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The data plane whose queues this worker consumes.
    #[arg(long, env = "LOGWARDEN_DATA_PLANE")]
    data_plane: String,
    /// Backfill jobs run at once (sync jobs get half as many slots of their own).
    #[arg(long, env = "LOGWARDEN_CONCURRENCY", default_value_t = 4)]
    concurrency: usize,
    /// Unique name of this worker in the fleet (default: pid and a random suffix).
    #[arg(long, env = "LOGWARDEN_WORKER_NAME")]
    name: Option<String>,
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(flatten)]
    master_key: MasterKeySettings,
    #[command(flatten)]
    redis: RedisSettings,
    #[command(flatten)]
    jobs: JobSettings,
    #[command(flatten)]
    api: ApiSettings,
    #[command(flatten)]
    metrics: MetricsSettings,
}

impl WorkerArgs {
    pub fn reads(&self, args: &mut SettingsArgs) {
        self.database.apply(args);
        self.master_key.apply(args);
        self.redis.apply(args);
        self.jobs.apply(args);
        self.api.apply(args);
        self.metrics.apply(args);
    }

    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        require_redis("worker", settings)?;
        logwarden_jobs::payload::DataPlaneName::parse(&self.data_plane)
            .map_err(|err| anyhow::anyhow!("{err}"))?;
        let app = App::build(settings).await?;
        let name = self.name.unwrap_or_else(|| {
            format!(
                "worker-{}-{}",
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            )
        });
        let shutdown = shutdown_on_signal();
        let metrics = MetricsListener::start(&settings.metrics_listen, shutdown.clone()).await?;
        let result = Worker::new(&app, name, shutdown.clone())
            .run(&self.data_plane, self.concurrency)
            .await;
        stop_metrics(metrics, &shutdown).await;
        result
    }
}

/// Stops the metrics listener with its role: at shutdown, or when the role ended on its own.
async fn stop_metrics(metrics: Option<MetricsListener>, shutdown: &CancellationToken) {
    shutdown.cancel();
    if let Some(metrics) = metrics {
        if let Err(err) = metrics.wait().await {
            tracing::warn!(error = %err, "the metrics listener failed");
        }
    }
}

/// The scheduler and the workers meet only through Redis: started apart without it, each
/// would make an in-process queue of its own, and every job would stay enqueued for good.
fn require_redis(role: &str, settings: &Settings) -> anyhow::Result<()> {
    if settings.uses_redis() {
        return Ok(());
    }
    anyhow::bail!(
        "invalid redis_url: `logwarden {role}` needs Redis, because the scheduler and the workers run as separate processes that share one queue; set REDIS_URL (or --redis-url, or redis_url in the config file) to redis://HOST:PORT. To run everything in one process without Redis, use `logwarden run` (or `logwarden demo`, which adds a built-in fake Compliance API)"
    )
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
