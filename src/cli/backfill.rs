//! `logwarden backfill …`: start backfills, watch their progress, and pause, resume, cancel
//! or retry them.

use std::time::Duration;

use clap::{Args, Subcommand};

use super::input::parse_time;
use super::output;
use crate::app::App;
use crate::config::{
    parse_duration, BackfillSettings, DatabaseSettings, JobSettings, Settings, SettingsArgs,
};
use crate::service::backfills::{BackfillQuery, BackfillView, NewBackfill};
use crate::service::page::{every_page, Limit};

#[derive(Debug, Args)]
pub struct BackfillArgs {
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(subcommand)]
    command: BackfillCommand,
}

#[derive(Debug, Subcommand)]
enum BackfillCommand {
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
        #[command(flatten)]
        backfill: BackfillSettings,
        #[command(flatten)]
        jobs: JobSettings,
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
        #[command(flatten)]
        jobs: JobSettings,
    },
}

impl BackfillArgs {
    pub fn reads(&self, args: &mut SettingsArgs) {
        self.database.apply(args);
        match &self.command {
            BackfillCommand::Start { backfill, jobs, .. } => {
                backfill.apply(args);
                jobs.apply(args);
            }
            BackfillCommand::RetryFailed { jobs, .. } => jobs.apply(args),
            _ => {}
        }
    }

    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        let services = App::build(settings).await?.services;
        let show = |view: &BackfillView, json: bool| -> anyhow::Result<()> {
            if json {
                output::json(view)
            } else {
                println!("{}", progress_line(view));
                Ok(())
            }
        };
        match self.command {
            BackfillCommand::Start {
                integration,
                from,
                to,
                batch_width,
                json,
                ..
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
                    output::json(&view)?;
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
                    output::progress(&progress_line(&view));
                    if ended {
                        output::progress_done();
                        break;
                    }
                } else {
                    show(&view, json)?;
                    if !watch || ended {
                        break;
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
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
                    output::json(&views)?;
                } else {
                    for view in views {
                        println!("{}", progress_line(&view));
                    }
                }
            }
            BackfillCommand::Cancel { id } => show(&services.cancel_backfill(id).await?, false)?,
            BackfillCommand::Pause { id } => show(&services.pause_backfill(id).await?, false)?,
            BackfillCommand::Resume { id } => show(&services.resume_backfill(id).await?, false)?,
            BackfillCommand::RetryFailed { id, .. } => {
                show(&services.retry_failed_batches(id).await?, false)?
            }
        }
        Ok(())
    }
}

/// `#7 running [#########-----------] 45/100 batches, 2 failed, synced up to …`
fn progress_line(view: &BackfillView) -> String {
    format!(
        "#{} {:<9} {} {}/{} batches, {} failed, {} in flight, synced up to {}",
        view.id,
        view.status,
        output::bar(view.batches_done, view.batches_total, 20),
        view.batches_done,
        view.batches_total,
        view.batches_failed,
        view.batches_in_flight,
        view.synced_up_to
            .map(|t| t.to_rfc3339())
            .unwrap_or_else(|| "-".into())
    )
}
