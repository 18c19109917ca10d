//! The blocks `switchyard serve` produced under load, fetched over JSON-RPC and replayed
//! sequentially from the dev genesis with the reference executor, give the same receipts root
//! and gas as their headers.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, transaction::SignerRecoverable};
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use revm::{
    context::BlockEnv,
    primitives::{eip4844::BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE, hardfork::SpecId},
};
use serde_json::{Value, json};
use std::sync::Arc;
use switchyard_executors::{Block, BlockEnvironment, BlockTx, execute_sequential};
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
        let mut batch = Vec::new();
        for (i, signer) in signers.iter().enumerate() {
            let to = if nonce % 3 == 0 {
                addresses[(i + 1) % SENDERS]
            } else {
                Address::with_last_byte((nonce % 200) as u8 + 1)
            };
            let tx = TxEip1559 {
                chain_id: 1337,
                nonce,
                gas_limit: 21_000,
                max_fee_per_gas: 100_000_000_000,
                max_priority_fee_per_gas: 1 + (i as u128 % 3),
                to: TxKind::Call(to),
                value: U256::from(1_000 + nonce),
                access_list: Default::default(),
                input: Bytes::new(),
            };
            let sig = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
            let raw = TxEnvelope::from(tx.into_signed(sig)).encoded_2718();
            batch.push(
                json!({"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction",
                "params": [format!("0x{}", alloy_primitives::hex::encode(raw))]}),
            );
        }
        let (_, body) = gateway.post(Value::Array(batch).to_string().as_bytes());
        let answers: Vec<Value> = serde_json::from_str(&body).unwrap();
        for answer in answers {
            hashes.push(answer["result"].as_str().expect("admitted").to_owned());
        }
    }
    // Wait (bounded) for every receipt.
    for hash in &hashes {
        let included = (0..600).any(|_| {
            let receipt = gateway.result("eth_getTransactionReceipt", json!([hash]));
            if receipt.is_null() {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            !receipt.is_null()
        });
        assert!(included, "{hash} never included");
    }

    let genesis_block = gateway.result("eth_getBlockByNumber", json!(["0x0", false]));
    let mut state = genesis::dev_state(
        &genesis::dev_addresses(DEV_MNEMONIC, 10).unwrap(),
        U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18)),
    );
    state.insert_block_hash(0, genesis_block["hash"].as_str().unwrap().parse().unwrap());
    let head: u64 = u64::from_str_radix(
        gateway
            .result("eth_blockNumber", json!([]))
            .as_str()
            .unwrap()
            .trim_start_matches("0x"),
        16,
    )
    .unwrap();
    assert!(head >= 2, "expected several blocks, got {head}");
    let mut replayed_txs = 0;
    for number in 1..=head {
        let raw = gateway.result(
            "eth_getBlockByNumber",
            json!([format!("{number:#x}"), true]),
        );
        let rpc: alloy_rpc_types_eth::Block = serde_json::from_value(raw).unwrap();
        let header = &rpc.header.inner;
        let mut env = BlockEnv {
            number: U256::from(header.number),
            beneficiary: header.beneficiary,
            timestamp: U256::from(header.timestamp),
            gas_limit: header.gas_limit,
            basefee: header.base_fee_per_gas.unwrap(),
            difficulty: U256::ZERO,
            prevrandao: Some(header.mix_hash),
            ..Default::default()
        };
        env.set_blob_excess_gas_and_price(0, BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE);
        let txs = rpc
            .transactions
            .as_transactions()
            .unwrap()
            .iter()
            .enumerate()
            .map(|(i, tx)| {
                let envelope = tx.inner.inner();
                BlockTx::new(i, envelope, envelope.recover_signer().unwrap())
            })
            .collect();
        let block = Block {
            env: BlockEnvironment {
                spec: SpecId::PRAGUE,
                chain_id: 1337,
                block: env,
            },
            txs,
            header: None,
        };
        replayed_txs += block.txs.len();
        let run = execute_sequential(&block, Arc::new(state.clone())).expect("replays");
        assert_eq!(run.result.gas_used, header.gas_used, "block {number} gas");
        assert_eq!(
            run.result.receipts_root,
            Some(header.receipts_root),
            "block {number} receipts root"
        );
        state.apply(&run.result.post_state);
        state.insert_block_hash(number, rpc.header.hash);
    }
    assert_eq!(replayed_txs, hashes.len());
    assert!(gateway.stop().success());
}
