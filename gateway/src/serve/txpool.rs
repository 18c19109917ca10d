//! Pending transactions, per sender in nonce order, and the rule that picks a block from them.
//!
//! # Ordering rule
//! A block is filled greedily. The candidates are each sender's lowest executable nonce; the
//! best candidate is the one with the highest effective tip (`min(max priority fee, fee cap -
//! base fee)`), ties going to the earlier arrival. Taking a sender's transaction makes its next
//! nonce a candidate, so a sender's transactions always enter a block in nonce order. A
//! candidate whose gas limit no longer fits the block ends its sender's run for this block; a
//! candidate whose fee cap is below the base fee waits in the pool. Summing gas *limits* (not
//! gas used) keeps every selected transaction within the block gas limit whatever it does.
//!
//! Transactions move from the pool to *in flight* when a block is cut, and leave it when the
//! block commits; while in flight they still count for nonces, balances and "already known".

use super::error::{RejectReason, Rejection};
use alloy_consensus::TxEnvelope;
use alloy_primitives::{Address, B256, U256, map::HashMap};
use std::{
    cmp::{Ordering, Reverse},
    collections::{BTreeMap, BinaryHeap},
    sync::Arc,
};

/// An admitted transaction, decoded, with its sender and fee terms.
#[derive(Debug, Clone)]
pub struct PooledTx {
    /// Transaction hash.
    pub hash: B256,
    /// Recovered sender.
    pub sender: Address,
    /// Nonce.
    pub nonce: u64,
    /// Gas limit.
    pub gas_limit: u64,
    /// Fee cap (gas price for legacy and EIP-2930).
    pub max_fee: u128,
    /// Priority fee cap (gas price for legacy and EIP-2930).
    pub max_priority_fee: u128,
    /// Most it can cost: gas limit * fee cap + value.
    pub cost: U256,
    /// The signed envelope, as stored and served.
    pub envelope: TxEnvelope,
    /// Arrival order, for ties.
    pub arrival: u64,
}

impl PooledTx {
    /// The tip per gas the beneficiary gets at `base_fee`; `None` when the fee cap is below it.
    pub fn effective_tip(&self, base_fee: u128) -> Option<u128> {
        let headroom = self.max_fee.checked_sub(base_fee)?;
        Some(headroom.min(self.max_priority_fee))
    }
}

/// Capacity limits of the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    /// How far ahead of the next nonce a transaction may be queued.
    pub max_nonce_gap: u64,
    /// Transactions held (all senders, in flight excluded).
    pub max_transactions: usize,
    /// Transactions held for one sender.
    pub max_per_sender: usize,
}

/// What the pool knows of a sender's account in the committed state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountView {
    /// Committed nonce.
    pub nonce: u64,
    /// Committed balance.
    pub balance: U256,
}

#[derive(Debug, Default)]
struct SenderTxs {
    /// Waiting transactions by nonce.
    txs: BTreeMap<u64, Arc<PooledTx>>,
    /// The nonce after this sender's in-flight transactions, while a block carries some.
    in_flight_next: Option<u64>,
    /// What the in-flight transactions may cost at most.
    in_flight_cost: U256,
}

impl SenderTxs {
    /// The lowest nonce that is neither committed nor in flight.
    fn floor(&self, account: AccountView) -> u64 {
        self.in_flight_next
            .map_or(account.nonce, |n| n.max(account.nonce))
    }
}

/// Counts for metrics and `switchyard_status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolCounts {
    /// Waiting transactions (executable and queued).
    pub waiting: usize,
    /// Transactions in the block being executed.
    pub in_flight: usize,
    /// Senders with waiting or in-flight transactions.
    pub senders: usize,
}

/// Where a known transaction is.
#[derive(Debug, Clone)]
pub enum Known {
    /// Waiting in the pool.
    Waiting(Arc<PooledTx>),
    /// In the block being executed.
    InFlight(Arc<PooledTx>),
}

