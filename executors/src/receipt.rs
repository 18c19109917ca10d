//! Receipts and the receipts root, built from execution outcomes.
//!
//! Before Byzantium a receipt held an intermediate state root, which execution over a partial
//! pre-state cannot know; those receipts carry the status instead and are never hashed into a
//! root ([`receipts_root`] returns `None`).

use crate::{block::Block, execute::TxOutcome};
use alloy_consensus::{Eip658Value, Receipt, ReceiptEnvelope, ReceiptWithBloom, TxType};
use alloy_eips::Encodable2718;
use alloy_primitives::{B256, keccak256};
use alloy_trie::{
    EMPTY_ROOT_HASH, HashBuilder, Nibbles, nodes::LeafNodeRef, root::ordered_trie_root_with_encoder,
};
use std::sync::{
    OnceLock,
    atomic::{AtomicUsize, Ordering},
};

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

/// Where each leaf of a block's receipts trie sits, known from the receipt count alone.
///
/// Keys are `rlp(index)`, so the shape of the trie follows from the count: a leaf sits one
/// nibble below the longest prefix its key shares with a neighbour in key order (whose byte
/// order is 1..=127, then 0 as `0x80`, then 128 onwards as `0x81..`). Each leaf can therefore
/// be hashed on its own, in any order and on any thread; only the branches above wait for the
/// last receipt.
#[derive(Debug, Clone)]
pub struct ReceiptTrie {
    /// Depth in nibbles of each receipt's leaf, by index.
    depths: Vec<u8>,
}

impl ReceiptTrie {
    /// The trie of a block of `receipts` receipts.
    pub fn new(receipts: usize) -> Self {
        let order = Self::key_order(receipts);
        let keys: Vec<Nibbles> = order.iter().map(|i| key(*i)).collect();
        let mut depths = vec![0; receipts];
        for (position, index) in order.iter().enumerate() {
            let shared = |other: Option<&Nibbles>| {
                other.map_or(0, |other| keys[position].common_prefix_length(other) + 1)
            };
            let before = position.checked_sub(1).and_then(|p| keys.get(p));
            let depth = shared(before).max(shared(keys.get(position + 1)));
            depths[*index] = depth as u8;
        }
        Self { depths }
    }

    /// Receipt indices in the byte order of their keys.
    fn key_order(receipts: usize) -> Vec<usize> {
        let small = receipts.min(128);
        (1..small)
            .chain((receipts > 0).then_some(0))
            .chain(128..receipts.max(128))
            .collect()
    }

    /// The hash of receipt `index`'s leaf node, given the receipt's EIP-2718 encoding; `None`
    /// when the node is shorter than a hash and sits inline in its parent, which a receipt
    /// never does (its bloom alone is 256 bytes).
    pub fn leaf_hash(&self, index: usize, encoded: &[u8], buf: &mut Vec<u8>) -> Option<B256> {
        let key = key(index);
        let rest = key.slice(usize::from(self.depths[index])..);
        buf.clear();
        let node = LeafNodeRef::new(&rest, encoded).rlp(buf);
        node.as_hash()
            .or_else(|| (self.depths.len() == 1).then(|| keccak256(buf.as_slice())))
    }

    /// The root over the leaf hashes of every receipt, given by index.
    pub fn root(&self, leaves: impl Fn(usize) -> B256) -> B256 {
        if self.depths.is_empty() {
            return EMPTY_ROOT_HASH;
        }
        let mut hasher = HashBuilder::default();
        for index in Self::key_order(self.depths.len()) {
            let path = key(index).slice(..usize::from(self.depths[index]));
            hasher.add_branch(path, leaves(index), false);
        }
        hasher.root()
    }
}

fn key(index: usize) -> Nibbles {
    Nibbles::unpack(alloy_rlp::encode_fixed_size(&index))
}

/// Receipts hashed into their root by whichever thread has a core to spare.
///
/// The committer publishes each receipt as it commits it; idle threads hash published leaves
/// a chunk at a time ([`Self::hash_some`]), so the keccak work leaves the commit's serial path;
/// [`Self::root`] hashes whatever is left and assembles the branches.
#[derive(Debug)]
pub struct ReceiptLeaves {
    trie: ReceiptTrie,
    encoded: Box<[OnceLock<Vec<u8>>]>,
    hashes: Box<[OnceLock<Option<B256>>]>,
    published: AtomicUsize,
    next_chunk: AtomicUsize,
}

/// Leaves one claim hashes: tens of microseconds, short enough that a pool handed new work is
/// back at it soon.
const LEAVES_PER_CHUNK: usize = 32;

impl ReceiptLeaves {
    /// The leaves of a block of `receipts` receipts, none published yet.
    pub fn new(receipts: usize) -> Self {
        Self {
            trie: ReceiptTrie::new(receipts),
            encoded: (0..receipts).map(|_| OnceLock::new()).collect(),
            hashes: (0..receipts).map(|_| OnceLock::new()).collect(),
            published: AtomicUsize::new(0),
            next_chunk: AtomicUsize::new(0),
        }
    }

