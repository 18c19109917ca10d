//! Every shared mainnet block replays exactly: gasUsed always, receiptsRoot from Byzantium, and
//! the same post-state as stock revm.

use revm::primitives::hardfork::SpecId;
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
    let mut from_byzantium = 0;
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
        from_byzantium += usize::from(fixture.block.env.spec >= SpecId::BYZANTIUM);

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
    assert!(!dirs.is_empty(), "no block folders in {}", dir.display());
    // Receipts carry a root from Byzantium on; every such block's root was checked.
    assert_eq!(roots_checked, from_byzantium);
    assert!(roots_checked > 0, "no block from Byzantium on");
}

/// Read-after-write dependencies found the plain way: every key read against the last writer
/// of that key, each account looked up in the transaction's own lists.
fn dependencies_by_scanning_every_key(
    block: &switchyard_executors::Block,
    outcomes: &[switchyard_executors::execute::TxOutcome],
) -> Vec<(usize, usize)> {
    use std::collections::HashMap;
    use switchyard_executors::{
        access::{AccessKey, AccountWrite},
        commit::takes_balance_as_delta,
    };
    let beneficiary = block.env.beneficiary();
    let mut last_writer: HashMap<AccessKey, usize> = HashMap::new();
    let mut last_identity_writer = HashMap::new();
    let mut wiped = HashMap::new();
    let mut deps = Vec::new();
    for (j, outcome) in outcomes.iter().enumerate() {
        let tx = &block.txs[j];
        for key in outcome.reads.keys() {
            if key == AccessKey::Account(beneficiary) {
                continue;
            }
            let mut writer = match key {
                AccessKey::Account(address)
                    if outcome.reads.balance_uses.as_deref().is_some_and(|uses| {
                        outcome
                            .reads
                            .account(&address)
                            .flatten()
                            .is_some_and(|seen| takes_balance_as_delta(tx, uses, &address, &seen))
                    }) =>
                {
                    last_identity_writer.get(&address).copied()
                }
                _ => last_writer.get(&key).copied(),
            };
            if let AccessKey::Storage(address, _) = key {
                writer = writer.max(wiped.get(&address).copied());
            }
            deps.extend(writer.map(|i| (j, i)));
        }
        for key in outcome.writes.keys() {
            last_writer.insert(key, j);
            let AccessKey::Account(address) = key else {
                continue;
            };
            if outcome.writes.wipes(&address) {
                wiped.insert(address, j);
            }
            let seen = outcome.reads.account(&address).flatten();
            let identity = outcome
                .writes
                .accounts
                .iter()
                .filter(|(a, _)| *a == address)
                .any(|(_, write)| match (write, seen) {
                    (AccountWrite::Updated { info, .. }, Some(seen)) => {
                        info.nonce != seen.nonce || info.code_hash != seen.code_hash
                    }
                    _ => true,
                });
            if identity {
                last_identity_writer.insert(address, j);
            }
        }
    }
    deps.sort_unstable();
    deps.dedup();
    deps
}

#[test]
fn true_dependencies_are_those_of_scanning_every_key() {
    let Some(dir) = mainnet_dir() else {
        eprintln!("SKIPPED: no mainnet data");
        return;
    };
    let mut dependencies = 0;
    for path in find_block_dirs(&dir).expect("block folders") {
        let fixture = BlockFixture::load(&path).expect("fixture");
        let mut state = fixture.state;
        system::apply_pre_block(&mut state, &fixture.block);
        let run = execute_sequential(&fixture.block, Arc::new(state)).expect("sequential");
        let outcomes = &run.result.outcomes;
        let expected = dependencies_by_scanning_every_key(&fixture.block, outcomes);
        assert_eq!(
            switchyard_executors::router::true_dependencies(&fixture.block, outcomes),
            expected,
            "block {}",
            fixture.block.number()
        );
        dependencies += expected.len();
    }
    assert!(dependencies > 0, "the blocks have dependencies to compare");
}