/// The pending-transaction pool.
#[derive(Debug)]
pub struct TxPool {
    limits: PoolLimits,
    senders: HashMap<Address, SenderTxs>,
    /// Waiting transactions: hash to (sender, nonce).
    waiting: HashMap<B256, (Address, u64)>,
    in_flight: HashMap<B256, Arc<PooledTx>>,
    next_arrival: u64,
    /// Sum of the gas limits of waiting transactions.
    waiting_gas: u64,
}

impl TxPool {
    /// An empty pool.
    pub fn new(limits: PoolLimits) -> Self {
        Self {
            limits,
            senders: HashMap::default(),
            waiting: HashMap::default(),
            in_flight: HashMap::default(),
            next_arrival: 0,
            waiting_gas: 0,
        }
    }

    /// Counts of waiting and in-flight transactions.
    pub fn counts(&self) -> PoolCounts {
        PoolCounts {
            waiting: self.waiting.len(),
            in_flight: self.in_flight.len(),
            senders: self.senders.len(),
        }
    }

    /// Looks a transaction up by hash.
    pub fn get(&self, hash: &B256) -> Option<Known> {
        if let Some(tx) = self.in_flight.get(hash) {
            return Some(Known::InFlight(tx.clone()));
        }
        let (sender, nonce) = self.waiting.get(hash)?;
        let tx = self.senders.get(sender)?.txs.get(nonce)?;
        Some(Known::Waiting(tx.clone()))
    }

    /// The nonce a new transaction of `sender` should use: after the committed, in-flight and
    /// contiguous waiting ones (`eth_getTransactionCount(.., "pending")`).
    pub fn pending_nonce(&self, sender: &Address, account: AccountView) -> u64 {
        let Some(s) = self.senders.get(sender) else {
            return account.nonce;
        };
        let mut next = s.floor(account);
        while s.txs.contains_key(&next) {
            next += 1;
        }
        next
    }

    /// Validates `tx` against its sender's account and pending transactions, and inserts it.
    /// Returns the transaction it replaced, if any.
    pub fn insert(
        &mut self,
        mut tx: PooledTx,
        account: AccountView,
    ) -> Result<Option<Arc<PooledTx>>, Rejection> {
        if self.waiting.contains_key(&tx.hash) || self.in_flight.contains_key(&tx.hash) {
            return Err(Rejection::new(RejectReason::AlreadyKnown, "already known"));
        }
        let limits = self.limits;
        let sender = self.senders.entry(tx.sender).or_default();
        let floor = sender.floor(account);
        let outcome = (|| {
            if tx.nonce < floor {
                return Err(Rejection::new(
                    RejectReason::NonceTooLow,
                    format!("nonce too low: next nonce {floor}, tx nonce {}", tx.nonce),
                ));
            }
            // The gap counts from the sender's pending nonce (after its contiguous waiting
            // transactions); walking them is needed only past the cheap bound.
            if tx.nonce - floor > limits.max_nonce_gap {
                let mut pending = floor;
                while sender.txs.contains_key(&pending) {
                    pending += 1;
                }
                if tx.nonce.saturating_sub(pending) > limits.max_nonce_gap {
                    return Err(Rejection::new(
                        RejectReason::NonceGap,
                        format!(
                            "nonce too high: next nonce {pending}, tx nonce {}, at most {} ahead are queued",
                            tx.nonce, limits.max_nonce_gap
                        ),
                    ));
                }
            }
            let replaced = sender.txs.get(&tx.nonce).cloned();
            if let Some(old) = &replaced
                && !(bumped(tx.max_fee, old.max_fee)
                    && bumped(tx.max_priority_fee, old.max_priority_fee))
            {
                return Err(Rejection::new(
                    RejectReason::ReplacementUnderpriced,
                    "replacement transaction underpriced",
                ));
            }
            if replaced.is_none() {
                if self.waiting.len() >= limits.max_transactions {
                    return Err(Rejection::new(RejectReason::PoolFull, "txpool is full"));
                }
                if sender.txs.len() >= limits.max_per_sender {
                    return Err(Rejection::new(
                        RejectReason::PoolFull,
                        format!(
                            "txpool is full: sender already has {} pending transactions",
                            sender.txs.len()
                        ),
                    ));
                }
            }
            let queued: U256 = sender.in_flight_cost
                + sender
                    .txs
                    .range(..tx.nonce)
                    .map(|(_, t)| t.cost)
                    .fold(U256::ZERO, |a, b| a.saturating_add(b));
            let need = queued.saturating_add(tx.cost);
            if account.balance < need {
                let overshot = need - account.balance;
                let message = if queued.is_zero() {
                    format!(
                        "insufficient funds for gas * price + value: balance {}, tx cost {}, overshot {overshot}",
                        account.balance, tx.cost
                    )
                } else {
                    format!(
                        "insufficient funds for gas * price + value: balance {}, queued cost {queued}, tx cost {}, overshot {overshot}",
                        account.balance, tx.cost
                    )
                };
                return Err(Rejection::new(RejectReason::InsufficientFunds, message));
            }
            Ok(replaced)
        })();
        let replaced = match outcome {
            Ok(replaced) => replaced,
            Err(e) => {
                if sender.txs.is_empty() && sender.in_flight_next.is_none() {
                    let address = tx.sender;
                    self.senders.remove(&address);
                }
                return Err(e);
            }
        };
        if let Some(old) = &replaced {
            self.waiting.remove(&old.hash);
            self.waiting_gas -= old.gas_limit;
        }
        self.waiting_gas += tx.gas_limit;
        tx.arrival = self.next_arrival;
        self.next_arrival += 1;
        self.waiting.insert(tx.hash, (tx.sender, tx.nonce));
        sender.txs.insert(tx.nonce, Arc::new(tx));
        Ok(replaced)
    }

