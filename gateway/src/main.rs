//! The `switchyard` binary: parses the command line, installs tracing, and hands over to the
//! gateway crate.

use clap::{Parser, Subcommand};
use std::process::ExitCode;
use switchyard_gateway::{bench, executor, loadgen, replay, serve, train};

/// switchyard: a load-balancing gateway in front of pools of EVM executors.
#[derive(Debug, Parser)]
#[command(name = "switchyard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve JSON-RPC: admit transactions, sequence blocks, execute them across pools.
    Serve(serve::cli::ServeArgs),
    /// Run a remote executor pool that a gateway sends batches to (`serve --remote-pool`).
    Executor(executor::ExecutorArgs),
    /// Replay real blocks sequentially and across pools; check them against the chain.
    Replay(replay::ReplayArgs),
    /// Train the conflict model on traffic logs and write a model file.
    Train(train::TrainArgs),
    /// Send signed p2p, erc20, amm or mixed traffic to a gateway at a target rate; report.
    Loadgen(loadgen::LoadgenArgs),
    /// Measure everything side by side: blocks, routers, projections, the gateway under load.
    Bench(bench::BenchArgs),
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
        Command::Serve(args) => run_serve(&args),
        Command::Executor(args) => run_executor(&args),
        Command::Replay(args) => match replay::run(&args, &mut std::io::stdout().lock()) {
            Ok(summary) if summary.mismatches == 0 => ExitCode::SUCCESS,
            Ok(_) => ExitCode::from(1),
            Err(e) => {
                eprintln!("switchyard replay: {e:#}");
                ExitCode::from(2)
            }
        },
        Command::Train(args) => match train::run(&args, &mut std::io::stdout().lock()) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("switchyard train: {e:#}");
                ExitCode::from(1)
            }
        },
        Command::Bench(args) => match bench::run(&args, &mut std::io::stderr().lock()) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("switchyard bench: {e:#}");
                ExitCode::from(1)
            }
        },
        Command::Loadgen(args) => match loadgen::run(&args, &mut std::io::stdout().lock()) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("switchyard loadgen: {e:#}");
                ExitCode::from(1)
            }
        },
    }
}

/// EX_USAGE: the config or the flags are wrong.
const EXIT_CONFIG: u8 = 64;

/// `switchyard serve`: check the config (exit 64 if bad), bind, serve until SIGINT/SIGTERM.
fn run_serve(args: &serve::cli::ServeArgs) -> ExitCode {
    let settings = match args.settings() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("switchyard serve: bad config: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("switchyard serve: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let listeners = serve::Listeners::bind(&settings).await?;
        let (rpc, metrics) = listeners.local_addrs()?;
        println!("switchyard serve: JSON-RPC on http://{rpc}");
        if let Some(metrics) = metrics {
            println!("switchyard serve: metrics on http://{metrics}/metrics");
        }
        let registry = prometheus::Registry::new();
        serve::serve(
            listeners,
            registry,
            settings,
            serve::Hooks::default(),
            shutdown_signal(),
        )
        .await
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchyard serve: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `switchyard executor`: bind, print the address, serve until SIGINT/SIGTERM.
fn run_executor(args: &executor::ExecutorArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("switchyard executor: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        println!(
            "switchyard executor: listening on {} ({} threads)",
            listener.local_addr()?,
            args.threads()
        );
        executor::serve(
            listener,
            args.threads(),
            args.max_message_bytes,
            shutdown_signal(),
        )
        .await
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchyard executor: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
