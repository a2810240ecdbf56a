//! `logwarden serve` (the HTTP API) and `logwarden run` (the API, the scheduler and one
//! worker in one process: the single-machine production mode).

use clap::Args;

use super::roles::shutdown_on_signal;
use crate::app::App;
use crate::config::{
    parse_duration, ApiSettings, BackfillSettings, DatabaseSettings, JobSettings,
    MasterKeySettings, RedisSettings, ServeSettings, Settings, SettingsArgs, SyncSettings,
};
use crate::roles::serve::{RunOptions, Running, RunningServer};

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    serve: ServeSettings,
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(flatten)]
    master_key: MasterKeySettings,
    #[command(flatten)]
    redis: RedisSettings,
    #[command(flatten)]
    api: ApiSettings,
    #[command(flatten)]
    backfill: BackfillSettings,
    #[command(flatten)]
    jobs: JobSettings,
    #[command(flatten)]
    sync: SyncSettings,
}

impl ServeArgs {
    pub fn reads(&self, args: &mut SettingsArgs) {
        self.serve.apply(args);
        self.database.apply(args);
        self.master_key.apply(args);
        self.redis.apply(args);
        self.api.apply(args);
        self.backfill.apply(args);
        self.jobs.apply(args);
        self.sync.apply(args);
    }

    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        let app = App::build(settings).await?;
        let server = RunningServer::start(&app, &settings.listen, shutdown_on_signal()).await?;
        server.announce();
        server.wait().await
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The data plane of the one worker.
    #[arg(long, env = "LOGWARDEN_DATA_PLANE", default_value = "default")]
    data_plane: String,
    /// Backfill jobs the worker runs at once.
    #[arg(long, env = "LOGWARDEN_CONCURRENCY", default_value_t = 4)]
    concurrency: usize,
    /// How often the scheduler feeds pending jobs and repairs the queue.
    #[arg(long, default_value = "2s")]
    pump_every: String,
    #[command(flatten)]
    serve: ServeArgs,
}

impl RunArgs {
    pub fn reads(&self, args: &mut SettingsArgs) {
        self.serve.reads(args);
    }

    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        let options = RunOptions {
            listen: settings.listen.clone(),
            data_plane: self.data_plane,
            concurrency: self.concurrency,
            pump_every: parse_duration("pump_every", &self.pump_every)?,
        };
        let app = App::build(settings).await?;
        let running = Running::start(&app, &options, shutdown_on_signal()).await?;
        running.server.announce();
        running.wait().await
    }
}
