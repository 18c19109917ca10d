//! Section 4: the load generator against a real `switchyard serve` child process (this same
//! binary), one run per offered rate, each after its own setup.

use super::Plan;
use crate::loadgen::{self, LoadgenArgs, Report};
use anyhow::{Context as _, bail};
use serde::Serialize;
use std::{
    io::{BufRead, BufReader, Write},
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use switchyard_executors::synthetic::Workload;

/// The scenario of the gateway section.
pub const SCENARIO: Workload = Workload::Mixed;

/// Section 4.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayFigures {
    /// The gateway's command line (after the binary).
    pub serve_args: Vec<String>,
    /// One load report per offered rate.
    pub points: Vec<Report>,
}

/// Starts `switchyard serve`, runs the load at every rate of the plan, stops the gateway.
pub fn measure(
    plan: &Plan,
    scratch: &Path,
    log: &mut impl Write,
) -> anyhow::Result<GatewayFigures> {
    normal_priority(log)?;
    let serve_args: Vec<String> = [
        "serve",
        "--rpc",
        "127.0.0.1:0",
        "--metrics",
        "127.0.0.1:0",
        "--dev-accounts",
        &plan.load_accounts.to_string(),
        "--data-dir",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([scratch.join("serve").display().to_string()])
    .collect();
    let mut child = ChildGateway::start(&serve_args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut points = Vec::new();
    for &rate in &plan.rates {
        let args = LoadgenArgs {
            rpc: child.url.clone(),
            scenario: SCENARIO,
            accounts: plan.load_accounts,
            hot_ratio: plan.hot_ratio,
            rate,
            duration: Some(plan.load_seconds),
            count: None,
            receipt_timeout: 60.0,
            seed: 1,
            json: false,
        };
        let report = runtime
            .block_on(loadgen::run_load(&args))
            .with_context(|| format!("load at {rate} tx/s"))?;
        writeln!(
            log,
            "offered {rate:>6} tx/s: accepted {:.0}/s, included {:.0}/s, inclusion p50 {:.0} ms p99 {:.0} ms",
            report.accepted_tps,
            report.achieved_tps,
            report.inclusion_p50_ms,
            report.inclusion_p99_ms
        )?;
        points.push(report);
    }
    child.stop()?;
    Ok(GatewayFigures { serve_args, points })
}

/// Drops this process (every thread, and so the children it starts) to `SCHED_OTHER` when it
/// runs under a real-time policy (`chrt -f`). The block sections want SCHED_FIFO to keep other
/// work off their timings; an async server and its client sharing two cores under SCHED_FIFO
/// would measure the scheduler instead, since FIFO threads never yield the core to each other.
fn normal_priority(log: &mut impl Write) -> anyhow::Result<()> {
    let sched = std::fs::read_to_string("/proc/self/sched").unwrap_or_default();
    let realtime = sched
        .lines()
        .find(|l| l.starts_with("policy"))
        .and_then(|l| l.split_once(':'))
        .is_some_and(|(_, policy)| matches!(policy.trim(), "1" | "2"));
    if !realtime {
        return Ok(());
    }
    let status = Command::new("chrt")
        .args(["--all-tasks", "--other", "--pid", "0"])
        .arg(std::process::id().to_string())
        .status()
        .context("running chrt to leave the real-time policy")?;
    if !status.success() {
        bail!("chrt could not return this process to SCHED_OTHER ({status})");
    }
    writeln!(log, "gateway section at normal priority (SCHED_OTHER)")?;
    Ok(())
}

/// A `switchyard serve` child, killed if still running when dropped.
#[derive(Debug)]
struct ChildGateway {
    child: Child,
    url: String,
}

impl ChildGateway {
    /// Starts this binary with `args` and waits (at most a minute) for its JSON-RPC address.
    fn start(args: &[String]) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating the switchyard binary")?;
        let mut child = Command::new(exe)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting switchyard serve")?;
        let stdout = child.stdout.take().context("serve's stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("switchyard serve: JSON-RPC on ") {
                        return Ok(Self {
                            child,
                            url: url.trim().to_owned(),
                        });
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    bail!("switchyard serve did not print its address within a minute");
                }
            }
        }
    }

    /// SIGTERM, then waits (at most a minute) for a clean exit.
    fn stop(&mut self) -> anyhow::Result<()> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .context("running kill")?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("switchyard serve exited with {status}");
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!("switchyard serve did not stop within a minute of SIGTERM")
    }
}

impl Drop for ChildGateway {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
