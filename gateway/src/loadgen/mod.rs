//! `switchyard loadgen`: signed traffic against a JSON-RPC endpoint, open loop at a target
//! rate, bounded in count and time, every accepted transaction followed to its receipt.
//!
//! - this file: the command line and the run (schedule, send, follow the chain).
//! - [`wallet`]: dev-mnemonic keys, nonce tracking, signing and submission.
//! - [`setup`]: funding, contract deployment, token grants, approvals and liquidity.
//! - [`watch`]: following new blocks.
//! - [`report`]: the report and its percentiles.

pub mod report;
pub mod setup;
pub mod wallet;
pub mod watch;

pub use report::Report;

use crate::{
    progress,
    serve::{config::DEV_MNEMONIC, genesis},
};
use alloy_primitives::B256;
use alloy_provider::{Provider, RootProvider};
use anyhow::Context as _;
use futures_util::{StreamExt, stream};
use std::{
    collections::HashMap,
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};
use switchyard_executors::synthetic::traffic::{Deployment, Traffic, Workload};
use tokio::{sync::Semaphore, time::Instant};
use wallet::Wallet;
use watch::{BlockWatcher, POLL_INTERVAL};

/// Requests in flight at once. Beyond it sending waits, and the achieved rate falls below the
/// offered one: the report shows it rather than the process growing without bound.
pub const MAX_IN_FLIGHT: usize = 1_024;

/// Arguments of `switchyard loadgen`.
#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("bound").required(true).multiple(true).args(["duration", "count"])))]
pub struct LoadgenArgs {
    /// The gateway's JSON-RPC URL.
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    pub rpc: String,
    /// Traffic: p2p (value transfers), erc20 (token transfers), amm (swaps on
    /// constant-product pairs) or mixed (a third of each).
    #[arg(long, value_parser = clap::value_parser!(Workload))]
    pub scenario: Workload,
    /// Sending accounts: dev-mnemonic keys 0..K (account 0 also deploys and funds).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(2..=100_000))]
    pub accounts: u32,
    /// Share of transactions aimed at the hot spot: account 0 as recipient, pair 0 for swaps.
    #[arg(long, default_value_t = 0.1, value_parser = parse_ratio)]
    pub hot_ratio: f64,
    /// Target rate, transactions per second (open loop: sends do not wait for answers).
    #[arg(long, default_value_t = 100.0, value_parser = parse_rate)]
    pub rate: f64,
    /// Stop sending after this many seconds.
    #[arg(long, value_name = "SECS", value_parser = parse_duration)]
    pub duration: Option<f64>,
    /// Stop sending after this many transactions.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// How long to wait for the last receipts after sending stops, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 60.0, value_parser = parse_duration)]
    pub receipt_timeout: f64,
    /// Seed of the traffic's random choices.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the report as one JSON object on the last line of stdout.
    #[arg(long)]
    pub json: bool,
}

fn parse_ratio(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("expected a number from 0 to 1, got {s:?}")),
    }
}

/// A rate in transactions per second: above 0, at most a million.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(r) if r > 0.0 && r <= 1e6 => Ok(r),
        _ => Err(format!(
            "expected transactions per second above 0 and at most 1000000, got {s:?}"
        )),
    }
}

fn parse_duration(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(d) if d > 0.0 && d <= 86_400.0 => Ok(d),
        _ => Err(format!(
            "expected seconds above 0 and at most 86400, got {s:?}"
        )),
    }
}

/// Runs `switchyard loadgen`: the report's lines to `out`, then the JSON object with `--json`.
pub fn run(args: &LoadgenArgs, out: &mut impl Write) -> anyhow::Result<Report> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let report = runtime.block_on(run_load(args))?;
    for line in report.lines() {
        writeln!(out, "{line}")?;
    }
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    }
    Ok(report)
}

/// The whole run on the caller's runtime: setup, then traffic, then receipts.
pub async fn run_load(args: &LoadgenArgs) -> anyhow::Result<Report> {
    let url = args
        .rpc
        .parse()
        .with_context(|| format!("--rpc {:?} is not a URL", args.rpc))?;
    let provider = RootProvider::new_http(url);
    let signers = genesis::dev_signers(DEV_MNEMONIC, args.accounts as usize)?;
    let wallet = Wallet::connect(&provider, signers)
        .await
        .with_context(|| format!("connecting to {}", args.rpc))?;
    let wallet = Arc::new(wallet);
    let (deployment, setup_txs) = setup::prepare(&provider, &wallet, args.scenario).await?;
    let report = drive(&provider, wallet, &deployment, args).await?;
    Ok(Report {
        setup_txs,
        ..report.with_deployment(&deployment)
    })
}

/// What the send tasks and the watcher share.
#[derive(Debug, Default)]
struct Tally {
    /// Sent and not yet seen in a block, with when they were sent. A transaction enters before
    /// its request goes out, so a block cut before the answer arrives still counts it.
    pending: HashMap<B256, Instant>,
    submit_secs: Vec<f64>,
    accepted: u64,
    rejected: u64,
    reasons: std::collections::BTreeMap<String, u64>,
}