    /// Picks the next block's transactions (see the module's ordering rule) and moves them in
    /// flight. `accounts` gives each sender's committed account.
    pub fn select(
        &mut self,
        base_fee: u128,
        gas_limit: u64,
        accounts: impl Fn(&Address) -> AccountView,
    ) -> Vec<Arc<PooledTx>> {
        #[derive(PartialEq, Eq)]
        struct Candidate {
            tip: u128,
            arrival: Reverse<u64>,
            sender: Address,
            nonce: u64,
        }
        impl Ord for Candidate {
            fn cmp(&self, other: &Self) -> Ordering {
                (self.tip, self.arrival).cmp(&(other.tip, other.arrival))
            }
        }
        impl PartialOrd for Candidate {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }
        let candidate = |tx: &PooledTx| {
            tx.effective_tip(base_fee).map(|tip| Candidate {
                tip,
                arrival: Reverse(tx.arrival),
                sender: tx.sender,
                nonce: tx.nonce,
            })
        };
        let mut heap = BinaryHeap::new();
        for (address, s) in &self.senders {
            let floor = s.floor(accounts(address));
            if let Some(c) = s.txs.get(&floor).and_then(|t| candidate(t)) {
                heap.push(c);
            }
        }
        let mut left = gas_limit;
        let mut picked = Vec::new();
        while let Some(best) = heap.pop() {
            let Some(s) = self.senders.get_mut(&best.sender) else {
                continue;
            };
            let Some(tx) = s.txs.get(&best.nonce) else {
                continue;
            };
            if tx.gas_limit > left {
                continue;
            }
            left -= tx.gas_limit;
            self.waiting_gas -= tx.gas_limit;
            let tx = s.txs.remove(&best.nonce).expect("present");
            s.in_flight_next = Some(best.nonce + 1);
            s.in_flight_cost = s.in_flight_cost.saturating_add(tx.cost);
            self.waiting.remove(&tx.hash);
            self.in_flight.insert(tx.hash, tx.clone());
            if let Some(c) = s.txs.get(&(best.nonce + 1)).and_then(|t| candidate(t)) {
                heap.push(c);
            }
            picked.push(tx);
        }
        picked
    }

