//! `logwarden bench …`: runs a benchmark and prints its report, as text or JSON.

use clap::Subcommand;

use super::output;
use crate::tools::bench::{run_ingest, IngestBenchArgs};
use crate::tools::bench_budget::{run_budget, BudgetBenchArgs};
use crate::tools::bench_investigation::{
    run_export, run_search, InvestigationBenchArgs, SearchBenchArgs,
};
use crate::tools::bench_pump::{run_pump, PumpBenchArgs};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// End-to-end ingestion throughput against the in-process fake API, with its baselines.
    Ingest(IngestBenchArgs),
    /// One scheduler pump pass over a large backlog of backfill batches (PostgreSQL).
    Pump(PumpBenchArgs),
    /// A fleet of worker processes backfilling against the fake API's rate limit: budget
    /// used per minute, 429s, sync latency, and requests per window against the minimum.
    Budget(BudgetBenchArgs),
    /// An export of every event as CSV and NDJSON over HTTP: events/s and RSS growth
    /// (PostgreSQL, 1,000,000 events by default).
    Export(InvestigationBenchArgs),
    /// p95 latency of the events search and a session's chat (PostgreSQL, 1,000,000 events
    /// by default).
    Search(SearchBenchArgs),
}

impl BenchCommand {
    pub async fn run(self) -> anyhow::Result<()> {
        match self {
            Self::Ingest(args) => {
                let json = args.json;
                let report = run_ingest(args).await?;
                if json {
                    output::json(&report)?;
                } else {
                    println!("{report}");
                }
                Ok(())
            }
            Self::Budget(args) => {
                let json = args.json;
                let report = run_budget(args).await?;
                if json {
                    output::json(&report)?;
                } else {
                    println!("{report}");
                }
                Ok(())
            }
            Self::Pump(args) => {
                let json = args.json;
                let report = run_pump(args).await?;
                if json {
                    output::json(&report)?;
                } else {
                    println!("{report}");
                }
                Ok(())
            }
            Self::Export(args) => {
                let json = args.json;
                let report = run_export(args).await?;
                if json {
                    output::json(&report)?;
                } else {
                    println!("{report}");
                }
                Ok(())
            }
            Self::Search(args) => {
                let json = args.data.json;
                let report = run_search(args).await?;
                if json {
                    output::json(&report)?;
                } else {
                    println!("{report}");
                }
                Ok(())
            }
        }
    }
}
