//! `logwarden integration …`: add, list, pause, resume, rotate the key of and delete
//! integrations.

use clap::{Args, Subcommand};

use super::input::parse_time;
use super::output::{self, Table};
use crate::app::App;
use crate::config::{
    ApiSettings, DatabaseSettings, MasterKeySettings, RedisSettings, Settings, SettingsArgs,
    SyncSettings,
};
use crate::infra::secret::Secret;
use crate::service::integrations::{IntegrationQuery, NewIntegration};
use crate::service::page::{every_page, Limit};

#[derive(Debug, Args)]
pub struct IntegrationArgs {
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(subcommand)]
    command: IntegrationCommand,
}

#[derive(Debug, Subcommand)]
enum IntegrationCommand {
    /// Add an integration after testing its key against the Compliance API.
    Add(Box<AddArgs>),
    /// List integrations, with their health (judged by the sync schedule's period).
    List {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        sync: SyncSettings,
    },
    /// Stop creating sync jobs for an integration (by id or name).
    Pause { integration: String },
    /// Resume syncing from the watermark.
    Resume { integration: String },
    /// Replace an integration's key (by id or name) after testing the new one.
    SetKey(Box<SetKeyArgs>),
    /// Delete an integration: its unfinished jobs are canceled; ingested data stays unless
    /// --purge is given.
    Delete {
        integration: String,
        /// Also delete its events, access events, sessions, violations, alerts and issues.
        #[arg(long)]
        purge: bool,
    },
}

#[derive(Debug, Args)]
struct SetKeyArgs {
    /// The integration's id or name.
    integration: String,
    /// The new Compliance Access Key (or set LOGWARDEN_API_KEY; without either it is read
    /// from the first line of stdin).
    #[arg(long, env = "LOGWARDEN_API_KEY", hide_env_values = true)]
    api_key: Option<Secret>,
    #[command(flatten)]
    master_key: MasterKeySettings,
    #[command(flatten)]
    api: ApiSettings,
    /// With Redis, the key test draws on the fleet's budget of the key's organisation.
    #[command(flatten)]
    redis: RedisSettings,
}

#[derive(Debug, Args)]
struct AddArgs {
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
    #[command(flatten)]
    master_key: MasterKeySettings,
    #[command(flatten)]
    sync: SyncSettings,
    #[command(flatten)]
    api: ApiSettings,
    /// With Redis, the key test draws on the fleet's budget of the key's organisation.
    #[command(flatten)]
    redis: RedisSettings,
}

impl IntegrationArgs {
    pub fn reads(&self, args: &mut SettingsArgs) {
        self.database.apply(args);
        if let IntegrationCommand::Add(add) = &self.command {
            add.master_key.apply(args);
            add.sync.apply(args);
            add.api.apply(args);
            add.redis.apply(args);
        }
        if let IntegrationCommand::List { sync, .. } = &self.command {
            sync.apply(args);
        }
        if let IntegrationCommand::SetKey(set) = &self.command {
            set.master_key.apply(args);
            set.api.apply(args);
            set.redis.apply(args);
        }
    }

    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        let services = App::build(settings).await?.services;
        match self.command {
            IntegrationCommand::Add(add) => {
                let sync_from = add
                    .sync_from
                    .map(|t| parse_time("sync-from", &t))
                    .transpose()?;
                let view = services
                    .add_integration(NewIntegration {
                        name: add.name,
                        project: add.project,
                        data_plane: add.data_plane,
                        api_key: add.api_key,
                        base_url: add.base_url,
                        sync_from,
                    })
                    .await?;
                if add.json {
                    output::json(&view)?;
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
            IntegrationCommand::List { json, .. } => {
                let views = every_page(|cursor| {
                    services.list_integrations(IntegrationQuery {
                        limit: Limit::LARGEST,
                        cursor,
                        ..Default::default()
                    })
                })
                .await?;
                if json {
                    output::json(&views)?;
                } else {
                    let table = Table::new(&[
                        ("ID", 5),
                        ("NAME", 24),
                        ("STATUS", 10),
                        ("DATA PLANE", 12),
                        ("KEY", 8),
                        ("WATERMARK", 26),
                        ("HEALTH", 8),
                        ("LAST ERROR", 0),
                    ]);
                    for v in views {
                        table.row(&[
                            v.id.to_string(),
                            v.name,
                            v.status.to_string(),
                            v.data_plane,
                            format!("…{}", v.api_key_last4),
                            v.sync_watermark
                                .map(|t| t.to_rfc3339())
                                .unwrap_or_else(|| "-".into()),
                            v.health.to_string(),
                            v.last_error_class.unwrap_or_default(),
                        ]);
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
            IntegrationCommand::SetKey(set) => {
                let id = services.resolve_integration(&set.integration).await?;
                let key = match set.api_key {
                    Some(key) => key,
                    None => {
                        let mut line = String::new();
                        std::io::stdin().read_line(&mut line)?;
                        Secret::new(line.trim().to_owned())
                    }
                };
                let v = services.set_integration_key(id, key).await?;
                eprintln!("integration {:?} now uses key …{}", v.name, v.api_key_last4);
            }
            IntegrationCommand::Delete { integration, purge } => {
                let id = services.resolve_integration(&integration).await?;
                let v = services.delete_integration(id, purge).await?;
                let data = if purge {
                    "its ingested data was purged"
                } else {
                    "its ingested data stays"
                };
                eprintln!(
                    "integration {:?} is {}; its unfinished jobs were canceled and {data}",
                    v.name, v.status
                );
            }
        }
        Ok(())
    }
}
