//! The chain as the server shares it: the committed head (state and block), the pending pool,
//! and block storage. RPC handlers admit and read through it; the sequencer cuts and commits.
//!
//! The head and the pool sit under one lock so that admission always sees a consistent pair:
//! a transaction is either in flight or reflected in the committed state, never both or
//! neither. The lock is held only for map operations, never for signature recovery or
//! execution.
//!
//! # Base fee
//! The first block's base fee is `chain.base_fee_wei` (1 gwei by default), which is also a
//! floor. With `base_fee_adjust` (the default) each block's base fee follows EIP-1559 from its
//! parent (target: half the gas limit; ±12.5% at most), never below the floor; otherwise it
//! stays fixed. `eth_gasPrice` is the next block's base fee plus the suggested tip.

use super::{
    admission::{self, Rules},
    error::{RejectReason, Rejection},
    storage::{BlockStore, StoredBlock},
    txpool::{AccountView, Known, PoolCounts, PooledTx, TxPool},
};
use alloy_eips::eip1559::BaseFeeParams;
use alloy_primitives::{Address, B256};
use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, AtomicU64, Ordering},
};
use switchyard_executors::{State, StateReader};
use tokio::sync::Notify;

/// The tip `eth_maxPriorityFeePerGas` suggests, in wei.
pub const SUGGESTED_TIP: u128 = 1_000_000_000;

/// The committed head: the latest block and the state after it.
#[derive(Debug, Clone)]
pub struct Head {
    /// State after the latest block.
    pub state: Arc<State>,
    /// The latest block.
    pub block: Arc<StoredBlock>,
    /// Base fee of the next block.
    pub next_base_fee: u128,
}

/// Fee policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeePolicy {
    /// Initial base fee and floor.
    pub floor: u128,
    /// EIP-1559 updates on or off.
    pub adjust: bool,
}

impl FeePolicy {
    /// The base fee of the block after one with `base_fee` that used `gas_used` of `gas_limit`.
    pub fn next(&self, base_fee: u128, gas_used: u64, gas_limit: u64) -> u128 {
        if !self.adjust {
            return self.floor;
        }
        let base = u64::try_from(base_fee).unwrap_or(u64::MAX);
        let next = alloy_eips::eip1559::calc_next_block_base_fee(
            gas_used,
            gas_limit,
            base,
            BaseFeeParams::ethereum(),
        );
        u128::from(next).max(self.floor)
    }
}

#[derive(Debug)]
struct Inner {
    pool: TxPool,
    head: Head,
}

/// The shared chain.
#[derive(Debug)]
pub struct Chain {
    rules: Rules,
    fees: FeePolicy,
    store: Arc<dyn BlockStore>,
    inner: Mutex<Inner>,
    /// Next base fee, readable without the lock (admission's stateless checks).
    next_base_fee: AtomicU64,
    full: Notify,
    accepting: AtomicBool,
}

fn account_of(state: &State, address: &Address) -> AccountView {
    state
        .summary(address)
        .map(|s| AccountView {
            nonce: s.nonce,
            balance: s.balance,
        })
        .unwrap_or_default()
}

