//! The fallback keeps learning: once `PROBE_EVERY` blocks have been declined in a row as not
//! worth it, a promising one runs in parallel to refresh the parallel costs (by
//! `PROBE_AT_LATEST` declines at the latest), and its result is still exact. Which block is
//! promising depends on measured rates, so the choice itself is tested on fixed predictions,
//! in `cost.rs`.

use std::sync::Arc;
use switchyard_executors::{
    Block, State, check,
    cost::{Fallback, PROBE_AT_LATEST, PROBE_EVERY},
    execute_sequential,
    parallel::ParallelExecutor,
    router::SenderRouter,
    synthetic::independent_transfers,
};

/// Runs `blocks` in turn on a cost model that declines everything; true where a block probed.
async fn probes_over(blocks: &[(Arc<Block>, Arc<State>)], runs: usize) -> Vec<bool> {
    let executor = ParallelExecutor::in_process(2).expect("pools");
    executor.calibrate().await.expect("calibrate");
    // No block can clear this bar: every one is declined as not worth it, until a probe.
    executor.set_min_speedup(1e12);
    let references: Vec<_> = blocks
        .iter()
        .map(|(block, state)| execute_sequential(block, state.clone()).expect("sequential"))
        .collect();
    let mut probed = Vec::new();
    for k in 0..runs {
        let (block, state) = &blocks[k % blocks.len()];
        let run = executor
            .execute(block, state.clone(), &SenderRouter, None)
            .await
            .expect("execute");
        let mismatches =
            check::against_reference(&references[k % blocks.len()].result, &run.result);
        assert!(mismatches.is_empty(), "{mismatches:?}");
        if let Some(fallback) = run.fallback {
            assert!(
                matches!(fallback, Fallback::NotWorthIt { .. }),
                "{fallback:?}"
            );
        }
        probed.push(run.fallback.is_none());
    }
    probed
}

fn transfers(n: usize) -> (Arc<Block>, Arc<State>) {
    let (block, state) = independent_transfers(n);
    (Arc::new(block), Arc::new(state))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pessimistic_cost_model_still_probes_the_parallel_path() {
    let probed = probes_over(&[transfers(64)], PROBE_AT_LATEST as usize).await;
    let probes: Vec<usize> = (0..probed.len()).filter(|&i| probed[i]).collect();
    let (every, latest) = (PROBE_EVERY as usize, PROBE_AT_LATEST as usize);
    assert!(!probes.is_empty(), "{probed:?}");
    assert!((every - 1..latest).contains(&probes[0]), "{probes:?}");
    // Declines start counting again after a probe.
    assert!(
        probes.windows(2).all(|w| w[1] - w[0] >= every),
        "{probes:?}"
    );
}

/// A fully dependent block (transfers between two accounts, one pool per sender) misses on
/// nearly every transaction: the commit stops the pools early and finishes it alone, exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_serial_block_abandons_speculation_and_stays_exact() {
    use switchyard_executors::{commit::ABANDON_AFTER, router, synthetic::p2p_block};
    let executor = ParallelExecutor::in_process(2)
        .expect("pools")
        .without_fallback();
    let (block, state) = p2p_block(2, 2_000, 7);
    let (block, state) = (Arc::new(block), Arc::new(state));
    let reference = execute_sequential(&block, state.clone()).expect("sequential");
    let round_robin = router::by_name("round-robin").expect("router");
    let run = executor
        .execute(&block, state, round_robin.as_ref(), None)
        .await
        .expect("execute");
    let mismatches = check::against_reference(&reference.result, &run.result);
    assert!(mismatches.is_empty(), "{mismatches:?}");
    let at = run.commit.abandoned_at.expect("speculation abandoned");
    assert!(at >= ABANDON_AFTER, "{at}");
    // Everything after the point of abandon was executed by the commit itself.
    assert!(run.commit.reexecuted[at..].iter().all(|r| *r));
}

/// A warm-up goes across the pools even when the cost model would decline the block, is
/// exact, and teaches the cost model nothing; the block's next run still decides as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_up_runs_across_the_pools_and_teaches_nothing() {
    let executor = ParallelExecutor::in_process(2).expect("pools");
    executor.calibrate().await.expect("calibrate");
    executor.set_min_speedup(1e12);
    let (block, state) = transfers(64);
    let reference = execute_sequential(&block, state.clone()).expect("sequential");
    let before = executor.cost_model();

    let warm_up = executor
        .warm_up(&block, state.clone(), &SenderRouter, None)
        .await
        .expect("warm-up");
    assert_eq!(warm_up.fallback, None, "a warm-up never falls back");
    assert!(
        warm_up.pool_busy_nanos.iter().all(|n| *n > 0),
        "both pools ran"
    );
    let mismatches = check::against_reference(&reference.result, &warm_up.result);
    assert!(mismatches.is_empty(), "{mismatches:?}");
    assert_eq!(
        executor.cost_model(),
        before,
        "the warm-up taught the cost model"
    );

    let run = executor
        .execute(&block, state, &SenderRouter, None)
        .await
        .expect("execute");
    assert!(
        matches!(run.fallback, Some(Fallback::NotWorthIt { .. })),
        "{:?}",
        run.fallback
    );
}
