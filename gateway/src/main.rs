//! The `switchyard` binary: parses the command line, installs tracing, and hands over to the
//! gateway crate.

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use switchyard_gateway::replay;

/// switchyard: a load-balancing gateway in front of pools of EVM executors.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay real blocks sequentially and across pools; check them against the chain.
    Replay(replay::ReplayArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Replay(args) => match replay::run(&args, &mut std::io::stdout().lock()) {
            Ok(summary) if summary.mismatches == 0 => ExitCode::SUCCESS,
            Ok(_) => ExitCode::from(1),
            Err(e) => {
                eprintln!("switchyard replay: {e:#}");
                ExitCode::from(2)
            }
        },
    }
}
