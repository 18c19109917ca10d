//! Any routing onto any number of pools gives exactly the sequential result.
//!
//! Random blocks mix transfers among few accounts (heavy contention), shared-slot contract
//! calls, state-dependent reverts, same-sender runs, creations, transactions that read or
//! pay the beneficiary, and payments into and out of contracts whose balances are deltas,
//! observed (`SELFBALANCE`, `BALANCE`), or drained until a payment fails. Each is routed by a random router, including `scatter`, which ignores
//! every affinity, onto 1 to 8 pools with the fallback disabled.

use alloy_primitives::{Address, Bytes, TxKind, U256, address};
use proptest::prelude::*;
use std::sync::{Arc, OnceLock};
use switchyard_executors::{
    check, execute_sequential,
    parallel::ParallelExecutor,
    router::{self, OracleFacts, Router, ScatterRouter},
    synthetic::{
        BlockBuilder, CAPPED_COUNTER_CODE, COINBASE_READER_CODE, COUNTER_CODE, FAUCET_CODE,
        SELF_BALANCE_RECORDER_CODE, SINK_CODE, account, each_alone_on,
    },
};

const COUNTERS: [Address; 2] = [
    address!("0000000000000000000000000000000000c0ffe1"),
    address!("0000000000000000000000000000000000c0ffe2"),
];
const CAPPED: Address = address!("0000000000000000000000000000000000ca9ed0");
const COINBASE_READER: Address = address!("0000000000000000000000000000000000cb0001");
const SINK: Address = address!("0000000000000000000000000000000000005111");
const RECORDER: Address = address!("0000000000000000000000000000000000005e1f");
const FAUCET: Address = address!("000000000000000000000000000000000000fa0c");
/// Stores `BALANCE(SINK)` under the caller: observes the sink's balance from outside.
fn sink_watcher_code() -> Vec<u8> {
    let mut code = vec![0x73]; // PUSH20 SINK
    code.extend_from_slice(SINK.as_slice());
    code.extend_from_slice(&[0x31, 0x33, 0x55, 0x00]); // BALANCE CALLER SSTORE STOP
    code
}
const SINK_WATCHER: Address = address!("0000000000000000000000000000000000005a7c");

#[derive(Debug, Clone)]
enum Op {
    Transfer {
        from: usize,
        to: usize,
        value: u64,
    },
    Bump {
        from: usize,
        contract: usize,
        slot: u64,
    },
    Capped {
        from: usize,
        slot: u64,
    },
    ReadCoinbase {
        from: usize,
    },
    PayCoinbase {
        from: usize,
    },
    FromCoinbase {
        to: usize,
    },
    Create {
        from: usize,
    },
    Deposit {
        from: usize,
        value: u64,
    },
    Record {
        from: usize,
    },
    WatchSink {
        from: usize,
    },
    Withdraw {
        from: usize,
    },
}

fn op(accounts: usize) -> impl Strategy<Value = Op> {
    let a = 0..accounts;
    prop_oneof![
        4 => (a.clone(), a.clone(), 1..1000u64).prop_map(|(from, to, value)| Op::Transfer { from, to, value }),
        3 => (a.clone(), 0..2usize, 0..3u64).prop_map(|(from, contract, slot)| Op::Bump { from, contract, slot }),
        2 => (a.clone(), 0..2u64).prop_map(|(from, slot)| Op::Capped { from, slot }),
        1 => a.clone().prop_map(|from| Op::ReadCoinbase { from }),
        1 => a.clone().prop_map(|from| Op::PayCoinbase { from }),
        1 => a.clone().prop_map(|to| Op::FromCoinbase { to }),
        1 => a.clone().prop_map(|from| Op::Create { from }),
        2 => (a.clone(), 1..100u64).prop_map(|(from, value)| Op::Deposit { from, value }),
        1 => a.clone().prop_map(|from| Op::Record { from }),
        1 => a.clone().prop_map(|from| Op::WatchSink { from }),
        2 => a.prop_map(|from| Op::Withdraw { from }),
    ]
}

fn scenario() -> impl Strategy<Value = (usize, Vec<Op>, usize, usize, u64)> {
    (2..12usize).prop_flat_map(|accounts| {
        (
            Just(accounts),
            prop::collection::vec(op(accounts), 1..48),
            0..5usize,
            1..=8usize,
            any::<u64>(),
        )
    })
}