    /// Publishes the next receipt, in index order. Only one thread publishes at a time (the
    /// committer); extra receipts are ignored.
    pub fn publish(&self, receipt: &ReceiptEnvelope) {
        let index = self.published.load(Ordering::Relaxed);
        if let Some(slot) = self.encoded.get(index) {
            let _ = slot.set(receipt.encoded_2718());
            self.published.store(index + 1, Ordering::Release);
        }
    }

    /// Hashes the next chunk of published leaves nobody has claimed; returns `false` when no
    /// chunk is ready.
    pub fn hash_some(&self) -> bool {
        let published = self.published.load(Ordering::Acquire);
        let mut chunk = self.next_chunk.load(Ordering::Relaxed);
        loop {
            let start = chunk.saturating_mul(LEAVES_PER_CHUNK);
            let end = start
                .saturating_add(LEAVES_PER_CHUNK)
                .min(self.hashes.len());
            if start >= end || published < end {
                return false;
            }
            match self.next_chunk.compare_exchange_weak(
                chunk,
                chunk + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    let mut buf = Vec::new();
                    (start..end).for_each(|i| {
                        self.hash(i, &mut buf);
                    });
                    return true;
                }
                Err(now) => chunk = now,
            }
        }
    }

    /// The root; call once every receipt is published. The caller claims chunks like any
    /// helper, so those still hashing share the rest; then it waits for chunks in flight.
    pub fn root(&self) -> B256 {
        assert_eq!(
            self.published.load(Ordering::Acquire),
            self.hashes.len(),
            "every receipt is published before the root"
        );
        while self.hash_some() {}
        let mut buf = Vec::new();
        let leaves: Option<Vec<B256>> = (0..self.hashes.len())
            .map(|i| self.hash(i, &mut buf))
            .collect();
        match leaves {
            Some(leaves) => self.trie.root(|i| leaves[i]),
            // A leaf short enough to sit inline: build the trie the ordinary way.
            None => ordered_trie_root_with_encoder(&self.encoded, |encoded, out| {
                out.extend_from_slice(encoded.get().expect("published"))
            }),
        }
    }

    fn hash(&self, index: usize, buf: &mut Vec<u8>) -> Option<B256> {
        *self.hashes[index].get_or_init(|| {
            let encoded = self.encoded[index]
                .get()
                .expect("hashed only once published");
            self.trie.leaf_hash(index, encoded, buf)
        })
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
    fn leaf_by_leaf_root_equals_alloys_ordered_trie_root() {
        let counts = (0..=300).chain([383, 384, 1000, 4096, 70_000]);
        for n in counts {
            let mut cumulative = 0;
            let receipts: Vec<ReceiptEnvelope> = (0..n)
                .map(|i| {
                    let o = outcome(i);
                    cumulative += o.gas_used;
                    receipt((i % 3) as u8, &o, cumulative)
                })
                .collect();
            let leaves = ReceiptLeaves::new(n);
            for (i, r) in receipts.iter().enumerate() {
                leaves.publish(r);
                // Some leaves are hashed early, out of the root's order; the rest at the end.
                if i % 97 == 0 {
                    leaves.hash_some();
                }
            }
            assert_eq!(
                leaves.root(),
                alloy_consensus::proofs::calculate_receipt_root(&receipts),
                "{n} receipts"
            );
        }
    }

    #[test]
    fn helpers_hashing_while_receipts_are_published_give_the_same_root() {
        let receipts: Vec<ReceiptEnvelope> = (0..1500)
            .map(|i| receipt((i % 3) as u8, &outcome(i), 21_000 * (i as u64 + 1)))
            .collect();
        let expected = alloy_consensus::proofs::calculate_receipt_root(&receipts);
        for _ in 0..8 {
            let leaves = std::sync::Arc::new(ReceiptLeaves::new(receipts.len()));
            let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let helpers: Vec<_> = (0..3)
                .map(|_| {
                    let (leaves, done) = (leaves.clone(), done.clone());
                    std::thread::spawn(move || {
                        let mut hashed = 0;
                        while !done.load(Ordering::Relaxed) {
                            if leaves.hash_some() {
                                hashed += 1;
                            } else {
                                std::thread::yield_now();
                            }
                        }
                        hashed
                    })
                })
                .collect();
            receipts.iter().for_each(|r| leaves.publish(r));
            let root = leaves.root();
            done.store(true, Ordering::Relaxed);
            let hashed: usize = helpers.into_iter().map(|h| h.join().unwrap()).sum();
            assert_eq!(root, expected);
            // Chunks are claimed once: helpers and the root never hash more than all of them.
            assert!(hashed <= receipts.len().div_ceil(LEAVES_PER_CHUNK));
        }
    }
}
