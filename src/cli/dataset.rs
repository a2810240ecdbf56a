//! `logwarden dataset …`: compile an events search's prompts into a dataset, list, show and
//! delete datasets, and download one as JSONL, through the same service functions as
//! `/api/v1/datasets`. The command reads the database directly, so it sees every project;
//! datasets it creates are recorded as created by `cli`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use futures::{StreamExt, TryStreamExt};

use super::export::{query_of, write_output};
use super::output::{self, Table};
use crate::app::App;
use crate::config::{DatabaseSettings, Settings, SettingsArgs};
use crate::service::investigation::datasets::{jsonl, DatasetQuery, NewDataset};
use crate::service::investigation::events::EventQuery;
use crate::service::page::Limit;
use crate::service::scope::Scope;

#[derive(Debug, Args)]
pub struct DatasetArgs {
    #[command(flatten)]
    database: DatabaseSettings,
    #[command(subcommand)]
    command: DatasetCommand,
}

#[derive(Debug, Subcommand)]
enum DatasetCommand {
    /// Compile the distinct prompts of an events search into a new dataset.
    Create {
        /// 1 to 200 characters.
        #[arg(long)]
        name: String,
        /// Keep only prompts of events violating this policy (repeatable; default: all).
        #[arg(long = "policy")]
        policies: Vec<String>,
        /// A filter of the events search, named as in the API (repeatable), e.g.
        /// `--filter from=2026-04-01T00:00:00Z`.
        #[arg(long = "filter", value_name = "NAME=VALUE")]
        filters: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// List datasets, newest first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one dataset.
    Show { id: i64 },
    /// Delete a dataset and its items.
    Delete { id: i64 },
    /// Write a dataset's items as JSONL: {"prompt", "response", "labels", "source_event_ids"}.
    Download {
        id: i64,
        /// Write to this file (replaced only once complete) instead of stdout.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

impl DatasetArgs {
    pub fn reads(&self, args: &mut SettingsArgs) {
        self.database.apply(args);
    }

    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        let services = App::build(settings).await?.services;
        let scope = Scope::Everything;
        match self.command {
            DatasetCommand::Create {
                name,
                policies,
                filters,
                json,
            } => {
                let query: EventQuery = query_of(&filters)?;
                let search = {
                    let mut search = form_urlencoded::Serializer::new(String::new());
                    for (key, value) in filters.iter().filter_map(|f| f.split_once('=')) {
                        search.append_pair(key.trim(), value);
                    }
                    search.finish()
                };
                let view = services
                    .create_dataset(
                        &scope,
                        "cli",
                        &search,
                        &query,
                        NewDataset { name, policies },
                    )
                    .await?;
                if json {
                    return output::json(&view);
                }
                eprintln!(
                    "dataset {} ({}): {} prompts from {} events",
                    view.id, view.name, view.item_count, view.source_event_count
                );
                println!("{}", view.id);
            }
            DatasetCommand::List { json } => {
                let mut views = Vec::new();
                let mut query = DatasetQuery {
                    limit: Limit::LARGEST,
                    cursor: None,
                };
                loop {
                    let page = services.list_datasets(&scope, &query).await?;
                    views.extend(page.items);
                    match page.next_cursor {
                        Some(cursor) => query.cursor = Some(cursor),
                        None => break,
                    }
                }
                if json {
                    return output::json(&views);
                }
                let table = Table::new(&[
                    ("ID", 5),
                    ("NAME", 24),
                    ("PROMPTS", 8),
                    ("EVENTS", 8),
                    ("POLICIES", 16),
                    ("CREATED", 0),
                ]);
                for view in views {
                    table.row(&[
                        view.id.to_string(),
                        view.name,
                        view.item_count.to_string(),
                        view.source_event_count.to_string(),
                        view.policies.join(","),
                        view.created_at.to_rfc3339(),
                    ]);
                }
            }
            DatasetCommand::Show { id } => output::json(&services.dataset(&scope, id).await?)?,
            DatasetCommand::Delete { id } => {
                let view = services.dataset(&scope, id).await?;
                services.delete_dataset(&scope, id).await?;
                eprintln!("dataset {} ({}) deleted", view.id, view.name);
            }
            DatasetCommand::Download { id, output } => {
                let items = services.dataset_items(&scope, id).await?;
                let body = items
                    .try_chunks(200)
                    .map(|chunk| chunk.map(|items| jsonl(&items)).map_err(|err| err.1));
                write_output(output.as_deref(), Box::pin(body)).await?;
            }
        }
        Ok(())
    }
}