fn build(
    accounts: usize,
    ops: &[Op],
) -> (switchyard_executors::Block, switchyard_executors::State) {
    let mut b = BlockBuilder::new(accounts);
    for c in COUNTERS {
        b.deploy(c, COUNTER_CODE, &[(0, 1)]);
    }
    b.deploy(CAPPED, CAPPED_COUNTER_CODE, &[]);
    b.deploy(COINBASE_READER, COINBASE_READER_CODE, &[]);
    b.deploy(SINK, SINK_CODE, &[]);
    b.deploy(RECORDER, SELF_BALANCE_RECORDER_CODE, &[]);
    b.deploy(SINK_WATCHER, &sink_watcher_code(), &[]);
    b.deploy(FAUCET, FAUCET_CODE, &[]);
    // Enough for a few payouts: later ones in a block fail, depending on those before.
    b.fund(FAUCET, U256::from(3));
    let coinbase = b.beneficiary();
    b.fund(coinbase, U256::from(10u128.pow(20)));
    for op in ops {
        match *op {
            Op::Transfer { from, to, value } => b.transfer(account(from), account(to), value),
            Op::Bump {
                from,
                contract,
                slot,
            } => b.bump(account(from), COUNTERS[contract], slot),
            Op::Capped { from, slot } => b.bump(account(from), CAPPED, slot),
            Op::ReadCoinbase { from } => b.bump(account(from), COINBASE_READER, 0),
            Op::PayCoinbase { from } => b.transfer(account(from), coinbase, 5),
            Op::FromCoinbase { to } => b.transfer(coinbase, account(to), 7),
            Op::Create { from } => b.create(account(from)),
            Op::Deposit { from, value } => pay(&mut b, from, SINK, value),
            Op::Record { from } => pay(&mut b, from, RECORDER, 3),
            Op::WatchSink { from } => pay(&mut b, from, SINK_WATCHER, 0),
            Op::Withdraw { from } => pay(&mut b, from, FAUCET, 0),
        }
    }
    // A failing creation and an out-of-gas call, so halts and reverts are in the mix.
    b.push(
        account(0),
        TxKind::Create,
        U256::ZERO,
        Bytes::from_static(&[0xfe]),
        60_000,
    );
    b.push(
        account(1),
        TxKind::Call(COUNTERS[0]),
        U256::ZERO,
        Bytes::new(),
        21_100,
    );
    b.build()
}

fn pay(b: &mut BlockBuilder, from: usize, to: Address, value: u64) {
    b.push(
        account(from),
        TxKind::Call(to),
        U256::from(value),
        Bytes::new(),
        100_000,
    );
}

