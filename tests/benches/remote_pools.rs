//! Whole-program benchmark: the same signed traffic through `switchyard serve` with two
//! in-process pools, then with two local `switchyard executor` processes (`--pools 0`), runs
//! interleaved. Reports committed transactions per second, and per-block execution time (the
//! `switchyard_block_execute_seconds` histogram) with the remote/in-process ratio: the network
//! protocol's per-block overhead.
//!
//! ```sh
//! chrt -f 50 cargo bench -p switchyard-tests --bench remote_pools
//! ```

#[path = "../tests/common/mod.rs"]
#[allow(dead_code)]
mod common;

use alloy_primitives::Address;
use std::time::{Duration, Instant};
use switchyard_gateway::serve::{config::DEV_MNEMONIC, genesis};
use switchyard_tests::{ExecutorProcess, Gateway, eventually, metric};

const SENDERS: usize = 64;
const PER_SENDER: u64 = 120;
const RUNS: usize = 3;

/// One run's figures.
#[derive(Debug, Clone, Copy)]
struct Figures {
    txs_per_second: f64,
    blocks: f64,
    execute_seconds_per_block: f64,
    txs_per_block: f64,
}

fn run(remote: bool, raws: &[Vec<String>]) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(
        &config,
        "[chain]\nblock_time_ms = 100\ndev_accounts = 64\n[traffic_log]\nenabled = false\n\
         [executor]\nfallback = false\n",
    )
    .unwrap();
    let executors: Vec<ExecutorProcess> = if remote {
        (0..2)
            .map(|_| ExecutorProcess::start("127.0.0.1:0"))
            .collect()
    } else {
        Vec::new()
    };
    let addrs: Vec<String> = executors.iter().map(|e| e.addr.to_string()).collect();
    let mut args = vec!["--config", config.to_str().unwrap()];
    if remote {
        args.extend(["--pools", "0"]);
        for addr in &addrs {
            args.extend(["--remote-pool", addr.as_str()]);
        }
    } else {
        args.extend(["--pools", "2"]);
    }
    let gateway = Gateway::start(&args);
    if remote {
        let up = |p: usize| {
            metric(
                &gateway.scrape(),
                &format!("switchyard_pool_up{{pool=\"{p}\"}}"),
            )
        };
        assert!(eventually(Duration::from_secs(60), || up(0) == Some(1.0)
            && up(1) == Some(1.0)));
    }
    let total: usize = raws.iter().map(Vec::len).sum();
    let started = Instant::now();
    for batch in raws {
        common::send_all(&gateway, batch);
    }
    let included = "switchyard_block_transactions_total";
    assert!(eventually(Duration::from_secs(300), || {
        metric(&gateway.scrape(), included).unwrap_or(0.0) >= total as f64
    }));
    let elapsed = started.elapsed().as_secs_f64();
    let text = gateway.scrape();
    let blocks = metric(&text, "switchyard_block_execute_seconds_count").unwrap();
    let execute = metric(&text, "switchyard_block_execute_seconds_sum").unwrap();
    assert!(gateway.stop().success());
    Figures {
        txs_per_second: total as f64 / elapsed,
        blocks,
        execute_seconds_per_block: execute / blocks,
        txs_per_block: total as f64 / blocks,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` must not run this.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let signers = genesis::dev_signers(DEV_MNEMONIC, SENDERS).unwrap();
    // Every sender pays an address of its own: independent groups the pools can share.
    let mut raws: Vec<Vec<String>> = Vec::new();
    for nonce in 0..PER_SENDER {
        raws.push(
            signers
                .iter()
                .enumerate()
                .map(|(i, s)| common::transfer(s, nonce, Address::repeat_byte(0x10 + i as u8), 1))
                .collect(),
        );
    }
    let mut local = Vec::new();
    let mut remote = Vec::new();
    for _ in 0..RUNS {
        local.push(run(false, &raws));
        remote.push(run(true, &raws));
    }
    println!(
        "{} transfers ({SENDERS} senders x {PER_SENDER}), {RUNS} interleaved runs each, medians:",
        SENDERS as u64 * PER_SENDER
    );
    let summary = |name: &str, figures: &[Figures]| {
        let tps = median(figures.iter().map(|f| f.txs_per_second).collect());
        let per_block = median(
            figures
                .iter()
                .map(|f| f.execute_seconds_per_block)
                .collect(),
        );
        let size = median(figures.iter().map(|f| f.txs_per_block).collect());
        let blocks = median(figures.iter().map(|f| f.blocks).collect());
        println!(
            "{name:<28} {tps:>8.0} tx/s  {:>7.2} ms execute per block  {size:>6.1} tx per block  {blocks:>4.0} blocks",
            per_block * 1e3
        );
        (tps, per_block, size)
    };
    let (local_tps, local_block, local_size) = summary("2 in-process pools", &local);
    let (remote_tps, remote_block, remote_size) = summary("2 remote executors (h2c)", &remote);
    println!(
        "ratios remote/in-process: throughput {:.2}, execute time per block {:.2}, per transaction {:.2}",
        remote_tps / local_tps,
        remote_block / local_block,
        (remote_block / remote_size) / (local_block / local_size)
    );
    println!(
        "protocol overhead per block: {:.2} ms",
        (remote_block - local_block) * 1e3
    );
}
