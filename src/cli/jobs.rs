//! `logwarden jobs …`: list jobs, show one with its attempts, and retry or cancel one.

use anyhow::Context;
use clap::{Args, Subcommand};
use logwarden_jobs::kind::{JobKind, JobStatus};

use super::output::{self, Table};
use crate::app::App;
use crate::config::{DatabaseSettings, JobSettings, Settings, SettingsArgs};
use crate::service::jobs::JobQuery;
use crate::service::page::Limit;

#[derive(Debug, Args)]
pub struct JobsArgs {
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(subcommand)]
    command: JobsCommand,
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
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
        #[arg(long, default_value_t = 50)]
        /// 1 to 1000.
        limit: i64,
        #[arg(long)]
        json: bool,
    },
    /// One job: its attempts (error class and message, worker), counters, completeness
    /// record with the skipped chats and quarantined events, and checkpoint, as JSON.
    Show { id: i64 },
    /// Put a failed job back in line.
    Retry {
        id: i64,
        #[command(flatten)]
        jobs: JobSettings,
    },
    /// Cancel a job that has not finished.
    Cancel { id: i64 },
}

impl JobsArgs {
    pub fn reads(&self, args: &mut SettingsArgs) {
        self.database.apply(args);
        if let JobsCommand::Retry { jobs, .. } = &self.command {
            jobs.apply(args);
        }
    }

    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        let services = App::build(settings).await?.services;
        match self.command {
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
                    output::json(&views)?;
                } else {
                    let table = Table::new(&[
                        ("ID", 7),
                        ("KIND", 15),
                        ("INT", 5),
                        ("STATUS", 11),
                        ("TRY", 7),
                        ("WINDOW START", 22),
                        ("EVENTS", 7),
                        ("ERROR", 0),
                    ]);
                    for v in views {
                        table.row(&[
                            v.id.to_string(),
                            v.kind.to_string(),
                            v.integration_id.to_string(),
                            v.status.to_string(),
                            format!("{}/{}", v.attempt, v.max_attempts),
                            v.window_start.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                            v.counters.events.to_string(),
                            v.error
                                .map(|e| format!("{}: {}", e.class.unwrap_or_default(), e.message))
                                .unwrap_or_default(),
                        ]);
                    }
                }
            }
            JobsCommand::Show { id } => {
                output::json(&services.job_detail(id).await?)?;
            }
            JobsCommand::Retry { id, .. } => {
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
}