fn executors() -> &'static Vec<ParallelExecutor> {
    static EXECUTORS: OnceLock<Vec<ParallelExecutor>> = OnceLock::new();
    EXECUTORS.get_or_init(|| {
        (1..=8)
            .map(|pools| {
                ParallelExecutor::in_process(pools)
                    .expect("pools")
                    .without_fallback()
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn any_routing_is_exact((accounts, ops, router, pools, seed) in scenario()) {
        let (block, state) = build(accounts, &ops);
        let block = Arc::new(block);
        let base = Arc::new(state);
        let reference = execute_sequential(&block, base.clone()).expect("sequential");
        let oracle = OracleFacts::from_run(&block, &reference.result.outcomes, &reference.tx_nanos);
        let reference = reference.result;
        let router: Box<dyn Router> = match router {
            0 => Box::new(ScatterRouter { seed }),
            i => router::by_name(["round-robin", "sender", "contract", "oracle"][i - 1]).unwrap(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let run = runtime
            .block_on(executors()[pools - 1].execute(&block, base, router.as_ref(), Some(&oracle)))
            .expect("parallel");
        let mismatches = check::against_reference(&reference, &run.result);
        prop_assert!(mismatches.is_empty(), "{} on {pools} pools: {mismatches:?}", router.name());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The live commit is exact whoever delivers, in whatever order, driving or not, with
    /// results missing, stale or repeated, and with a committer finishing concurrently.
    #[test]
    fn live_commit_is_exact_under_any_delivery(
        (accounts, ops, _, producers, seed) in scenario(),
        drop_every in 2..7usize,
    ) {
        use switchyard_executors::{commit::LiveCommit, pool::SpeculativeTx};
        let (block, state) = build(accounts, &ops);
        let block = Arc::new(block);
        let base = Arc::new(state);
        let reference = execute_sequential(&block, base.clone()).expect("sequential").result;
        let speculative = each_alone_on(&block, &base);
        let live = LiveCommit::new(block.clone(), base);
        // Producer p delivers every index congruent to p, in reverse, one at a time; one in
        // `drop_every` never arrives, and producer 0 repeats its first delivery.
        let committer = {
            let live = live.clone();
            std::thread::spawn(move || live.finish())
        };
        // Once every producer has delivered, the leader closes (as dispatch does once every
        // pool answered), then all help (as free pools do).
        let delivered = std::sync::Barrier::new(producers);
        std::thread::scope(|scope| {
            for p in 0..producers {
                let (live, speculative, delivered) = (&live, &speculative, &delivered);
                scope.spawn(move || {
                    let mine: Vec<usize> = (0..speculative.len())
                        .rev()
                        .filter(|i| i % producers == p && !(i + seed as usize).is_multiple_of(drop_every))
                        .collect();
                    for (k, &index) in mine.iter().enumerate() {
                        let tx = SpeculativeTx { index, pool: p, nanos: 1, outcome: speculative[index].clone() };
                        let repeats = if p == 0 && k == 0 { 2 } else { 1 };
                        for _ in 0..repeats {
                            live.deliver([tx.clone()], (index + p) % 2 == 0);
                        }
                    }
                    if delivered.wait().is_leader() {
                        live.close();
                    }
                    live.help(|| false);
                });
            }
        });
        let (result, report) = committer.join().expect("committer").expect("commit");
        let mismatches = check::against_reference(&reference, &result);
        prop_assert!(mismatches.is_empty(), "{producers} producers: {mismatches:?}");
        prop_assert_eq!(report.reexecuted.len(), block.txs.len());
    }
}

/// Waits until `live`'s head start has taken `at_least` transactions. Progress, not time, is
/// what the test waits for: the deadline only turns a hang into a failure.
fn wait_for_head(live: &switchyard_executors::commit::LiveCommit, at_least: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while live.head_taken() < at_least {
        assert!(
            std::time::Instant::now() < deadline,
            "the head start took {} of {at_least} transactions",
            live.head_taken()
        );
        std::thread::sleep(std::time::Duration::from_micros(100));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Wherever the head start stops, the rest of the block run as one unit from the state
    /// after the head is the sequential execution: the commit validates every result and
    /// re-executes nothing, and the head's transactions count as executed, not re-executed.
    #[test]
    fn a_block_taken_up_after_the_head_needs_no_reexecution(
        (accounts, ops, _, _, _) in scenario(),
        stop_at in 0..48usize,
    ) {
        use switchyard_executors::{
            commit::LiveCommit,
            pool::{ResultSink, execute_batch},
        };
        let (block, state) = build(accounts, &ops);
        let block = Arc::new(block);
        let base = Arc::new(state);
        let reference = execute_sequential(&block, base.clone()).expect("sequential").result;
        let live = LiveCommit::with_head_start(block.clone(), base.clone(), None);
        let committer = {
            let live = live.clone();
            std::thread::spawn(move || live.finish())
        };
        wait_for_head(&live, stop_at.min(block.txs.len()));
        let head = live.end_head();
        prop_assert!(head.len >= stop_at.min(block.txs.len()));
        let rest: Vec<usize> = (head.len..block.txs.len()).collect();
        if !rest.is_empty() {
            let sink = ResultSink(live.clone());
            execute_batch(0, base.clone(), &block, &rest, head.state.as_deref(), Some(&sink), None)
                .expect("the rest executes");
        }
        live.close();
        let (result, report) = committer.join().expect("committer").expect("commit");
        let mismatches = check::against_reference(&reference, &result);
        prop_assert!(mismatches.is_empty(), "head of {}: {mismatches:?}", head.len);
        prop_assert_eq!(report.head, head.len);
        prop_assert_eq!(report.reexecuted_txs(), 0, "head of {}", head.len);
        prop_assert!(report.speculative_nanos[..head.len].iter().all(|nanos| *nanos > 0));
    }
}

/// A commit given up before any pool took part stops its head start and returns at once,
/// rather than wait for results that never come.
#[test]
fn an_aborted_head_start_returns_at_once() {
    use switchyard_executors::commit::LiveCommit;
    let bumps = vec![
        Op::Bump {
            from: 0,
            contract: 0,
            slot: 0
        };
        40
    ];
    let (block, state) = build(4, &bumps);
    let (block, base) = (Arc::new(block), Arc::new(state));

    // Aborted before the committer starts: it takes nothing and returns an error.
    let live = LiveCommit::with_head_start(block.clone(), base.clone(), None);
    live.abort();
    assert!(live.finish().is_err());
    assert_eq!(live.head_taken(), 0);
    assert!(live.is_stopped());

    // Aborted while the head runs: nothing is taken after the abort, and the committer
    // returns a block only if the head had taken the whole of it by then.
    let live = LiveCommit::with_head_start(block.clone(), base, None);
    let committer = {
        let live = live.clone();
        std::thread::spawn(move || live.finish())
    };
    wait_for_head(&live, 1);
    live.abort();
    let taken = live.head_taken();
    let finished = committer.join().expect("committer");
    assert_eq!(
        live.head_taken(),
        taken,
        "no transaction is taken after the abort"
    );
    if finished.is_ok() {
        assert_eq!(
            taken,
            block.txs.len(),
            "a block comes out only of a whole head"
        );
    }
}
