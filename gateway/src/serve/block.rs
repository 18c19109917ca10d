//! Building a block from pooled transactions, and sealing its result into a header.
//!
//! The dev chain runs Prague rules (PRAGUE: EIP-7702 accounts and the EIP-7623 calldata floor
//! are in force). Headers carry the real transactions root, receipts root, logs bloom, gas and
//! base fee. The state root is not computed (the in-memory state has no trie): it is zero, and
//! clients must not rely on it. Blob gas is always zero (blob transactions are refused);
//! withdrawals and requests are empty.

use super::{storage::StoredBlock, storage::StoredTx, txpool::PooledTx};
use alloy_consensus::{EMPTY_OMMER_ROOT_HASH, EMPTY_ROOT_HASH, Header, TxReceipt, proofs};
use alloy_eips::{Encodable2718, eip7685::EMPTY_REQUESTS_HASH};
use alloy_primitives::{Address, B256, Bloom, Bytes, U256, keccak256};
use revm::{
    context::BlockEnv,
    primitives::{eip4844::BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE, hardfork::SpecId},
};
use std::sync::Arc;
use switchyard_executors::{Block, BlockEnvironment, BlockResult, BlockTx};

/// The fork rules of the dev chain.
pub const SPEC: SpecId = SpecId::PRAGUE;

/// `extraData` of every block.
pub const EXTRA_DATA: &[u8] = b"switchyard";

/// What a new block needs besides its transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockParams {
    /// Its number.
    pub number: u64,
    /// Its parent's hash.
    pub parent_hash: B256,
    /// Unix time, in seconds.
    pub timestamp: u64,
    /// Base fee, in wei.
    pub base_fee: u64,
    /// Gas limit.
    pub gas_limit: u64,
    /// Fee recipient.
    pub beneficiary: Address,
    /// Chain id.
    pub chain_id: u64,
}

impl BlockParams {
    /// PREVRANDAO: derived from the parent hash, so replays reproduce it.
    pub fn prevrandao(&self) -> B256 {
        keccak256(self.parent_hash)
    }

    /// The block environment for revm.
    pub fn environment(&self) -> BlockEnvironment {
        let mut block = BlockEnv {
            number: U256::from(self.number),
            beneficiary: self.beneficiary,
            timestamp: U256::from(self.timestamp),
            gas_limit: self.gas_limit,
            basefee: self.base_fee,
            difficulty: U256::ZERO,
            prevrandao: Some(self.prevrandao()),
            ..Default::default()
        };
        block.set_blob_excess_gas_and_price(0, BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE);
        BlockEnvironment {
            spec: SPEC,
            chain_id: self.chain_id,
            block,
        }
    }
}

/// The executable block for `txs`, in that order.
pub fn build(params: &BlockParams, txs: &[Arc<PooledTx>]) -> Block {
    Block {
        env: params.environment(),
        txs: txs
            .iter()
            .enumerate()
            .map(|(i, tx)| BlockTx::new(i, &tx.envelope, tx.sender))
            .collect(),
        header: None,
    }
}

/// The header of the genesis block.
pub fn genesis_header(params: &BlockParams) -> Header {
    seal_header(params, &[], B256::ZERO, Bloom::ZERO, 0, EMPTY_ROOT_HASH)
}

fn seal_header(
    params: &BlockParams,
    txs: &[Arc<PooledTx>],
    receipts_root: B256,
    logs_bloom: Bloom,
    gas_used: u64,
    empty_receipts_root: B256,
) -> Header {
    let envelopes: Vec<_> = txs.iter().map(|t| t.envelope.clone()).collect();
    Header {
        parent_hash: params.parent_hash,
        ommers_hash: EMPTY_OMMER_ROOT_HASH,
        beneficiary: params.beneficiary,
        state_root: B256::ZERO,
        transactions_root: proofs::calculate_transaction_root(&envelopes),
        receipts_root: if txs.is_empty() {
            empty_receipts_root
        } else {
            receipts_root
        },
        logs_bloom,
        difficulty: U256::ZERO,
        number: params.number,
        gas_limit: params.gas_limit,
        gas_used,
        timestamp: params.timestamp,
        extra_data: Bytes::from_static(EXTRA_DATA),
        mix_hash: params.prevrandao(),
        nonce: Default::default(),
        base_fee_per_gas: Some(params.base_fee),
        withdrawals_root: Some(EMPTY_ROOT_HASH),
        blob_gas_used: Some(0),
        excess_blob_gas: Some(0),
        parent_beacon_block_root: Some(B256::ZERO),
        requests_hash: Some(EMPTY_REQUESTS_HASH),
        block_access_list_hash: None,
        slot_number: None,
    }
}

/// Seals an executed block: header, receipts and per-transaction facts for storage.
pub fn seal(params: &BlockParams, txs: &[Arc<PooledTx>], result: &BlockResult) -> StoredBlock {
    let mut bloom = Bloom::ZERO;
    for receipt in &result.receipts {
        bloom.accrue_bloom(&receipt.bloom());
    }
    let header = seal_header(
        params,
        txs,
        result.receipts_root.unwrap_or(EMPTY_ROOT_HASH),
        bloom,
        result.gas_used,
        EMPTY_ROOT_HASH,
    );
    let stored: Vec<StoredTx> = txs
        .iter()
        .zip(&result.outcomes)
        .map(|(tx, outcome)| StoredTx {
            envelope: tx.envelope.clone(),
            sender: tx.sender,
            gas_used: outcome.gas_used,
            contract_address: outcome.created_address,
        })
        .collect();
    let size = alloy_rlp::Encodable::length(&header)
        + stored
            .iter()
            .map(|t| t.envelope.encode_2718_len() + 3)
            .sum::<usize>()
        + 8;
    StoredBlock {
        hash: header.hash_slow(),
        header,
        txs: stored,
        receipts: result.receipts.clone(),
        size: size as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_matches_the_header() {
        let params = BlockParams {
            number: 3,
            parent_hash: B256::with_last_byte(9),
            timestamp: 1_700_000_000,
            base_fee: 1_000_000_000,
            gas_limit: 30_000_000,
            beneficiary: Address::with_last_byte(0xfe),
            chain_id: 1337,
        };
        let env = params.environment();
        let header = genesis_header(&params);
        assert_eq!(env.block.prevrandao, Some(header.mix_hash));
        assert_eq!(env.block.basefee, header.base_fee_per_gas.unwrap());
        assert_eq!(env.number(), header.number);
        assert_eq!(header.transactions_root, EMPTY_ROOT_HASH);
    }
}
