//! Where the fallback declines a block, and what the cost model learns from it. The decisions
//! come from a cost model set by hand, never from timing; every result is still checked
//! against the sequential reference.

use alloy_primitives::{Bytes, TxKind, U256};
use std::sync::Arc;
use switchyard_executors::{
    Block, State, check,
    cost::{CostModel, Fallback, ParallelSample, estimated_cost, presumed_cost},
    execute_sequential,
    parallel::{ParallelExecutor, ParallelRun},
    router::{ContractRouter, Router, ScatterRouter},
    synthetic::{BlockBuilder, COUNTER_CODE, account, independent_transfers},
};

/// A cost model that measured 1 ns per unit of cost (and no block work beyond executing the
/// transactions), and `overhead` ns beyond the busiest pool on a parallel block of 45
/// transactions.
fn cost_model(overhead: u64) -> CostModel {
    let mut model = CostModel::default();
    model.observe_sequential(1_000, 45, 1_000, 1_000);
    if overhead > 0 {
        model.observe_parallel(&ParallelSample {
            txs: 45,
            pools: 2,
            total_cost: 1_000,
            busy_nanos: 1_000,
            busiest_pool_nanos: 500,
            wall_nanos: 500 + overhead,
            ..Default::default()
        });
    }
    model
}

/// A mining pool's payout: one sender pays 40 accounts, and 5 others send one transfer each.
fn payout_block() -> (Arc<Block>, Arc<State>) {
    let mut builder = BlockBuilder::new(60);
    for i in 0..40 {
        builder.transfer(account(0), account(10 + i), 1);
    }
    for i in 1..6 {
        builder.transfer(account(i), account(50 + i), 1);
    }
    let (block, state) = builder.build();
    (Arc::new(block), Arc::new(state))
}

#[test]
fn a_call_without_input_is_presumed_a_transfer_until_the_state_is_read() {
    let contract = account(99);
    let mut builder = BlockBuilder::new(4);
    builder.deploy(contract, COUNTER_CODE, &[]);
    let plain = |to| (TxKind::Call(to), U256::from(1), Bytes::new(), 90_000);
    for (kind, value, input, gas_limit) in [
        plain(account(2)),
        plain(contract),
        (
            TxKind::Call(contract),
            U256::ZERO,
            Bytes::from(vec![1, 2, 3, 4]),
            90_000,
        ),
        (TxKind::Create, U256::ZERO, Bytes::new(), 90_000),
    ] {
        builder.push(account(0), kind, value, input, gas_limit);
    }
    let (block, state) = builder.build();
    let presumed: Vec<u64> = block.txs.iter().map(presumed_cost).collect();
    let estimated: Vec<u64> = block
        .txs
        .iter()
        .map(|tx| estimated_cost(tx, &state))
        .collect();
    assert_eq!(presumed, [21_000, 21_000, 90_000, 90_000]);
    // The state tells a contract apart: its receive code may cost up to the gas limit.
    assert_eq!(estimated, [21_000, 90_000, 90_000, 90_000]);
}

/// Executes `block` with `model` and checks the result against the sequential reference.
async fn run(
    executor: &ParallelExecutor,
    model: CostModel,
    (block, state): &(Arc<Block>, Arc<State>),
    router: &dyn Router,
) -> ParallelRun {
    executor.set_cost_model(model);
    let reference = execute_sequential(block, state.clone()).expect("sequential");
    let run = executor
        .execute(block, state.clone(), router, None)
        .await
        .expect("execute");
    let mismatches = check::against_reference(&reference.result, &run.result);
    assert!(mismatches.is_empty(), "{mismatches:?}");
    run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_senders_chain_declines_a_block_before_routing() {
    let executor = ParallelExecutor::in_process(2).expect("pools");
    let payout = payout_block();
    // 40 of 45 equal transfers are one sender's: at best 45 ÷ 40 = 1.125× on 2 pools, under
    // the 1.25× bar. No routing is spent on it.
    let run = run(&executor, cost_model(0), &payout, &ContractRouter).await;
    let Some(Fallback::NotWorthIt { predicted_speedup }) = run.fallback else {
        panic!("{:?}", run.fallback);
    };
    assert!(
        (predicted_speedup - 45.0 / 40.0).abs() < 1e-9,
        "{predicted_speedup}"
    );
    assert!(run.routing.groups.is_empty());
    assert_eq!(run.routing_nanos, 0);
    // The same amount of work from 45 senders halves: it runs in parallel.
    let spread = {
        let (block, state) = independent_transfers(45);
        (Arc::new(block), Arc::new(state))
    };
    let run = self::run(&executor, cost_model(0), &spread, &ContractRouter).await;
    assert_eq!(run.fallback, None);
    // A router that splits senders is not bounded by them: it routes the payout.
    let run = self::run(
        &executor,
        cost_model(0),
        &payout,
        &ScatterRouter { seed: 1 },
    )
    .await;
    assert!(!run.routing.groups.is_empty(), "{:?}", run.fallback);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_declined_before_its_estimates_or_of_one_transaction_teaches_nothing() {
    let executor = ParallelExecutor::in_process(2).expect("pools");
    let payout = payout_block();
    // 10 ms of overhead: no block of 45 transfers can win, whatever its costs. (The model
    // already knows the block's fork, which every block tells it.)
    let mut model = cost_model(10_000_000);
    model.enter_fork(payout.0.env.spec);
    let run = run(&executor, model.clone(), &payout, &ContractRouter).await;
    assert!(
        matches!(run.fallback, Some(Fallback::NotWorthIt { .. })),
        "{:?}",
        run.fallback
    );
    assert_eq!(executor.cost_model(), model);
    // A single transaction: nothing to split, with or without the fallback.
    let single = {
        let (block, state) = independent_transfers(1);
        (Arc::new(block), Arc::new(state))
    };
    let mut model = cost_model(0);
    model.enter_fork(single.0.env.spec);
    let run = self::run(&executor, model.clone(), &single, &ContractRouter).await;
    assert_eq!(run.fallback, Some(Fallback::Trivial));
    assert_eq!(executor.cost_model(), model);
    let forced = ParallelExecutor::in_process(2)
        .expect("pools")
        .without_fallback();
    let run = self::run(&forced, model, &single, &ContractRouter).await;
    assert_eq!(run.fallback, Some(Fallback::Trivial));
}
