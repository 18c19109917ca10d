//! Stored blocks, transactions and receipts as alloy's RPC types, so they serialize exactly as
//! geth's and deserialize in any alloy, ethers or web3.py client.

use crate::serve::{storage::StoredBlock, txpool::PooledTx};
use alloy_consensus::{Transaction as _, transaction::Recovered};
use alloy_primitives::U256;
use alloy_rpc_types_eth::{
    Block, BlockTransactions, Header, Log, Transaction, TransactionReceipt, Withdrawals,
};

/// The block as `eth_getBlockBy*` returns it, with full transactions or hashes.
pub fn block(stored: &StoredBlock, full: bool) -> Block {
    let transactions = if full {
        BlockTransactions::Full(
            (0..stored.txs.len())
                .map(|i| transaction(stored, i))
                .collect(),
        )
    } else {
        BlockTransactions::Hashes(stored.txs.iter().map(|t| *t.envelope.tx_hash()).collect())
    };
    Block {
        header: Header {
            hash: stored.hash,
            inner: stored.header.clone(),
            total_difficulty: Some(U256::ZERO),
            size: Some(U256::from(stored.size)),
        },
        uncles: Vec::new(),
        transactions,
        withdrawals: Some(Withdrawals::default()),
    }
}

/// Transaction `index` of a stored block.
pub fn transaction(stored: &StoredBlock, index: usize) -> Transaction {
    let tx = &stored.txs[index];
    Transaction {
        inner: Recovered::new_unchecked(tx.envelope.clone(), tx.sender),
        block_hash: Some(stored.hash),
        block_number: Some(stored.number()),
        transaction_index: Some(index as u64),
        effective_gas_price: Some(
            tx.envelope
                .effective_gas_price(stored.header.base_fee_per_gas),
        ),
        block_timestamp: Some(stored.header.timestamp),
    }
}

/// A transaction still pending (no block yet).
pub fn pending_transaction(tx: &PooledTx) -> Transaction {
    Transaction {
        inner: Recovered::new_unchecked(tx.envelope.clone(), tx.sender),
        block_hash: None,
        block_number: None,
        transaction_index: None,
        effective_gas_price: None,
        block_timestamp: None,
    }
}

/// The receipt of transaction `index` of a stored block, with block-wide log indices.
pub fn receipt(stored: &StoredBlock, index: usize) -> TransactionReceipt {
    let tx = &stored.txs[index];
    let hash = *tx.envelope.tx_hash();
    let first_log: usize = stored.receipts[..index]
        .iter()
        .map(|r| r.logs().len())
        .sum();
    let mut log_index = first_log as u64;
    let inner = stored.receipts[index].clone().map_logs(|log| {
        let rpc = Log {
            inner: log,
            block_hash: Some(stored.hash),
            block_number: Some(stored.number()),
            block_timestamp: Some(stored.header.timestamp),
            transaction_hash: Some(hash),
            transaction_index: Some(index as u64),
            log_index: Some(log_index),
            removed: false,
        };
        log_index += 1;
        rpc
    });
    TransactionReceipt {
        inner,
        transaction_hash: hash,
        transaction_index: Some(index as u64),
        block_hash: Some(stored.hash),
        block_number: Some(stored.number()),
        gas_used: tx.gas_used,
        effective_gas_price: tx
            .envelope
            .effective_gas_price(stored.header.base_fee_per_gas),
        blob_gas_used: None,
        blob_gas_price: None,
        from: tx.sender,
        to: tx.envelope.to(),
        contract_address: tx.contract_address,
    }
}
