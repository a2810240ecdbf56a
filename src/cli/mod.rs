//! The command line: one binary, one subcommand per role and per operator action, one file per
//! command group. Every action calls the service layer; nothing here holds logic of its own
//! beyond parsing and printing. This module holds the top-level parser and the dispatch.

mod backfill;
mod bench;
mod dataset;
mod export;
mod fake_api;
mod input;
mod integration;
mod jobs;
mod output;
mod policy;
mod pull;
mod report;
mod roles;
mod serve;
mod token;

use clap::{Parser, Subcommand};

use crate::config::{ConfigFileArgs, LogSettings, Settings, SettingsArgs};

#[derive(Debug, Parser)]
#[command(
    name = "logwarden",
    version,
    about = "Compliance API ingestion and runtime policies for Claude Enterprise"
)]
pub struct Cli {
    #[command(flatten)]
    config: ConfigFileArgs,
    #[command(flatten)]
    log: LogSettings,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply pending database migrations and exit.
    Migrate(roles::MigrateArgs),
    /// Run the scheduler: sync ticks, backfill flow control, repairs.
    Scheduler(roles::SchedulerArgs),
    /// Run a worker for one data plane.
    Worker(roles::WorkerArgs),
    /// Serve the HTTP API (`/api/v1`, `/healthz`, `/readyz`, `/metrics`).
    Serve(serve::ServeArgs),
    /// The API, the scheduler and one worker in one process (single-machine production).
    Run(serve::RunArgs),
    /// Create, list and revoke API tokens.
    Token(token::TokenArgs),
    /// Manage integrations.
    Integration(integration::IntegrationArgs),
    /// Start and watch backfills.
    Backfill(backfill::BackfillArgs),
    /// Export an events or access events search as CSV or NDJSON, as the API does.
    Export(export::ExportArgs),
    /// The period report of a project or an integration as JSON, CSV or HTML.
    Report(report::ReportArgs),
    /// Compile datasets from searches; list, show, delete and download them.
    Dataset(dataset::DatasetArgs),
    /// Inspect and repair jobs.
    Jobs(jobs::JobsArgs),
    /// Evaluate text against policy sets; edit and install an integration's policy set.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// `run` on SQLite against the built-in fake Compliance API, with a demo integration.
    Demo(crate::tools::demo::DemoArgs),
    /// Serve the fake Compliance API (for tests, demos and load).
    FakeApi(fake_api::FakeApiArgs),
    /// Pull one window through the client (no database) and print its counts.
    Pull(pull::PullArgs),
    /// Measure the pipeline.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

impl Command {
    /// Adds the flags and variables of the settings this command reads to `args`.
    fn reads(&self, args: &mut SettingsArgs) {
        match self {
            Self::Migrate(command) => command.reads(args),
            Self::Scheduler(command) => command.reads(args),
            Self::Worker(command) => command.reads(args),
            Self::Serve(command) => command.reads(args),
            Self::Run(command) => command.reads(args),
            Self::Token(command) => command.reads(args),
            Self::Integration(command) => command.reads(args),
            Self::Backfill(command) => command.reads(args),
            Self::Export(command) => command.reads(args),
            Self::Report(command) => command.reads(args),
            Self::Dataset(command) => command.reads(args),
            Self::Jobs(command) => command.reads(args),
            Self::Policy(command) => command.reads(args),
            Self::Demo(command) => {
                command.reads(args);
                // The demo and the benchmark draw progress lines; job-by-job logs would
                // scroll them away.
                args.log_level.get_or_insert_with(|| "warn".to_owned());
            }
            Self::Bench(_) => {
                args.log_level.get_or_insert_with(|| "warn".to_owned());
            }
            Self::Pull(command) => command.reads(args),
            Self::FakeApi(_) => {}
        }
    }
}

/// Loads the settings the command reads, starts logging, and runs the command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut args = SettingsArgs::default();
    cli.config.apply(&mut args);
    cli.log.apply(&mut args);
    cli.command.reads(&mut args);
    let settings = Settings::load(&args)?;
    crate::infra::telemetry::init(settings.log_format, &settings.log_level);
    match cli.command {
        Command::Migrate(command) => command.run(&settings).await,
        Command::Scheduler(command) => command.run(&settings).await,
        Command::Worker(command) => command.run(&settings).await,
        Command::Serve(command) => command.run(&settings).await,
        Command::Run(command) => command.run(&settings).await,
        Command::Token(command) => command.run(&settings).await,
        Command::Integration(command) => command.run(&settings).await,
        Command::Backfill(command) => command.run(&settings).await,
        Command::Export(command) => command.run(&settings).await,
        Command::Report(command) => command.run(&settings).await,
        Command::Dataset(command) => command.run(&settings).await,
        Command::Jobs(command) => command.run(&settings).await,
        Command::Policy(command) => command.run(&settings).await,
        Command::Demo(command) => {
            crate::tools::demo::run(command, args, roles::shutdown_on_signal()).await
        }
        Command::FakeApi(command) => command.run().await,
        Command::Pull(command) => command.run(&settings).await,
        Command::Bench(command) => command.run().await,
    }
}
