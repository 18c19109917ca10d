//! The blocks `switchyard serve` produced under load, fetched over JSON-RPC and replayed
//! sequentially from the dev genesis with the reference executor, give the same receipts root
//! and gas as their headers.

mod common;

use alloy_primitives::Address;
use switchyard_gateway::serve::{config::DEV_MNEMONIC, genesis};
use switchyard_tests::Gateway;

const SENDERS: usize = 8;
const PER_SENDER: u64 = 40;

#[test]
fn produced_blocks_replay_exactly_from_genesis() {
    // A small gas limit (50 transfers) makes many blocks, most of them cut early when full.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, "[chain]\nblock_gas_limit = 1050000\n").unwrap();
    let gateway = Gateway::start(&[
        "--config",
        config.to_str().unwrap(),
        "--block-time",
        "50",
        "--pools",
        "2",
    ]);
    let signers = genesis::dev_signers(DEV_MNEMONIC, SENDERS).unwrap();
    let addresses: Vec<Address> = signers.iter().map(|s| s.address()).collect();

    // Transfers among the dev accounts (contended) and to fresh addresses, sent in batches.
    let mut hashes = Vec::new();
    for nonce in 0..PER_SENDER {
        let raws: Vec<String> = signers
            .iter()
            .enumerate()
            .map(|(i, signer)| {
                let to = if nonce % 3 == 0 {
                    addresses[(i + 1) % SENDERS]
                } else {
                    Address::with_last_byte((nonce % 200) as u8 + 1)
                };
                common::transfer(signer, nonce, to, 1 + (i as u128 % 3))
            })
            .collect();
        hashes.extend(common::send_all(&gateway, &raws));
    }
    common::wait_for_receipts(&gateway, &hashes, 60);
    assert!(
        common::head(&gateway) >= 2,
        "expected several blocks, got {}",
        common::head(&gateway)
    );
    assert_eq!(common::replay_from_genesis(&gateway, 10), hashes.len());
    assert!(gateway.stop().success());
}
