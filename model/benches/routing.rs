//! A block's routing against its sequential execution, on the shared mainnet blocks held out
//! of training: issue 4's cost target is routing under 2% of the block's sequential time.
//!
//! Every block is executed and logged once, a logistic model is trained on 30 of the 42 blocks
//! as `switchyard train --holdout-fraction 0.2857` would, and for each held-out block criterion
//! times, in this process:
//! - `sequential`: the block's sequential execution (revm, receipts, post-state);
//! - `contract` and `model`: the routing step as the parallel executor takes it, the costs
//!   estimated from the state (then predicted, for `model`, by its cost predictor) and the
//!   router's `route` (groups and packing onto 2 pools).
//!
//! It ends with each block's routing as a share of its sequential time, from the means
//! criterion saved (`target/criterion/routing-<block>/`).
//!
//! `cargo bench -p switchyard-model --bench routing` (the blocks are read from
//! `../shared/data/mainnet`, or `SWITCHYARD_MAINNET_DIR`).

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::{hint::black_box, path::PathBuf, time::Duration};
use switchyard_executors::{
    cost::estimated_cost,
    execute_sequential,
    router::{ContractRouter, RouteInput, Router},
};
use switchyard_model::{
    ModelRouter,
    test_utils::{MainnetBlock, mainnet_blocks},
    train::{Algo, TrainOptions, train_records},
};

/// The share of blocks held out, as in the model's mainnet tests: 12 of the 42.
const HOLDOUT: f64 = 12.0 / 42.0;
/// The functions timed per block, in the order of the summary.
const FUNCTIONS: [&str; 3] = ["sequential", "contract", "model"];

/// The routing step of the parallel executor: cost estimates from the state, the costs the
/// router knows better, then the router.
fn route(router: &dyn Router, e: &MainnetBlock) -> usize {
    let estimates: Vec<u64> = e
        .block
        .txs
        .iter()
        .map(|tx| estimated_cost(tx, e.state.as_ref()))
        .collect();
    let costs = router
        .known_costs(&e.block, &estimates, None)
        .unwrap_or(estimates);
    let routing = router.route(&RouteInput {
        block: &e.block,
        costs: &costs,
        pool_weights: &[1.0, 1.0],
        state: Some(e.state.as_ref()),
        oracle: None,
    });
    routing.groups.len()
}

fn group_name(number: u64) -> String {
    format!("routing-{number}")
}

fn bench(c: &mut Criterion) {
    let Some(mainnet) = mainnet_blocks() else {
        eprintln!(
            "SKIPPED: no mainnet data; set SWITCHYARD_MAINNET_DIR or place it at ../shared/data/mainnet"
        );
        return;
    };
    let options = TrainOptions {
        algo: Algo::Logistic,
        holdout_fraction: HOLDOUT,
        ..TrainOptions::default()
    };
    let (model, _) = train_records(&mainnet.records, &options, &mut |_| {}).expect("train");
    let held_out = model.training.test_blocks.clone();
    let model = ModelRouter::new(model);
    let blocks: Vec<&MainnetBlock> = mainnet
        .blocks
        .iter()
        .filter(|e| held_out.contains(&e.block.number()) && e.block.txs.len() >= 2)
        .collect();
    // The blocks whose three functions all ran (a filter on the command line skips some).
    let mut measured = Vec::new();
    for e in blocks {
        let mut group = c.benchmark_group(group_name(e.block.number()));
        group
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3));
        let mut ran = [false; 3];
        group.bench_function(FUNCTIONS[0], |b| {
            ran[0] = true;
            b.iter(|| execute_sequential(black_box(&e.block), e.state.clone()).expect("runs"))
        });
        group.bench_function(FUNCTIONS[1], |b| {
            ran[1] = true;
            b.iter(|| route(black_box(&ContractRouter), e))
        });
        group.bench_function(FUNCTIONS[2], |b| {
            ran[2] = true;
            b.iter(|| route(black_box(&model), e))
        });
        group.finish();
        if ran.iter().all(|r| *r) {
            measured.push(e);
        }
    }
    summarize(&measured);
}

/// Where criterion saves its estimates: `<target>/criterion`, as criterion finds the target
/// folder (`CARGO_TARGET_DIR`, else the folder this bench binary was built in).
fn criterion_dir() -> Option<PathBuf> {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir),
        // <target>/<profile>/deps/<this binary>
        None => std::env::current_exe().ok()?.ancestors().nth(3)?.to_owned(),
    };
    Some(target.join("criterion"))
}

/// The mean time criterion estimated for `function` of `group`, in nanoseconds.
fn mean_nanos(dir: &std::path::Path, group: &str, function: &str) -> Option<f64> {
    let path = dir.join(group).join(function).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let estimates: serde_json::Value = serde_json::from_str(&text).ok()?;
    estimates["mean"]["point_estimate"].as_f64()
}

fn summarize(blocks: &[&MainnetBlock]) {
    let Some(dir) = criterion_dir() else {
        return;
    };
    eprintln!("\nrouting as a share of the block's sequential execution (criterion means):");
    eprintln!(
        "{:>9} {:>5} {:>12} {:>18} {:>18}",
        "block", "txs", "sequential", "contract", "model"
    );
    for e in blocks {
        let group = group_name(e.block.number());
        let Some([sequential, contract, model]) = FUNCTIONS
            .iter()
            .map(|f| mean_nanos(&dir, &group, f))
            .collect::<Option<Vec<f64>>>()
            .and_then(|v| <[f64; 3]>::try_from(v).ok())
        else {
            continue;
        };
        let share = |t: f64| format!("{:.1} µs {:.2}%", t / 1e3, 100.0 * t / sequential);
        eprintln!(
            "{:>9} {:>5} {:>9.0} µs {:>18} {:>18}",
            e.block.number(),
            e.block.txs.len(),
            sequential / 1e3,
            share(contract),
            share(model)
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
