//! Every shared mainnet block replays exactly: gasUsed always, receiptsRoot from Byzantium, and
//! the same post-state as stock revm.

use std::sync::Arc;
use switchyard_executors::{
    BlockFixture, block::find_block_dirs, check, execute_sequential, fixtures::mainnet_dir,
    plain::execute_plain, system,
};

#[test]
fn shared_mainnet_blocks_replay_exactly() {
    let Some(dir) = mainnet_dir() else {
        eprintln!(
            "SKIPPED: no mainnet data; set SWITCHYARD_MAINNET_DIR or place it at ../shared/data/mainnet"
        );
        return;
    };
    let dirs = find_block_dirs(&dir).expect("block folders");
    let mut failures = Vec::new();
    let mut roots_checked = 0;
    for path in &dirs {
        let fixture =
            BlockFixture::load(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut state = fixture.state;
        system::apply_pre_block(&mut state, &fixture.block);
        let base = Arc::new(state);
        let run = execute_sequential(&fixture.block, base.clone())
            .unwrap_or_else(|e| panic!("block {}: {e}", fixture.block.number()));
        let mismatches = check::against_header(&fixture.block, &run.result);
        if !mismatches.is_empty() {
            failures.push(format!("{}: {mismatches:?}", fixture.block.number()));
        }
        roots_checked += usize::from(run.result.receipts_root.is_some());

        let plain = execute_plain(&fixture.block, base).expect("plain revm");
        assert_eq!(
            plain.gas_used,
            run.result.gas_used,
            "block {}",
            fixture.block.number()
        );
        assert_eq!(plain.receipts_root, run.result.receipts_root);
        assert!(
            plain.post_state == run.result.post_state,
            "block {}: post-state differs from stock revm",
            fixture.block.number()
        );
    }
    assert!(
        failures.is_empty(),
        "mismatches against the chain: {failures:#?}"
    );
    assert_eq!(dirs.len(), 42, "the shared set holds 42 blocks");
    assert_eq!(roots_checked, 31, "31 blocks are from Byzantium on");
}
