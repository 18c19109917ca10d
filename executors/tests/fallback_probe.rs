//! The fallback keeps learning: after `PROBE_EVERY` blocks declined in a row as not worth it,
//! one block runs in parallel to refresh the parallel costs, and its result is still exact.

use std::sync::Arc;
use switchyard_executors::{
    check,
    cost::Fallback,
    execute_sequential,
    parallel::{PROBE_EVERY, ParallelExecutor},
    router::SenderRouter,
    synthetic::independent_transfers,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pessimistic_cost_model_still_probes_the_parallel_path() {
    let executor = ParallelExecutor::in_process(2).expect("pools");
    executor.calibrate().await.expect("calibrate");
    // No block can clear this bar: every one is declined as not worth it, until a probe.
    executor.set_min_speedup(1e12);
    let (block, state) = independent_transfers(64);
    let (block, state) = (Arc::new(block), Arc::new(state));
    let reference = execute_sequential(&block, state.clone()).expect("sequential");

    let mut modes = Vec::new();
    for _ in 0..2 * PROBE_EVERY {
        let run = executor
            .execute(&block, state.clone(), &SenderRouter, None)
            .await
            .expect("execute");
        let mismatches = check::against_reference(&reference.result, &run.result);
        assert!(mismatches.is_empty(), "{mismatches:?}");
        if let Some(fallback) = run.fallback {
            assert!(
                matches!(fallback, Fallback::NotWorthIt { .. }),
                "{fallback:?}"
            );
        }
        modes.push(run.fallback.is_none());
    }
    let probes: Vec<usize> = (0..modes.len()).filter(|&i| modes[i]).collect();
    let every = PROBE_EVERY as usize;
    assert_eq!(probes, vec![every - 1, 2 * every - 1], "{modes:?}");
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
