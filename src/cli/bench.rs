//! `logwarden bench …`: runs a benchmark and prints its report, as text or JSON.

use clap::Subcommand;

use super::output;
use crate::tools::bench::{run_ingest, IngestBenchArgs};
use crate::tools::bench_pump::{run_pump, PumpBenchArgs};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// End-to-end ingestion throughput against the in-process fake API, with its baselines.
    Ingest(IngestBenchArgs),
    /// One scheduler pump pass over a large backlog of backfill batches (PostgreSQL).
    Pump(PumpBenchArgs),
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
