//! `logwarden bench …`: runs a benchmark and prints its report, as text or JSON.

use clap::Subcommand;

use super::output;
use crate::tools::bench::{run_ingest, IngestBenchArgs};
use crate::tools::bench_budget::{run_budget, BudgetBenchArgs};
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
        }
    }
}
