//! `logwarden demo`: `logwarden run` (the API, the scheduler and one worker in one process) on
//! the embedded default — SQLite, the in-process queue — plus the built-in fake Compliance
//! API in live mode, so a newcomer opens the printed URL and sees an integration sync every
//! tick and a backfill complete with one command.

use std::path::PathBuf;
use std::time::Duration;

use chrono::{TimeDelta, Timelike, Utc};
use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::config::{
    ApiSettings, BackfillSettings, DatabaseSettings, JobSettings, ServeSettings, Settings,
    SettingsArgs, SyncSettings,
};
use crate::infra::crypto::MasterKey;
use crate::infra::secret::Secret;
use crate::roles::scheduler::Scheduler;
use crate::roles::serve::{RunOptions, Running};
use crate::service::backfills::{BackfillQuery, NewBackfill};
use crate::service::integrations::NewIntegration;
use crate::service::jobs::JobQuery;
use crate::service::page::Limit;
use logwarden_fake_api::{FakeConfig, FaultConfig};
use logwarden_jobs::kind::{BackfillStatus, JobKind, JobStatus};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Folder for the demo's SQLite database and master key (kept between runs, so a demo
    /// killed mid-backfill picks up where it stopped).
    #[arg(long, default_value = "logwarden-demo")]
    pub dir: PathBuf,
    /// Users in the fake organisation.
    #[arg(long, default_value_t = 8)]
    pub users: u32,
    /// Hours of history to backfill.
    #[arg(long, default_value_t = 24)]
    pub backfill_hours: i64,
    /// Exit once the backfill has completed and one sync has succeeded (for scripts).
    #[arg(long)]
    pub exit_when_done: bool,
    /// Delay every response of the fake API by this many milliseconds, to watch progress
    /// slowly (or to stop the demo mid-backfill and see it resume).
    #[arg(long, default_value_t = 0)]
    pub api_delay_ms: u64,
    // The demo makes its own master key and never uses Redis; the rest it reads.
    #[command(flatten)]
    pub database: DatabaseSettings,
    #[command(flatten)]
    pub sync: SyncSettings,
    #[command(flatten)]
    pub backfill: BackfillSettings,
    #[command(flatten)]
    pub jobs: JobSettings,
    #[command(flatten)]
    pub api: ApiSettings,
    #[command(flatten)]
    pub serve: ServeSettings,
}

impl DemoArgs {
    /// Adds the flags and variables of the settings the demo reads to `args`.
    pub fn reads(&self, args: &mut SettingsArgs) {
        self.database.apply(args);
        self.sync.apply(args);
        self.backfill.apply(args);
        self.jobs.apply(args);
        self.api.apply(args);
        self.serve.apply(args);
    }
}

