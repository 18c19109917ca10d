//! Every shared mainnet block, for every router and pool count, through pools and the ordered
//! commit, is identical to sequential execution and matches the chain. Each run is repeated to
//! catch races between pools.

use std::sync::Arc;
use switchyard_executors::{
    BlockFixture,
    block::find_block_dirs,
    check, execute_sequential,
    fixtures::mainnet_dir,
    parallel::ParallelExecutor,
    router::{self, OracleFacts},
    system,
};

const ROUTERS: &[&str] = &["round-robin", "sender", "contract", "oracle", "scatter"];
const REPEATS: usize = 2;

#[tokio::test(flavor = "current_thread")]
async fn mainnet_blocks_are_exact_for_every_router_and_pool_count() {
    let Some(dir) = mainnet_dir() else {
        eprintln!(
            "SKIPPED: no mainnet data; set SWITCHYARD_MAINNET_DIR or place it at ../shared/data/mainnet"
        );
        return;
    };
    let executors = [2, 4].map(|pools| {
        ParallelExecutor::in_process(pools)
            .expect("spawn pools")
            .without_fallback()
    });
    let mut reexecuted_somewhere = false;
    for path in find_block_dirs(&dir).expect("block folders") {
        let fixture = BlockFixture::load(&path).expect("fixture");
        let mut state = fixture.state;
        system::apply_pre_block(&mut state, &fixture.block);
        let base = Arc::new(state);
        let block = Arc::new(fixture.block);
        let reference = execute_sequential(&block, base.clone()).expect("sequential");
        let oracle = OracleFacts::from_run(&block, &reference.result.outcomes, &reference.tx_nanos);
        let reference = reference.result;
        assert!(check::against_header(&block, &reference).is_empty());
        for executor in &executors {
            for name in ROUTERS {
                let router = router::by_name(name).expect("router");
                for _ in 0..REPEATS {
                    let run = executor
                        .execute(&block, base.clone(), router.as_ref(), Some(&oracle))
                        .await
                        .unwrap_or_else(|e| panic!("block {} {name}: {e}", block.number()));
                    let vs_reference = check::against_reference(&reference, &run.result);
                    let vs_chain = check::against_header(&block, &run.result);
                    assert!(
                        vs_reference.is_empty() && vs_chain.is_empty(),
                        "block {} router {name} pools {}: {vs_reference:?} {vs_chain:?}",
                        block.number(),
                        executor.pools()
                    );
                    reexecuted_somewhere |= run.commit.reexecuted_txs() > 0;
                }
            }
        }
    }
    // The scatter router splits senders, so the commit must have had real work to do.
    assert!(
        reexecuted_somewhere,
        "no re-execution happened: the commit was never exercised"
    );
}