    /// The block carrying the in-flight transactions committed (or was abandoned): forget them.
    /// Waiting transactions whose nonce the committed state has passed are dropped and returned.
    pub fn finish_block(
        &mut self,
        accounts: impl Fn(&Address) -> AccountView,
    ) -> Vec<Arc<PooledTx>> {
        let touched: Vec<Address> = self.in_flight.values().map(|t| t.sender).collect();
        self.in_flight.clear();
        let mut stale = Vec::new();
        for address in touched {
            let Some(s) = self.senders.get_mut(&address) else {
                continue;
            };
            s.in_flight_next = None;
            s.in_flight_cost = U256::ZERO;
            let nonce = accounts(&address).nonce;
            while let Some(entry) = s.txs.first_entry() {
                if *entry.key() >= nonce {
                    break;
                }
                let tx = entry.remove();
                self.waiting.remove(&tx.hash);
                self.waiting_gas -= tx.gas_limit;
                stale.push(tx);
            }
            if s.txs.is_empty() {
                self.senders.remove(&address);
            }
        }
        stale
    }

    /// Puts in-flight transactions back to waiting (their block was not committed), except
    /// those in `drop`, which are forgotten.
    pub fn return_in_flight(&mut self, drop: &[B256]) {
        let txs: Vec<Arc<PooledTx>> = self.in_flight.drain().map(|(_, t)| t).collect();
        for tx in txs {
            let s = self.senders.entry(tx.sender).or_default();
            s.in_flight_next = None;
            s.in_flight_cost = U256::ZERO;
            if drop.contains(&tx.hash) {
                continue;
            }
            self.waiting.insert(tx.hash, (tx.sender, tx.nonce));
            self.waiting_gas += tx.gas_limit;
            s.txs.insert(tx.nonce, tx);
        }
        self.senders
            .retain(|_, s| !s.txs.is_empty() || s.in_flight_next.is_some());
    }

    /// Sum of the gas limits of waiting transactions (queued ones included): when it reaches
    /// the block gas limit the sequencer cuts a block early.
    pub fn waiting_gas(&self) -> u64 {
        self.waiting_gas
    }
}

