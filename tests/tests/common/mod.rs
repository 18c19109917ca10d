//! Shared by the serve tests: real signed EIP-1559 transfers from the dev accounts, and the
//! sequential replay from genesis that every produced block must match.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, transaction::SignerRecoverable};
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use revm::{
    context::BlockEnv,
    primitives::{eip4844::BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE, hardfork::SpecId},
};
use serde_json::{Value, json};
use std::sync::Arc;
use switchyard_executors::{Block, BlockEnvironment, BlockTx, execute_sequential};
use switchyard_gateway::serve::{config::DEV_MNEMONIC, genesis};
use switchyard_tests::Gateway;

/// A signed EIP-1559 transfer on chain 1337, as the hex of its EIP-2718 encoding.
pub(crate) fn transfer(signer: &PrivateKeySigner, nonce: u64, to: Address, tip: u128) -> String {
    let tx = TxEip1559 {
        chain_id: 1337,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: tip,
        to: TxKind::Call(to),
        value: U256::from(1_000 + nonce),
        access_list: Default::default(),
        input: Bytes::new(),
    };
    let sig = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
    let raw = TxEnvelope::from(tx.into_signed(sig)).encoded_2718();
    format!("0x{}", alloy_primitives::hex::encode(raw))
}

/// Sends raw transactions in one JSON-RPC batch; returns their hashes (each must be admitted).
pub(crate) fn send_all(gateway: &Gateway, raws: &[String]) -> Vec<String> {
    let batch: Vec<Value> = raws
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            json!({"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [raw]})
        })
        .collect();
    let (_, body) = gateway.post(Value::Array(batch).to_string().as_bytes());
    let answers: Vec<Value> = serde_json::from_str(&body).unwrap();
    answers
        .iter()
        .map(|a| {
            a["result"]
                .as_str()
                .unwrap_or_else(|| panic!("not admitted: {a}"))
                .to_owned()
        })
        .collect()
}

/// Waits (bounded: `seconds`) until every hash has a receipt.
pub(crate) fn wait_for_receipts(gateway: &Gateway, hashes: &[String], seconds: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    for hash in hashes {
        loop {
            let receipt = gateway.result("eth_getTransactionReceipt", json!([hash]));
            if !receipt.is_null() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{hash} has no receipt after {seconds} s"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// The head block number.
pub(crate) fn head(gateway: &Gateway) -> u64 {
    let number = gateway.result("eth_blockNumber", json!([]));
    u64::from_str_radix(number.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

/// Replays every block the gateway produced sequentially from the dev genesis of
/// `dev_accounts` accounts with the reference executor, asserting each block's gas and receipts
/// root; returns the number of transactions replayed.
pub(crate) fn replay_from_genesis(gateway: &Gateway, dev_accounts: usize) -> usize {
    let genesis_block = gateway.result("eth_getBlockByNumber", json!(["0x0", false]));
    let mut state = genesis::dev_state(
        &genesis::dev_addresses(DEV_MNEMONIC, dev_accounts).unwrap(),
        U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18)),
    );
    state.insert_block_hash(0, genesis_block["hash"].as_str().unwrap().parse().unwrap());
    let mut replayed_txs = 0;
    for number in 1..=head(gateway) {
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
    replayed_txs
}
