//! `logwarden report`: the period report of a project or an integration as JSON, CSV or a
//! self-contained HTML page, to a file or stdout: the service's report and encodings, as
//! `GET /api/v1/reports` gives them. The command reads the database directly, so it may report
//! on any project.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};

use super::export::write_output;
use crate::app::App;
use crate::config::{DatabaseSettings, Settings, SettingsArgs};
use crate::service::investigation::reports::{report_csv, report_html, ReportQuery};
use crate::service::scope::Scope;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Csv,
    Html,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(flatten)]
    database: DatabaseSettings,
    /// The project to report on (or --integration-id).
    #[arg(long)]
    project_id: Option<i64>,
    /// The integration to report on (or --project-id).
    #[arg(long)]
    integration_id: Option<i64>,
    /// Start of the period, RFC 3339 (inclusive).
    #[arg(long)]
    from: DateTime<Utc>,
    /// End of the period, RFC 3339 (exclusive; at most 366 days after --from).
    #[arg(long)]
    to: DateTime<Utc>,
    /// The encoding.
    #[arg(long, value_enum, default_value = "json")]
    format: Format,
    /// Write to this file (replaced only once complete) instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

impl ReportArgs {
    pub fn reads(&self, args: &mut SettingsArgs) {
        self.database.apply(args);
    }

    pub async fn run(self, settings: &Settings) -> anyhow::Result<()> {
        let services = App::build(settings).await?.services;
        let query = ReportQuery {
            project_id: self.project_id,
            integration_id: self.integration_id,
            from: self.from,
            to: self.to,
            format: None,
        };
        let report = services.period_report(&Scope::Everything, &query).await?;
        let bytes = match self.format {
            Format::Json => serde_json::to_vec_pretty(&report)?,
            Format::Csv => report_csv(&report),
            Format::Html => report_html(&report).into_bytes(),
        };
        write_output(
            self.output.as_deref(),
            Box::pin(futures::stream::iter([Ok(bytes)])),
        )
        .await
    }
}