/// geth's replacement rule: at least 10% more.
fn bumped(new: u128, old: u128) -> bool {
    new.saturating_mul(100) >= old.saturating_mul(110)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::{Signed, TxLegacy};
    use alloy_primitives::Signature;

    const A: Address = Address::with_last_byte(0xa);
    const B: Address = Address::with_last_byte(0xb);

    fn limits() -> PoolLimits {
        PoolLimits {
            max_nonce_gap: 4,
            max_transactions: 100,
            max_per_sender: 10,
        }
    }

    fn tx(sender: Address, nonce: u64, tip: u128) -> PooledTx {
        let hash = alloy_primitives::keccak256(
            [sender.as_slice(), &nonce.to_be_bytes(), &tip.to_be_bytes()].concat(),
        );
        let legacy = TxLegacy::default();
        let envelope = TxEnvelope::Legacy(Signed::new_unchecked(
            legacy,
            Signature::test_signature(),
            hash,
        ));
        PooledTx {
            hash,
            sender,
            nonce,
            gas_limit: 21_000,
            max_fee: 100 + tip,
            max_priority_fee: tip,
            cost: U256::from(21_000u64 * (100 + tip as u64)),
            envelope,
            arrival: 0,
        }
    }

    fn rich(_: &Address) -> AccountView {
        AccountView {
            nonce: 0,
            balance: U256::from(10u64).pow(U256::from(30)),
        }
    }

    #[test]
    fn block_order_is_tip_then_arrival_with_nonce_order_per_sender() {
        let mut pool = TxPool::new(limits());
        pool.insert(tx(A, 1, 50), rich(&A)).unwrap(); // queued behind A/0
        pool.insert(tx(A, 0, 1), rich(&A)).unwrap();
        pool.insert(tx(B, 0, 10), rich(&B)).unwrap();
        pool.insert(tx(B, 1, 10), rich(&B)).unwrap();
        let picked = pool.select(100, 30_000_000, rich);
        let order: Vec<(Address, u64)> = picked.iter().map(|t| (t.sender, t.nonce)).collect();
        // B/0 (tip 10) beats A/0 (tip 1); B/1 ties with nothing better; A/1 (tip 50) becomes a
        // candidate only after A/0.
        assert_eq!(order, [(B, 0), (B, 1), (A, 0), (A, 1)]);
        assert_eq!(pool.counts().in_flight, 4);
    }

    #[test]
    fn below_base_fee_waits_and_gas_limit_caps_the_block() {
        let mut pool = TxPool::new(limits());
        pool.insert(tx(A, 0, 0), rich(&A)).unwrap(); // fee cap 100
        pool.insert(tx(B, 0, 5), rich(&B)).unwrap(); // fee cap 105
        let picked = pool.select(101, 30_000_000, rich);
        assert_eq!(picked.len(), 1);
        assert_eq!(picked[0].sender, B);
        pool.return_in_flight(&[]);
        let picked = pool.select(100, 21_000, rich);
        assert_eq!(picked.len(), 1, "only one transfer fits");
    }

    #[test]
    fn nonce_rules_and_funds() {
        let mut pool = TxPool::new(limits());
        let account = AccountView {
            nonce: 3,
            balance: U256::from(21_000u64 * 100 * 2),
        };
        let low = pool.insert(tx(A, 2, 0), account).unwrap_err();
        assert_eq!(low.message, "nonce too low: next nonce 3, tx nonce 2");
        let gap = pool.insert(tx(A, 8, 0), account).unwrap_err();
        assert_eq!(gap.reason, RejectReason::NonceGap);
        // The gap counts from the pending nonce: a long contiguous run is not a gap.
        let mut long = TxPool::new(limits());
        let b = AccountView {
            nonce: 3,
            ..rich(&B)
        };
        for nonce in 3..12 {
            long.insert(tx(B, nonce, 0), b)
                .unwrap_or_else(|e| panic!("{nonce}: {e}"));
        }
        assert_eq!(
            long.insert(tx(B, 17, 0), b).unwrap_err().reason,
            RejectReason::NonceGap
        );
        pool.insert(tx(A, 3, 0), account).unwrap();
        pool.insert(tx(A, 5, 0), account).unwrap(); // queued: gap 2
        let dup = pool.insert(tx(A, 3, 0), account).unwrap_err();
        assert_eq!(dup.message, "already known");
        let funds = pool.insert(tx(A, 6, 0), account).unwrap_err();
        assert_eq!(funds.reason, RejectReason::InsufficientFunds);
        assert!(
            funds
                .message
                .starts_with("insufficient funds for gas * price + value: balance")
        );
        assert_eq!(pool.pending_nonce(&A, account), 4);
    }

    #[test]
    fn replacement_needs_a_ten_percent_bump() {
        let mut pool = TxPool::new(limits());
        pool.insert(tx(A, 0, 10), rich(&A)).unwrap();
        let under = pool.insert(tx(A, 0, 11), rich(&A)).unwrap_err();
        assert_eq!(under.reason, RejectReason::ReplacementUnderpriced);
        let replaced = pool.insert(tx(A, 0, 30), rich(&A)).unwrap();
        assert!(replaced.is_some());
        assert_eq!(pool.counts().waiting, 1);
    }

    #[test]
    fn in_flight_counts_until_the_block_commits() {
        let mut pool = TxPool::new(limits());
        pool.insert(tx(A, 0, 1), rich(&A)).unwrap();
        let picked = pool.select(100, 30_000_000, rich);
        assert_eq!(picked.len(), 1);
        // Still known, and its nonce is taken.
        assert!(matches!(
            pool.get(&picked[0].hash),
            Some(Known::InFlight(_))
        ));
        let low = pool.insert(tx(A, 0, 30), rich(&A)).unwrap_err();
        assert_eq!(low.reason, RejectReason::NonceTooLow);
        pool.insert(tx(A, 1, 1), rich(&A)).unwrap();
        let committed = |_: &Address| AccountView {
            nonce: 1,
            ..rich(&A)
        };
        assert!(pool.finish_block(committed).is_empty());
        assert_eq!(
            pool.counts(),
            PoolCounts {
                waiting: 1,
                in_flight: 0,
                senders: 1
            }
        );
        assert_eq!(pool.pending_nonce(&A, committed(&A)), 2);
    }
}