/// Runs the demo until Ctrl-C (or until done with `--exit-when-done`), with the settings given
/// in `settings_args` over the demo's own defaults.
pub async fn run(
    args: DemoArgs,
    mut settings_args: SettingsArgs,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.dir)?;
    let key_file = args.dir.join("master.key");
    let master_key = match std::fs::read_to_string(&key_file) {
        Ok(key) => Secret::new(key.trim().to_owned()),
        Err(_) => {
            let key = MasterKey::generate_base64();
            write_private(&key_file, key.expose())?;
            key
        }
    };
    settings_args.database_url.get_or_insert_with(|| {
        Secret::new(format!(
            "sqlite://{}?mode=rwc",
            args.dir.join("logwarden.db").display()
        ))
    });
    settings_args.master_key = Some(master_key);
    // Empty is unset, whatever a config file says: the demo runs on the in-process queue.
    settings_args.redis_url = Some(Secret::new(String::new()));
    // Sync every 30 seconds instead of every 5 minutes, so the demo shows ticks quickly.
    settings_args
        .sync_schedule
        .get_or_insert_with(|| "*/30 * * * * *".to_owned());
    settings_args
        .sync_lag
        .get_or_insert_with(|| "1m".to_owned());
    // The fake listens on plain HTTP on loopback.
    settings_args
        .allow_loopback_http
        .get_or_insert_with(|| "true".to_owned());
    let settings = Settings::load(&settings_args)?;

    let faults = if args.api_delay_ms > 0 {
        serde_json::from_value(serde_json::json!({
            "slow": {"trigger": "always", "delay_ms": args.api_delay_ms}
        }))?
    } else {
        FaultConfig::default()
    };
    let fake = logwarden_fake_api::spawn(FakeConfig {
        users: args.users,
        days: 3,
        live: true,
        rate_limit: None,
        faults,
        ..FakeConfig::default()
    })
    .await?;
    eprintln!(
        "fake Compliance API (live organisation) at {}",
        fake.base_url()
    );

    let app = App::build(&settings).await?;
    let services = app.services.clone();
    let integration = match services.resolve_integration("demo").await {
        Ok(id) => {
            // The fake listens on a new port every run.
            services
                .set_integration_base_url(id, &fake.base_url())
                .await?;
            services.integration(id).await?
        }
        Err(_) => {
            services
                .add_integration(NewIntegration {
                    name: "demo".to_owned(),
                    project: "demo".to_owned(),
                    data_plane: "default".to_owned(),
                    api_key: Secret::new(logwarden_fake_api::DEFAULT_TEST_KEY),
                    base_url: Some(fake.base_url()),
                    sync_from: None,
                })
                .await?
        }
    };
    eprintln!(
        "integration {:?} (id {}) on data plane default",
        integration.name, integration.id
    );

    let latest = services
        .list_backfills(BackfillQuery {
            integration_id: Some(integration.id),
            limit: Limit::new(1)?,
            ..Default::default()
        })
        .await?;
    let backfill_id = match latest.items.first() {
        Some(existing) => existing.id,
        None => {
            let end = Utc::now()
                .with_second(0)
                .and_then(|t| t.with_nanosecond(0))
                .unwrap_or_else(Utc::now)
                - TimeDelta::hours(1);
            let view = services
                .start_backfill(NewBackfill {
                    integration_id: integration.id,
                    from: end - TimeDelta::hours(args.backfill_hours),
                    to: end,
                    batch_width: Some(Duration::from_secs(3600)),
                    created_by: "demo".to_owned(),
                })
                .await?;
            view.id
        }
    };

    let running = Running::start(
        &app,
        &RunOptions {
            listen: settings.listen.clone(),
            data_plane: "default".to_owned(),
            concurrency: 4,
            pump_every: Duration::from_millis(500),
        },
        shutdown.clone(),
    )
    .await?;
    // One sync right away rather than at the first cron tick.
    Scheduler::new(services.clone(), app.transport.clone())
        .tick(Utc::now())
        .await?;
    running.server.announce();
    // The demo's own admin token, so the printed dashboard URL works without another step.
    let login = services
        .create_token(crate::service::tokens::NewToken {
            name: "demo dashboard".to_owned(),
            role: crate::service::tokens::Role::Admin,
            projects: vec![],
        })
        .await?;
    eprintln!(
        "dashboard login token (admin, this demo only): {}",
        login.token.expose()
    );
    eprintln!(
        "more tokens: logwarden token create --role operator --database-url {:?}",
        settings.database_url.expose()
    );

    let mut interval = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = interval.tick() => {}
        }
        let view = services.backfill(backfill_id).await?;
        let syncs = services
            .count_jobs(JobQuery {
                integration_id: Some(integration.id),
                kind: Some(JobKind::Sync),
                status: Some(JobStatus::Succeeded),
                ..Default::default()
            })
            .await?;
        let events = services.count_events(integration.id).await?;
        eprint!(
            "\rbackfill {}/{} batches ({}), syncs succeeded: {}, events stored: {}    ",
            view.batches_done, view.batches_total, view.status, syncs, events
        );
        if args.exit_when_done && view.status == BackfillStatus::Completed && syncs > 0 {
            eprintln!();
            shutdown.cancel();
            break;
        }
    }
    running.wait().await?;
    fake.shutdown().await?;
    Ok(())
}

/// Writes `contents` to a new file only its owner may read or write (0600 on Unix), so the
/// demo's master key is never readable by other users, not even for a moment.
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[test]
    fn the_master_key_file_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("lw-demo-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("master.key");
        super::write_private(&path, "key").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "key");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
