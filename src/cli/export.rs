//! `logwarden export …`: an events search or an access events search as CSV or NDJSON, to
//! stdout or a file, through the same export as `GET /api/v1/exports/events` and
//! `GET /api/v1/exports/access-events`: the same filters (named as in the API), the same
//! columns, the same `tz`. The command reads the database directly, so it sees every project.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, ValueEnum};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use tokio::io::AsyncWriteExt;

use crate::app::App;
use crate::config::{DatabaseSettings, Settings, SettingsArgs};
use crate::service::investigation::access::AccessEventQuery;
use crate::service::investigation::events::EventQuery;
use crate::service::investigation::export::{Export, ExportFormat, ExportOptions};
use crate::service::scope::Scope;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Subject {
    /// Prompt events: the filters of `GET /api/v1/events`.
    Events,
    /// The activity feed: the filters of `GET /api/v1/access-events`.
    AccessEvents,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Csv,
    Ndjson,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    database: DatabaseSettings,
    /// What to export.
    #[arg(value_enum)]
    subject: Subject,
    /// The encoding.
    #[arg(long, value_enum)]
    format: Format,
    /// IANA time zone of the exported times, e.g. Europe/Paris (default UTC).
    #[arg(long)]
    tz: Option<String>,
    /// A filter of the search, named as in the API (repeatable), e.g.
    /// `--filter user_email=ana@example.com --filter from=2026-04-01T00:00:00Z`.
    #[arg(long = "filter", value_name = "NAME=VALUE")]
    filters: Vec<String>,
    /// Write to this file (replaced only once the whole export is written) instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

/// `filters` (`name=value` each) as the search query the API would parse from the same
/// parameters; an error names the flag or the filter.
pub(super) fn query_of<T: DeserializeOwned>(filters: &[String]) -> anyhow::Result<T> {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for filter in filters {
        let Some((name, value)) = filter.split_once('=') else {
            anyhow::bail!("--filter {filter:?}: give NAME=VALUE, e.g. user_email=ana@example.com");
        };
        query.append_pair(name.trim(), value);
    }
    let query = query.finish();
    crate::http::extract::parse_query(&query).map_err(|err| anyhow::anyhow!("--filter: {err}"))
}

impl ExportArgs {
    pub fn reads(&self, args: &mut SettingsArgs) {
        self.database.apply(args);
    }

    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        let options = ExportOptions {
            format: match self.format {
                Format::Csv => ExportFormat::Csv,
                Format::Ndjson => ExportFormat::Ndjson,
            },
            tz: self.tz.clone(),
        };
        let services = App::build(settings).await?.services;
        let export: Export = match self.subject {
            Subject::Events => {
                let query: EventQuery = query_of(&self.filters)?;
                services
                    .export_events(&Scope::Everything, &query, &options)
                    .await?
            }
            Subject::AccessEvents => {
                let query: AccessEventQuery = query_of(&self.filters)?;
                services
                    .export_access_events(&Scope::Everything, &query, &options)
                    .await?
            }
        };
        write_output(self.output.as_deref(), export.body).await
    }
}

/// Writes every chunk of `body` to `output`, or to stdout without one, and says how many
/// bytes on stderr. A file is written beside its path and moved over it once complete, so
/// an error never leaves a half-written file.
pub(super) async fn write_output(
    output: Option<&std::path::Path>,
    body: std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<Vec<u8>, crate::service::Error>> + Send>,
    >,
) -> anyhow::Result<()> {
    let Some(path) = output else {
        let mut stdout = tokio::io::stdout();
        let bytes = write(body, &mut stdout).await?;
        stdout.flush().await?;
        eprintln!("{bytes} bytes exported");
        return Ok(());
    };
    let partial = path.with_extension(format!(
        "{}.partial",
        path.extension()
            .and_then(|e| e.to_str())
            .unwrap_or("export")
    ));
    let result = async {
        let mut file = tokio::fs::File::create(&partial)
            .await
            .with_context(|| format!("--output {}", path.display()))?;
        let bytes = write(body, &mut file).await?;
        file.sync_all().await?;
        tokio::fs::rename(&partial, path)
            .await
            .with_context(|| format!("--output {}", path.display()))?;
        anyhow::Ok(bytes)
    }
    .await;
    match result {
        Ok(bytes) => {
            eprintln!("{bytes} bytes exported to {}", path.display());
            Ok(())
        }
        Err(err) => {
            let _ = tokio::fs::remove_file(&partial).await;
            Err(err)
        }
    }
}

/// Writes every chunk of `body` to `out`; the bytes written.
async fn write(
    mut body: std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<Vec<u8>, crate::service::Error>> + Send>,
    >,
    out: &mut (impl tokio::io::AsyncWrite + Unpin),
) -> anyhow::Result<u64> {
    let mut bytes = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        out.write_all(&chunk).await?;
        bytes += chunk.len() as u64;
    }
    Ok(bytes)
}
