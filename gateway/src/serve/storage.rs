//! Storage of committed blocks, their transactions and receipts, for the RPC methods.
//!
//! [`BlockStore`] is the seam for durability: the server only appends whole blocks and reads
//! them back by number, hash or transaction hash, so a persistent implementation (an append-only
//! log plus indexes) can replace [`MemoryStore`] without touching the callers. World state is
//! not stored here: the sequencer keeps the latest state, and a durable store would persist
//! each block's `post_state` overlay beside the block.

use alloy_consensus::{Header, ReceiptEnvelope, TxEnvelope};
use alloy_primitives::{Address, B256, map::HashMap};
use std::{
    fmt,
    sync::{Arc, RwLock},
};

/// One transaction as included.
#[derive(Debug, Clone)]
pub struct StoredTx {
    /// The signed envelope.
    pub envelope: TxEnvelope,
    /// The recovered sender.
    pub sender: Address,
    /// Gas used by this transaction alone.
    pub gas_used: u64,
    /// The contract it created, if any.
    pub contract_address: Option<Address>,
}

/// A committed block with everything the RPC serves about it.
#[derive(Debug, Clone)]
pub struct StoredBlock {
    /// The header.
    pub header: Header,
    /// The header's hash.
    pub hash: B256,
    /// Transactions in block order.
    pub txs: Vec<StoredTx>,
    /// Receipts in block order.
    pub receipts: Vec<ReceiptEnvelope>,
    /// RLP size of the block, as `size` in RPC.
    pub size: u64,
}

impl StoredBlock {
    /// The block number.
    pub fn number(&self) -> u64 {
        self.header.number
    }
}

/// Why a block could not be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Blocks must be appended in order.
    #[error("expected block {expected}, got {got}")]
    OutOfOrder {
        /// The next number the store expects.
        expected: u64,
        /// The number it was given.
        got: u64,
    },
}

/// Append-only block storage with lookups.
pub trait BlockStore: Send + Sync + fmt::Debug {
    /// Appends the next block (number = latest + 1; genesis first).
    fn append(&self, block: Arc<StoredBlock>) -> Result<(), StoreError>;
    /// The latest block, `None` before genesis is stored.
    fn latest(&self) -> Option<Arc<StoredBlock>>;
    /// A block by number.
    fn by_number(&self, number: u64) -> Option<Arc<StoredBlock>>;
    /// A block by hash.
    fn by_hash(&self, hash: &B256) -> Option<Arc<StoredBlock>>;
    /// The block holding a transaction, and its index there.
    fn tx(&self, hash: &B256) -> Option<(Arc<StoredBlock>, usize)>;
}

/// Blocks in memory; lost at exit.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: RwLock<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    blocks: Vec<Arc<StoredBlock>>,
    by_hash: HashMap<B256, u64>,
    txs: HashMap<B256, (u64, u32)>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl BlockStore for MemoryStore {
    fn append(&self, block: Arc<StoredBlock>) -> Result<(), StoreError> {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let expected = inner.blocks.len() as u64;
        if block.number() != expected {
            return Err(StoreError::OutOfOrder {
                expected,
                got: block.number(),
            });
        }
        inner.by_hash.insert(block.hash, expected);
        for (i, tx) in block.txs.iter().enumerate() {
            inner
                .txs
                .insert(*tx.envelope.tx_hash(), (expected, i as u32));
        }
        inner.blocks.push(block);
        Ok(())
    }

    fn latest(&self) -> Option<Arc<StoredBlock>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.blocks.last().cloned()
    }

    fn by_number(&self, number: u64) -> Option<Arc<StoredBlock>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.blocks.get(usize::try_from(number).ok()?).cloned()
    }

    fn by_hash(&self, hash: &B256) -> Option<Arc<StoredBlock>> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let number = *inner.by_hash.get(hash)?;
        inner.blocks.get(number as usize).cloned()
    }

    fn tx(&self, hash: &B256) -> Option<(Arc<StoredBlock>, usize)> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let (number, index) = *inner.txs.get(hash)?;
        Some((inner.blocks.get(number as usize)?.clone(), index as usize))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(number: u64) -> Arc<StoredBlock> {
        let header = Header {
            number,
            ..Default::default()
        };
        Arc::new(StoredBlock {
            hash: header.hash_slow(),
            header,
            txs: Vec::new(),
            receipts: Vec::new(),
            size: 0,
        })
    }

    #[test]
    fn appends_in_order_and_looks_up() {
        let store = MemoryStore::new();
        assert!(store.latest().is_none());
        store.append(block(0)).unwrap();
        let one = block(1);
        store.append(one.clone()).unwrap();
        assert_eq!(
            store.append(block(5)),
            Err(StoreError::OutOfOrder {
                expected: 2,
                got: 5
            })
        );
        assert_eq!(store.latest().unwrap().number(), 1);
        assert_eq!(store.by_hash(&one.hash).unwrap().number(), 1);
        assert!(store.by_number(2).is_none());
    }
}