/// Sends the traffic on schedule, follows the chain until every accepted transaction is
/// included (or the receipt timeout passes) and fetches the receipts.
async fn drive(
    provider: &RootProvider,
    wallet: Arc<Wallet>,
    deployment: &Deployment,
    args: &LoadgenArgs,
) -> anyhow::Result<Report> {
    let limit = args
        .duration
        .map_or(u64::MAX, |d| (d * args.rate).ceil() as u64);
    let planned = args.count.unwrap_or(u64::MAX).min(limit);
    let tally = Arc::new(Mutex::new(Tally::default()));
    let watcher = BlockWatcher::from_head(provider).await?;
    let first_block = watcher.next_block();
    let sending = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let follow = tokio::spawn(follow_chain(
        provider.clone(),
        watcher,
        tally.clone(),
        sending.clone(),
        Duration::from_secs_f64(args.receipt_timeout),
    ));

    let bar = progress::bar(planned, "loadgen");
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut traffic = Traffic::new(
        args.scenario,
        args.accounts as usize,
        args.hot_ratio,
        args.seed,
    );
    let start = Instant::now();
    for i in 0..planned {
        tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / args.rate)).await;
        let action = traffic.next_action();
        let tx = wallet.sign_call(action.from(), &action.call(deployment))?;
        let permit = in_flight.clone().acquire_owned().await?;
        tally
            .lock()
            .expect("tally")
            .pending
            .insert(tx.hash, Instant::now());
        let (provider, wallet, tally, bar) =
            (provider.clone(), wallet.clone(), tally.clone(), bar.clone());
        tokio::spawn(async move {
            let asked = Instant::now();
            let answer = wallet.send(&provider, &tx).await;
            let mut tally = tally.lock().expect("tally");
            tally.submit_secs.push(asked.elapsed().as_secs_f64());
            match answer {
                Ok(_) => tally.accepted += 1,
                Err(reason) => {
                    tally.rejected += 1;
                    *tally.reasons.entry(reason).or_default() += 1;
                    tally.pending.remove(&tx.hash);
                }
            }
            bar.inc(1);
            drop(permit);
        });
    }
    // Every send has answered once all permits are back.
    drop(in_flight.acquire_many(MAX_IN_FLIGHT as u32).await?);
    let send_seconds = start.elapsed().as_secs_f64();
    sending.store(false, std::sync::atomic::Ordering::Release);
    bar.finish_and_clear();
    let followed = follow.await.context("the chain follower panicked")??;

    let (receipts, reverted) = fetch_receipts(provider, &followed.included).await?;
    let mut tally = std::mem::take(&mut *tally.lock().expect("tally"));
    let mut inclusion = followed.inclusion_secs;
    let run_seconds = followed
        .last_inclusion
        .map_or(send_seconds, |at| (at - start).as_secs_f64());
    Ok(Report {
        scenario: args.scenario.name().to_owned(),
        accounts: args.accounts as usize,
        hot_ratio: args.hot_ratio,
        offered_tps: args.rate,
        sent: tally.accepted + tally.rejected,
        accepted: tally.accepted,
        rejected: tally.rejected,
        rejected_by_reason: tally.reasons,
        receipts,
        reverted,
        missing_receipts: tally.accepted.saturating_sub(receipts),
        send_seconds,
        run_seconds,
        accepted_tps: tally.accepted as f64 / send_seconds.max(1e-9),
        achieved_tps: receipts as f64 / run_seconds.max(1e-9),
        submit_p50_ms: report::quantile_ms(&mut tally.submit_secs, 0.5),
        submit_p99_ms: report::quantile_ms(&mut tally.submit_secs, 0.99),
        inclusion_p50_ms: report::quantile_ms(&mut inclusion, 0.5),
        inclusion_p99_ms: report::quantile_ms(&mut inclusion, 0.99),
        blocks: [first_block, followed.last_block],
        ..Default::default()
    })
}

/// What following the chain saw.
#[derive(Debug)]
struct Followed {
    included: Vec<B256>,
    inclusion_secs: Vec<f64>,
    last_inclusion: Option<Instant>,
    last_block: u64,
}

/// Polls new blocks, timing the inclusion of every pending transaction, until sending has
/// stopped and nothing is pending, or `timeout` after sending stopped.
async fn follow_chain(
    provider: RootProvider,
    mut watcher: BlockWatcher,
    tally: Arc<Mutex<Tally>>,
    sending: Arc<std::sync::atomic::AtomicBool>,
    timeout: Duration,
) -> anyhow::Result<Followed> {
    let mut followed = Followed {
        included: Vec::new(),
        inclusion_secs: Vec::new(),
        last_inclusion: None,
        last_block: watcher.next_block().saturating_sub(1),
    };
    let mut stopped_at = None;
    loop {
        let still_sending = sending.load(std::sync::atomic::Ordering::Acquire);
        let hashes = watcher.poll(&provider).await?;
        let seen = Instant::now();
        let nothing_pending = {
            let mut tally = tally.lock().expect("tally");
            for hash in hashes {
                if let Some(sent) = tally.pending.remove(&hash) {
                    followed.inclusion_secs.push((seen - sent).as_secs_f64());
                    followed.included.push(hash);
                    followed.last_inclusion = Some(seen);
                }
            }
            tally.pending.is_empty()
        };
        followed.last_block = watcher.next_block().saturating_sub(1);
        if !still_sending {
            let stopped = *stopped_at.get_or_insert(seen);
            if nothing_pending || seen - stopped > timeout {
                return Ok(followed);
            }
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Fetches the receipt of every included transaction: how many came back, and how many of
/// those failed.
async fn fetch_receipts(provider: &RootProvider, hashes: &[B256]) -> anyhow::Result<(u64, u64)> {
    let statuses: Vec<Option<bool>> = stream::iter(hashes)
        .map(|&hash| async move {
            provider
                .get_transaction_receipt(hash)
                .await
                .map(|receipt| receipt.map(|r| r.status()))
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .context("eth_getTransactionReceipt")?;
    let receipts = statuses.iter().flatten().count() as u64;
    let reverted = statuses.iter().flatten().filter(|ok| !**ok).count() as u64;
    Ok((receipts, reverted))
}
