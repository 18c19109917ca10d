//! Receipts and the receipts root, built from execution outcomes.

use crate::{block::Block, execute::TxOutcome};
use alloy_consensus::{Eip658Value, Receipt, ReceiptEnvelope, ReceiptWithBloom, TxType};
use alloy_primitives::B256;

/// Builds the receipts of a block from its outcomes, in block order.
///
/// Before Byzantium a receipt held an intermediate state root, which execution over a partial
/// pre-state cannot know; those receipts carry the status instead and must not be hashed into a
/// root (see [`receipts_root`]).
pub fn build_receipts(block: &Block, outcomes: &[TxOutcome]) -> Vec<ReceiptEnvelope> {
    let mut cumulative_gas_used = 0u64;
    block
        .txs
        .iter()
        .zip(outcomes)
        .map(|(tx, outcome)| {
            cumulative_gas_used += outcome.gas_used;
            let receipt = Receipt {
                status: Eip658Value::Eip658(outcome.is_success()),
                cumulative_gas_used,
                logs: outcome.logs.clone(),
            };
            // Every type revm accepted is a known type.
            let ty = TxType::try_from(tx.env.tx_type).unwrap_or(TxType::Legacy);
            ReceiptEnvelope::from_typed(ty, ReceiptWithBloom::from(receipt))
        })
        .collect()
}

/// The receipts root, computed with alloy's ordered trie; `None` before Byzantium.
pub fn receipts_root(block: &Block, receipts: &[ReceiptEnvelope]) -> Option<B256> {
    block
        .receipts_root_checkable()
        .then(|| alloy_consensus::proofs::calculate_receipt_root(receipts))
}
