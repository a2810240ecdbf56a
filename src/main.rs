//! The `logwarden` binary: parses the command line and runs the chosen role or action.

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = logwarden::cli::Cli::parse();
    match logwarden::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