impl Chain {
    /// A chain at `genesis` (already appended to `store`).
    pub fn new(
        rules: Rules,
        fees: FeePolicy,
        store: Arc<dyn BlockStore>,
        pool: TxPool,
        head: Head,
    ) -> Self {
        Self {
            rules,
            fees,
            store,
            next_base_fee: AtomicU64::new(u64::try_from(head.next_base_fee).unwrap_or(u64::MAX)),
            inner: Mutex::new(Inner { pool, head }),
            full: Notify::new(),
            accepting: AtomicBool::new(true),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The admission rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The fee policy.
    pub fn fees(&self) -> &FeePolicy {
        &self.fees
    }

    /// Block storage.
    pub fn store(&self) -> &Arc<dyn BlockStore> {
        &self.store
    }

    /// Admits a raw transaction: decode and recover outside the lock, then the account checks
    /// and insertion under it. Returns the hash.
    pub fn admit(&self, raw: &[u8]) -> Result<B256, Rejection> {
        if !self.accepting.load(Ordering::Relaxed) {
            return Err(Rejection::new(
                RejectReason::ShuttingDown,
                "the gateway is shutting down and accepts no transactions",
            ));
        }
        let base_fee = u128::from(self.next_base_fee.load(Ordering::Relaxed));
        let decoded = admission::decode(raw, &self.rules, base_fee)?;
        self.insert(decoded.tx)
    }

    /// The account checks and insertion of an already decoded transaction.
    pub fn insert(&self, tx: PooledTx) -> Result<B256, Rejection> {
        let hash = tx.hash;
        let full = {
            let mut inner = self.lock();
            if self.store.tx(&hash).is_some() {
                return Err(Rejection::new(RejectReason::AlreadyKnown, "already known"));
            }
            admission::check_sender_code(inner.head.state.as_ref(), &tx.sender)?;
            let account = account_of(&inner.head.state, &tx.sender);
            inner.pool.insert(tx, account)?;
            inner.pool.waiting_gas() >= self.rules.block_gas_limit
        };
        if full {
            self.full.notify_one();
        }
        Ok(hash)
    }

    /// Stops admitting transactions (shutdown).
    pub fn close_intake(&self) {
        self.accepting.store(false, Ordering::Relaxed);
    }

    /// Completes when the pool holds a block's worth of gas.
    pub async fn full(&self) {
        self.full.notified().await;
    }

    /// The committed head.
    pub fn head(&self) -> Head {
        self.lock().head.clone()
    }

    /// The committed state.
    pub fn state(&self) -> Arc<State> {
        self.lock().head.state.clone()
    }

    /// The next nonce for `address`, counting pending transactions.
    pub fn pending_nonce(&self, address: &Address) -> u64 {
        let inner = self.lock();
        let account = account_of(&inner.head.state, address);
        inner.pool.pending_nonce(address, account)
    }

    /// A transaction that is waiting or in flight.
    pub fn pending_tx(&self, hash: &B256) -> Option<Arc<PooledTx>> {
        match self.lock().pool.get(hash)? {
            Known::Waiting(tx) | Known::InFlight(tx) => Some(tx),
        }
    }

    /// Pool counts.
    pub fn pool_counts(&self) -> PoolCounts {
        self.lock().pool.counts()
    }

    /// Cuts the next block's transactions; empty when nothing is executable.
    pub fn cut(&self, gas_limit: u64) -> (Vec<Arc<PooledTx>>, Head) {
        let mut inner = self.lock();
        let Inner { pool, head } = &mut *inner;
        let state = head.state.clone();
        let txs = pool.select(head.next_base_fee, gas_limit, |a| account_of(&state, a));
        (txs, head.clone())
    }

    /// Commits a block: the new head replaces the old and the in-flight transactions leave the
    /// pool. Returns waiting transactions made stale by it (none in normal operation).
    pub fn commit(&self, head: Head) -> Vec<Arc<PooledTx>> {
        let next = u64::try_from(head.next_base_fee).unwrap_or(u64::MAX);
        let mut inner = self.lock();
        let state = head.state.clone();
        inner.head = head;
        self.next_base_fee.store(next, Ordering::Relaxed);
        inner.pool.finish_block(|a| account_of(&state, a))
    }

    /// The block was not committed: its transactions wait again, except `drop`.
    pub fn abandon(&self, drop: &[B256]) {
        self.lock().pool.return_in_flight(drop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_fee_follows_eip1559_above_the_floor() {
        let fees = FeePolicy {
            floor: 1_000_000_000,
            adjust: true,
        };
        // Full block: +12.5%.
        assert_eq!(
            fees.next(1_000_000_000, 30_000_000, 30_000_000),
            1_125_000_000
        );
        // Target: unchanged.
        assert_eq!(
            fees.next(1_000_000_000, 15_000_000, 30_000_000),
            1_000_000_000
        );
        // Empty block: down, but never below the floor.
        assert_eq!(fees.next(1_000_000_000, 0, 30_000_000), 1_000_000_000);
        assert_eq!(fees.next(2_000_000_000, 0, 30_000_000), 1_750_000_000);
        let fixed = FeePolicy {
            floor: 7,
            adjust: false,
        };
        assert_eq!(fixed.next(7, 30_000_000, 30_000_000), 7);
    }
}
