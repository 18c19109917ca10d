//! A pool that fails, before or in the middle of its batch, costs time but never exactness:
//! its work is retried elsewhere or re-executed at commit.

use std::{
    future::Future,
    sync::Arc,
    task::{Context, Poll},
};
use switchyard_executors::{
    balance::PoolStatus,
    check, execute_sequential,
    parallel::ParallelExecutor,
    pool::{BatchFuture, BatchRequest, BatchResponse, InProcessPool, PoolError, StateCatalog},
    router,
    synthetic::{BlockBuilder, COUNTER_CODE, account},
};
use tower::Service;

/// A pool that works, is dead, runs half of each batch and then fails, or is known down
/// (its circuit open: it must get no work at all).
#[derive(Debug, Clone)]
enum TestPool {
    Good(InProcessPool),
    Dead(usize),
    Flaky(InProcessPool),
    Down(usize),
}

impl PoolStatus for TestPool {
    fn available(&self) -> bool {
        !matches!(self, Self::Down(_))
    }

    fn load(&self) -> f64 {
        0.0
    }
}

impl Service<BatchRequest> for TestPool {
    type Response = BatchResponse;
    type Error = PoolError;
    type Future = BatchFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), PoolError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: BatchRequest) -> Self::Future {
        match self {
            Self::Good(pool) => pool.call(request),
            Self::Dead(id) => {
                let id = *id;
                Box::pin(async move { Err(PoolError::Closed(id)) })
            }
            Self::Down(id) => panic!("pool {id} is down and was still given work"),
            Self::Flaky(pool) => {
                let id = pool.id();
                request.txs.truncate(request.txs.len() / 2);
                let half = pool.call(request);
                Box::pin(async move {
                    half.await?;
                    Err(PoolError::Closed(id))
                })
            }
        }
    }
}

fn contended_block() -> (switchyard_executors::Block, switchyard_executors::State) {
    let counter = alloy_primitives::Address::repeat_byte(0xc0);
    let mut b = BlockBuilder::new(40);
    b.deploy(counter, COUNTER_CODE, &[]);
    for i in 0..200 {
        if i % 3 == 0 {
            b.bump(account(i % 40), counter, (i % 4) as u64);
        } else {
            b.transfer(account(i % 40), account((i * 7 + 3) % 40), 10);
        }
    }
    b.build()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_pools_never_change_the_result() {
    let (block, state) = contended_block();
    let (block, base) = (Arc::new(block), Arc::new(state));
    let reference = execute_sequential(&block, base.clone()).unwrap().result;

    let catalog = StateCatalog::new();
    let good = |id| InProcessPool::spawn(id, catalog.clone()).unwrap();
    let setups: Vec<(&str, Vec<TestPool>)> = vec![
        ("dead", vec![TestPool::Good(good(0)), TestPool::Dead(1)]),
        (
            "flaky",
            vec![TestPool::Flaky(good(0)), TestPool::Good(good(1))],
        ),
        ("all dead", vec![TestPool::Dead(0), TestPool::Dead(1)]),
        (
            "one down",
            vec![
                TestPool::Good(good(0)),
                TestPool::Down(1),
                TestPool::Good(good(2)),
                TestPool::Dead(3),
            ],
        ),
    ];
    for (name, pools) in setups {
        let executor = ParallelExecutor::new(pools, catalog.clone()).without_fallback();
        let mut failures = 0;
        for router_name in ["contract", "round-robin", "scatter"] {
            let router = router::by_name(router_name).unwrap();
            let run = executor
                .execute(&block, base.clone(), router.as_ref(), None)
                .await
                .unwrap();
            failures += run.failed_pools.len();
            let mismatches = check::against_reference(&reference, &run.result);
            assert!(
                mismatches.is_empty(),
                "{name}/{router_name}: {mismatches:?}"
            );
        }
        // Pinned routers (round-robin, scatter) use both pools, so the failure was exercised.
        assert!(failures > 0, "{name}: no pool failure was exercised");
    }
}

/// A block whose future is dropped while the pools execute it (a caller's timeout, a shutdown)
/// must not strand them: pools that finished their batch help the commit until dispatch ends,
/// and the end of dispatch is signalled on drop too. The next block then runs as usual.
#[tokio::test(flavor = "current_thread")]
async fn a_dropped_block_leaves_the_pools_working() {
    use switchyard_executors::synthetic::p2p_block;
    let executor = ParallelExecutor::in_process(2)
        .expect("pools")
        .without_fallback();
    // Transfers among many accounts make many small groups: `contract` sends them as work units,
    // one per free pool at a time, so after the first poll most units are still queued and
    // their results can only come from the commit, once dispatch has ended.
    let (block, state) = p2p_block(10_000, 4_000, 11);
    let (block, state) = (Arc::new(block), Arc::new(state));
    let contract = router::by_name("contract").expect("router");
    {
        // One poll sends the first units to the pools; then the future is dropped.
        let run = executor.execute(&block, state.clone(), contract.as_ref(), None);
        let mut run = std::pin::pin!(run);
        let mut context = Context::from_waker(std::task::Waker::noop());
        assert!(run.as_mut().poll(&mut context).is_pending());
    }
    let reference = execute_sequential(&block, state.clone()).expect("sequential");
    // Generous: the block takes milliseconds; a stranded pool would hang it forever.
    let run = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        executor.execute(&block, state, contract.as_ref(), None),
    )
    .await
    .expect("the pools are not stranded")
    .expect("execute");
    let mismatches = check::against_reference(&reference.result, &run.result);
    assert!(mismatches.is_empty(), "{mismatches:?}");
}
