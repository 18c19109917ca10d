//! Balances a transaction only changed are deltas at commit: results stale on them alone are
//! shifted, not re-executed, and stay exact; balances a transaction observed are not.
//!
//! Every transaction is executed alone on the pre-state, so each one after the first is stale
//! on the shared account's balance; the commit decides which of them it must re-execute.

use alloy_primitives::{Address, Bytes, TxKind, U256, address};
use std::sync::Arc;
use switchyard_executors::{
    Block, State, check,
    commit::ordered_commit,
    execute_sequential, router,
    synthetic::{
        BlockBuilder, FAUCET_CODE, SELF_BALANCE_RECORDER_CODE, SINK_CODE, account, each_alone_on,
    },
};

const SHARED: Address = address!("00000000000000000000000000000000000ba1a0");

/// Commits results each computed alone on the pre-state; returns which were re-executed after
/// checking the block against the sequential reference.
fn commit_stale(block: Block, state: State) -> Vec<bool> {
    let (block, base) = (Arc::new(block), Arc::new(state));
    let reference = execute_sequential(&block, base.clone())
        .expect("sequential")
        .result;
    let speculative = each_alone_on(&block, &base).into_iter().map(Some).collect();
    let (result, report) = ordered_commit(&block, base, speculative).expect("commit");
    let mismatches = check::against_reference(&reference, &result);
    assert!(mismatches.is_empty(), "{mismatches:?}");
    report.reexecuted
}

/// Four senders call `SHARED` (running `code`, holding `funds`) with `value` each.
fn calls(code: &[u8], funds: u64, value: u64) -> (Block, State) {
    let mut b = BlockBuilder::new(4);
    b.deploy(SHARED, code, &[]);
    b.fund(SHARED, U256::from(funds));
    for from in 0..4 {
        b.push(
            account(from),
            TxKind::Call(SHARED),
            U256::from(value),
            Bytes::new(),
            100_000,
        );
    }
    b.build()
}

#[test]
fn payments_into_a_contract_are_deltas() {
    let (block, state) = calls(SINK_CODE, 1, 5);
    assert_eq!(commit_stale(block, state), [false; 4]);
}

#[test]
fn a_contract_reading_its_own_balance_is_re_executed() {
    let (block, state) = calls(SELF_BALANCE_RECORDER_CODE, 1, 5);
    assert_eq!(commit_stale(block, state), [false, true, true, true]);
}

#[test]
fn payments_out_are_deltas_while_the_balance_covers_them() {
    // Ten wei pay four one-wei payouts, whatever the order.
    let (block, state) = calls(FAUCET_CODE, 10, 0);
    assert_eq!(commit_stale(block, state), [false; 4]);
}

#[test]
fn a_payment_out_the_balance_no_longer_covers_is_re_executed() {
    // Two wei: the third and fourth payouts fail in sequence, though each succeeded alone.
    let (block, state) = calls(FAUCET_CODE, 2, 0);
    assert_eq!(commit_stale(block, state), [false, false, true, true]);
}

#[test]
fn true_dependencies_skip_balance_deltas_only() {
    let deps = |(block, state): (Block, State)| {
        let run = execute_sequential(&block, Arc::new(state)).expect("sequential");
        router::true_dependencies(&block, &run.result.outcomes)
    };
    assert_eq!(deps(calls(SINK_CODE, 1, 5)), []);
    assert_eq!(
        deps(calls(SELF_BALANCE_RECORDER_CODE, 1, 5)),
        [(1, 0), (2, 1), (3, 2)]
    );
}
