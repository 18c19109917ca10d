//! Receipts and the receipts root, built from execution outcomes.
//!
//! Before Byzantium a receipt held an intermediate state root, which execution over a partial
//! pre-state cannot know; those receipts carry the status instead and are never hashed into a
//! root ([`receipts_root`] returns `None`).

use crate::{block::Block, execute::TxOutcome};
use alloy_consensus::{Eip658Value, Receipt, ReceiptEnvelope, ReceiptWithBloom, TxType};
use alloy_eips::Encodable2718;
use alloy_primitives::B256;
use alloy_trie::{EMPTY_ROOT_HASH, HashBuilder, Nibbles};

/// The receipt of one transaction, given the block's gas used up to and including it.
pub fn receipt(tx_type: u8, outcome: &TxOutcome, cumulative_gas_used: u64) -> ReceiptEnvelope {
    let receipt = Receipt {
        status: Eip658Value::Eip658(outcome.is_success()),
        cumulative_gas_used,
        logs: outcome.logs.clone(),
    };
    // Every type revm accepted is a known type.
    let ty = TxType::try_from(tx_type).unwrap_or(TxType::Legacy);
    // The bloom was computed where the transaction ran, off the commit's critical path.
    ReceiptEnvelope::from_typed(ty, ReceiptWithBloom::new(receipt, outcome.logs_bloom))
}

/// Builds the receipts of a block from its outcomes, in block order.
pub fn build_receipts(block: &Block, outcomes: &[TxOutcome]) -> Vec<ReceiptEnvelope> {
    let mut cumulative_gas_used = 0u64;
    block
        .txs
        .iter()
        .zip(outcomes)
        .map(|(tx, outcome)| {
            cumulative_gas_used += outcome.gas_used;
            receipt(tx.env.tx_type, outcome, cumulative_gas_used)
        })
        .collect()
}

/// The receipts root, computed with alloy's ordered trie; `None` before Byzantium.
pub fn receipts_root(block: &Block, receipts: &[ReceiptEnvelope]) -> Option<B256> {
    block
        .receipts_root_checkable()
        .then(|| alloy_consensus::proofs::calculate_receipt_root(receipts))
}

/// The receipts root built one receipt at a time, in block order, so the ordered commit can
/// hash while the pools still execute. Equal to [`receipts_root`] (a test holds it to that).
///
/// Trie keys are `rlp(index)`, whose byte order is 1..=127, then 0 (`0x80`), then 128 onwards
/// (`0x81..`), so only the first receipt waits for the 128th.
#[derive(Debug, Default)]
pub struct ReceiptRootBuilder {
    hasher: HashBuilder,
    first: Option<Vec<u8>>,
    next: usize,
}

impl ReceiptRootBuilder {
    /// Adds the next receipt (index 0, then 1, …).
    pub fn push(&mut self, receipt: &ReceiptEnvelope) {
        let index = self.next;
        self.next += 1;
        let encoded = receipt.encoded_2718();
        if index == 0 {
            self.first = Some(encoded);
            return;
        }
        if index == 128 {
            self.add_first();
        }
        self.add(index, &encoded);
    }

    /// The root over every receipt pushed.
    pub fn finish(mut self) -> B256 {
        if self.next == 0 {
            return EMPTY_ROOT_HASH;
        }
        self.add_first();
        self.hasher.root()
    }

    fn add_first(&mut self) {
        if let Some(first) = self.first.take() {
            self.add(0, &first);
        }
    }

    fn add(&mut self, index: usize, value: &[u8]) {
        let key = alloy_rlp::encode_fixed_size(&index);
        self.hasher.add_leaf(Nibbles::unpack(&key), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Address, Bytes, Log, LogData};

    fn outcome(i: usize) -> TxOutcome {
        let log = Log {
            address: Address::with_last_byte(i as u8),
            data: LogData::new_unchecked(vec![B256::with_last_byte(7)], Bytes::from(vec![i as u8])),
        };
        let logs = if i.is_multiple_of(3) {
            vec![log]
        } else {
            Vec::new()
        };
        TxOutcome {
            status: if i.is_multiple_of(5) {
                crate::TxStatus::Revert
            } else {
                crate::TxStatus::Success
            },
            gas_used: 21_000 + i as u64,
            logs_bloom: alloy_primitives::logs_bloom(&logs),
            logs,
            output: Bytes::new(),
            created_address: None,
            reads: Default::default(),
            writes: Default::default(),
            fee: Default::default(),
        }
    }

    #[test]
    fn incremental_root_equals_alloys_ordered_trie_root() {
        for n in [0, 1, 2, 127, 128, 129, 300] {
            let mut cumulative = 0;
            let receipts: Vec<ReceiptEnvelope> = (0..n)
                .map(|i| {
                    let o = outcome(i);
                    cumulative += o.gas_used;
                    receipt((i % 3) as u8, &o, cumulative)
                })
                .collect();
            let mut builder = ReceiptRootBuilder::default();
            receipts.iter().for_each(|r| builder.push(r));
            assert_eq!(
                builder.finish(),
                alloy_consensus::proofs::calculate_receipt_root(&receipts),
                "{n} receipts"
            );
        }
    }
}
