//! After Block-STM's experiment: blocks of 10,000 peer-to-peer transfers among 2 to 10,000
//! accounts, executed sequentially and across pools for each router, in the same run.
//!
//! Prints a markdown table of median speedup over sequential and re-executed gas share.
//!
//! ```text
//! cargo bench -p switchyard-executors --bench synthetic_p2p [-- POOLS [TXS [RUNS]]]
//! ```

use std::{sync::Arc, time::Instant};
use switchyard_executors::{
    check, execute_sequential,
    parallel::ParallelExecutor,
    router::{self, OracleFacts},
    synthetic::p2p_block,
};

const ACCOUNTS: [usize; 5] = [2, 10, 100, 1_000, 10_000];
const ROUTERS: [&str; 5] = ["round-robin", "sender", "contract", "oracle", "scatter"];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; positional numbers override the defaults.
    let numbers: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let pools = numbers.first().copied().unwrap_or(2);
    let txs = numbers.get(1).copied().unwrap_or(10_000);
    let runs = numbers.get(2).copied().unwrap_or(5);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let executor = ParallelExecutor::in_process(pools).expect("pools");
    runtime.block_on(executor.calibrate()).expect("calibrate");

    println!(
        "{txs} transfers, {pools} pools, median of {runs} runs (speedup over sequential, re-executed gas share, fallback)\n"
    );
    println!("| accounts | {} |", ROUTERS.join(" | "));
    println!("|---|{}", "---|".repeat(ROUTERS.len()));
    for accounts in ACCOUNTS {
        let (block, state) = p2p_block(accounts, txs, 42);
        let (block, base) = (Arc::new(block), Arc::new(state));
        // One reference, alive through every timed run, for the oracle and the checks; each
        // timed run is dropped before the next, so both sides allocate alike.
        let reference = execute_sequential(&block, base.clone()).expect("sequential");
        let oracle = OracleFacts::from_run(&block, &reference.result.outcomes, &reference.tx_nanos);
        let reference = reference.result;
        let mut cells = Vec::new();
        for name in ROUTERS {
            let router = router::by_name(name).expect("router");
            let (mut speedups, mut waste, mut fallbacks) = (Vec::new(), Vec::new(), 0);
            for run_index in 0..runs {
                // Timed up to the result, like the parallel side's wall time: freeing it is not
                // part of either.
                let time_sequential = || {
                    let started = Instant::now();
                    let run = execute_sequential(&block, base.clone()).expect("sequential");
                    let elapsed = started.elapsed().as_secs_f64();
                    drop(run);
                    elapsed
                };
                let run_parallel = || {
                    let run = runtime
                        .block_on(executor.execute(
                            &block,
                            base.clone(),
                            router.as_ref(),
                            Some(&oracle),
                        ))
                        .expect("parallel");
                    assert!(check::against_reference(&reference, &run.result).is_empty());
                    // Only figures leave: the run's state is freed before anything else is timed.
                    (
                        run.wall_nanos as f64 / 1e9,
                        run.commit.reexecuted_gas as f64 / run.result.gas_used as f64,
                        run.fallback.is_some(),
                    )
                };
                // The order alternates, so neither side always runs on memory the other just
                // freed on other threads.
                let (sequential, (parallel, wasted, fell_back)) = if run_index % 2 == 0 {
                    let sequential = time_sequential();
                    (sequential, run_parallel())
                } else {
                    let parallel = run_parallel();
                    (time_sequential(), parallel)
                };
                speedups.push(sequential / parallel);
                waste.push(wasted);
                fallbacks += usize::from(fell_back);
            }
            cells.push(format!(
                "{:.2}x, {:.0}%{}",
                median(speedups),
                100.0 * median(waste),
                if fallbacks > 0 {
                    format!(", fb {fallbacks}/{runs}")
                } else {
                    String::new()
                }
            ));
        }
        println!("| {accounts} | {} |", cells.join(" | "));
    }
}
