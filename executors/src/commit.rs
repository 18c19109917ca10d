//! The ordered commit: validate each speculative result by the values it read, in block order;
//! apply it if valid, re-execute it on the committed state if not.
//!
//! A transaction's execution is a deterministic function of the block environment and the
//! values it reads. If every value it read equals the committed value at its turn, its
//! speculative outcome is the sequential one. Otherwise re-executing against the committed
//! state is always correct, only slower. Cascades need no special handling: a later
//! transaction that read a since-invalidated write fails the same value check.
//!
//! [`ordered_commit`] commits results computed beforehand; [`LiveCommit`] commits while pools
//! still deliver them, driven by the pools themselves.

use crate::{
    access::{AccountSummary, AccountWrite, BalanceUses, ReadSet},
    block::{Block, BlockTx},
    error::Result,
    execute::{ExecFailure, TxExecutor, TxOutcome},
    pool::SpeculativeTx,
    receipt::{ReceiptLeaves, receipt},
    sequential::{BlockResult, check_gas_pool},
    state::{Overlay, State, StateReader},
};
use alloy_consensus::ReceiptEnvelope;
use alloy_primitives::{Address, U256};
use revm::primitives::KECCAK_EMPTY;
use std::{
    sync::{
        Arc, Condvar, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

/// Returns `true` when every value in `reads` equals the value in `state`.
pub fn validate(reads: &ReadSet, state: &impl StateReader) -> bool {
    reads
        .accounts
        .iter()
        .all(|(address, seen)| state.summary(address) == *seen)
        && reads
            .storage
            .iter()
            .all(|(address, slot, seen)| state.storage(address, slot) == *seen)
        && reads
            .block_hashes
            .iter()
            .all(|(number, seen)| state.block_hash(*number) == Some(*seen))
}

/// Returns `true` for a plain value transfer: empty input to an account without code (as read),
/// no authorizations, no blobs. Its outcome depends on the balances it touches only through the
/// up-front funds check, so a balance it read may differ at commit by any amount that still
/// covers that check: its balance changes are deltas.
pub fn is_plain_transfer(tx: &BlockTx, reads: &ReadSet) -> bool {
    let Some(to) = tx.to() else {
        return false;
    };
    let env = &tx.env;
    let target_has_code = reads
        .accounts
        .iter()
        .find(|(address, _)| *address == to)
        .is_none_or(|(_, seen)| seen.is_some_and(|s| s.code_hash != KECCAK_EMPTY));
    env.data.is_empty()
        && !target_has_code
        && env.authorization_list.is_empty()
        && env.blob_hashes.is_empty()
}

/// Validates a result whose only stale reads are balances its outcome did not depend on, and
/// shifts its writes of those balances by the difference: they were deltas. Returns the
/// adjusted outcome, or `None` when it must be re-executed.
///
/// A balance may differ when the execution did not observe it ([`crate::observe`]: no
/// `BALANCE`, no failed payment, every payment still covered), it is not the sender's (the
/// up-front funds check sees it), and the account is not empty in either view (emptiness decides
/// gas and EIP-161 clearing). A plain transfer may also differ on the beneficiary's balance when
/// the beneficiary sends it and can still pay for it.
fn rebase_balances(
    tx: &BlockTx,
    mut outcome: TxOutcome,
    state: &impl StateReader,
    beneficiary: Address,
) -> Option<TxOutcome> {
    let plain = is_plain_transfer(tx, &outcome.reads);
    let mut shifts: Vec<(Address, U256, U256)> = Vec::new();
    for (address, seen) in &outcome.reads.accounts {
        let now = state.summary(address);
        if now == *seen {
            continue;
        }
        let (Some(seen), Some(now)) = (seen, now) else {
            return None;
        };
        if seen.nonce != now.nonce || seen.code_hash != now.code_hash {
            return None;
        }
        let delta = if plain && *address == beneficiary {
            tx.sender != beneficiary || now.balance >= upfront_cost(tx)?
        } else {
            let uses = outcome.reads.balance_uses.as_ref()?;
            is_delta(tx, uses, address, seen, &now)
        };
        if !delta {
            return None;
        }
        shifts.push((*address, seen.balance, now.balance));
    }
    if shifts.is_empty() {
        return None;
    }
    let reads = &outcome.reads;
    let exact = reads
        .storage
        .iter()
        .all(|(address, slot, value)| state.storage(address, slot) == *value)
        && reads
            .block_hashes
            .iter()
            .all(|(number, seen)| state.block_hash(*number) == Some(*seen));
    if !exact {
        return None;
    }
    for (address, write) in &mut outcome.writes.accounts {
        let Some((_, seen, now)) = shifts.iter().find(|(a, _, _)| a == address) else {
            continue;
        };
        let AccountWrite::Updated { info, .. } = write else {
            return None;
        };
        info.balance = if info.balance >= *seen {
            now.checked_add(info.balance - seen)?
        } else {
            now.checked_sub(seen - info.balance)?
        };
    }
    for (address, read) in &mut outcome.reads.accounts {
        if let (Some((_, _, now)), Some(read)) =
            (shifts.iter().find(|(a, _, _)| a == address), read)
        {
            read.balance = *now;
        }
    }
    Some(outcome)
}

/// Returns `true` when `address`'s balance entered the outcome only as a delta, so a start
/// at `now` instead of `seen` changes nothing else.
fn is_delta(
    tx: &BlockTx,
    uses: &BalanceUses,
    address: &Address,
    seen: &AccountSummary,
    now: &AccountSummary,
) -> bool {
    if !takes_balance_as_delta(tx, uses, address, seen) || is_empty(seen, now.balance) {
        return false;
    }
    // Every payment out succeeded with `headroom` to spare; starting lower by more would fail one.
    uses.headroom(address).is_none_or(|headroom| {
        now.balance
            .checked_add(headroom)
            .is_none_or(|covered| covered >= seen.balance)
    })
}

/// Returns `true` when, as far as its own run tells, `tx` took `address`'s balance (read as
/// `seen`) only as a delta: it did not observe it, it is not the sender's (the up-front funds
/// check sees that), and the account was not empty (emptiness decides gas and EIP-161
/// clearing). Shared with [`crate::router::true_dependencies`].
pub fn takes_balance_as_delta(
    tx: &BlockTx,
    uses: &BalanceUses,
    address: &Address,
    seen: &AccountSummary,
) -> bool {
    *address != tx.sender && !uses.observed(address) && !is_empty(seen, seen.balance)
}

/// Whether an account with `seen`'s nonce and code and this balance is empty (EIP-161).
fn is_empty(seen: &AccountSummary, balance: U256) -> bool {
    seen.nonce == 0 && seen.code_hash == KECCAK_EMPTY && balance.is_zero()
}

/// The most a transaction can cost its sender up front: gas limit at its price, plus value.
fn upfront_cost(tx: &BlockTx) -> Option<U256> {
    let env = &tx.env;
    U256::from(env.gas_limit)
        .checked_mul(U256::from(env.gas_price))?
        .checked_add(env.value)
}

/// What the commit did beyond applying results.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitReport {
    /// Per transaction: was it re-executed at commit?
    pub reexecuted: Vec<bool>,
    /// Gas of the re-executed transactions.
    pub reexecuted_gas: u64,
    /// Time spent validating and applying valid results, in nanoseconds.
    pub validate_nanos: u64,
    /// Time spent re-executing, in nanoseconds.
    pub reexecute_nanos: u64,
    /// Speculative time of each transaction in its pool, as the pools reported it (0 where
    /// none arrived).
    pub speculative_nanos: Vec<u64>,
    /// The pool whose result arrived for each transaction (`None` where none arrived).
    pub pools: Vec<Option<usize>>,
    /// Set when the commit gave up on speculation after this many transactions, stopped the
    /// pools and executed the rest itself (see [`ABANDON_AFTER`]).
    pub abandoned_at: Option<usize>,
}

/// Transactions committed before speculation may be abandoned.
pub const ABANDON_AFTER: usize = 32;

/// Speculation is abandoned once at least this share of the transactions committed so far
/// needed re-execution: the block is (nearly) serial, and pools still executing would only
/// take cores from the commit that re-executes every transaction anyway. Stopping them keeps a
/// fully dependent block near sequential speed. High on purpose: contended mainnet blocks
/// miss on half their early transactions and still gain from the rest.
pub const ABANDON_MISS_SHARE: f64 = 0.9;

impl CommitReport {
    /// Number of re-executed transactions.
    pub fn reexecuted_txs(&self) -> usize {
        self.reexecuted.iter().filter(|r| **r).count()
    }
}

/// Commits a block from speculative results (`None` where a transaction was not run).
///
/// The result is identical to [`crate::execute_sequential`] for any speculative input.
pub fn ordered_commit(
    block: &Block,
    base: Arc<State>,
    speculative: Vec<Option<Result<TxOutcome, ExecFailure>>>,
) -> Result<(BlockResult, CommitReport)> {
    let mut cursor = CommitCursor::new(block, base);
    let mut source = Computed(speculative.into_iter());
    let done = cursor.advance(block, &mut source, usize::MAX)?;
    debug_assert!(done, "computed results are never pending");
    Ok(cursor.finish(block))
}

/// What a source knows of a transaction's speculative result.
// Returned by value once per transaction and consumed at once: boxing the large variant would
// allocate per transaction for nothing.
#[allow(clippy::large_enum_variant)]
enum Next {
    /// The result is here; `None` when none will come (the commit executes the transaction).
    Ready(Option<Result<TxOutcome, ExecFailure>>),
    /// A pool may still deliver it.
    Pending,
}

/// Where the commit takes speculative results from.
trait Speculation {
    /// Transaction `i`'s speculative result, as far as known now.
    fn next(&mut self, i: usize) -> Next;

    /// Stops producing results; the commit executes every remaining transaction itself.
    /// Returns `false` when there is nothing to stop (the results are already computed, and
    /// validating them stays cheaper than executing).
    fn abandon(&mut self) -> bool {
        false
    }
}

/// Results computed before the commit started.
struct Computed(std::vec::IntoIter<Option<Result<TxOutcome, ExecFailure>>>);

impl Speculation for Computed {
    fn next(&mut self, _: usize) -> Next {
        Next::Ready(self.0.next().flatten())
    }
}

/// The ordered commit part-way through a block: every transaction before
/// `outcomes.len()` is committed, in order, on top of the block's pre-state.
///
/// The cursor moves between threads (pools drive it), and revm's EVM is not `Send`: the
/// committed state is lent to an EVM only within one [`CommitCursor::advance`], from the first
/// re-execution on.
#[derive(Debug)]
struct CommitCursor {
    /// The committed state; `None` only while lent to an EVM.
    state: Option<Overlay>,
    outcomes: Vec<TxOutcome>,
    receipts: Vec<ReceiptEnvelope>,
    /// Shared with whoever helps hash it ([`LiveCommit`]).
    root: Option<Arc<ReceiptLeaves>>,
    cumulative: u64,
    misses: usize,
    report: CommitReport,
}

impl CommitCursor {
    fn new(block: &Block, base: Arc<State>) -> Self {
        let n = block.txs.len();
        Self {
            state: Some(Overlay::new(base)),
            outcomes: Vec::with_capacity(n),
            receipts: Vec::with_capacity(n),
            root: block
                .receipts_root_checkable()
                .then(|| Arc::new(ReceiptLeaves::new(n))),
            cumulative: 0,
            misses: 0,
            report: CommitReport {
                reexecuted: Vec::with_capacity(n),
                ..CommitReport::default()
            },
        }
    }

    /// Commits up to `limit` transactions in block order while `source` has their results.
    /// Returns `true` once the whole block is committed, `false` when the next result is still
    /// pending or the limit was reached.
    fn advance(
        &mut self,
        block: &Block,
        source: &mut impl Speculation,
        limit: usize,
    ) -> Result<bool> {
        let mut evm = None;
        let advanced = self.advance_with(block, source, limit, &mut evm);
        if let Some(evm) = evm {
            self.state = Some(evm.into_state());
        }
        advanced
    }

    fn advance_with(
        &mut self,
        block: &Block,
        source: &mut impl Speculation,
        limit: usize,
        evm: &mut Option<TxExecutor<Overlay>>,
    ) -> Result<bool> {
        let beneficiary = block.env.beneficiary();
        let spec = block.env.spec;
        let stop = self.outcomes.len().saturating_add(limit);
        while let Some(tx) = block.txs.get(self.outcomes.len()) {
            if self.outcomes.len() >= stop {
                return Ok(false);
            }
            let candidate = match self.report.abandoned_at {
                None => match source.next(tx.index) {
                    Next::Ready(candidate) => candidate,
                    Next::Pending => return Ok(false),
                },
                Some(_) => None,
            };
            check_gas_pool(block, tx.index, self.cumulative)?;
            let started = Instant::now();
            let committed = match evm {
                Some(evm) => evm.state(),
                None => self.state.as_ref().expect("state is home between advances"),
            };
            let valid = match candidate {
                Some(Ok(outcome)) if validate(&outcome.reads, committed) => Some(outcome),
                Some(Ok(outcome)) => rebase_balances(tx, outcome, committed, beneficiary),
                _ => None,
            };
            let reexecuted = valid.is_none();
            let outcome = match valid {
                Some(outcome) => outcome,
                None => {
                    let evm = evm.get_or_insert_with(|| {
                        let state = self.state.take().expect("state is home between advances");
                        TxExecutor::new(&block.env, state)
                    });
                    evm.execute(&tx.env)
                        .map_err(|(failure, _)| failure.at(tx.index, tx.hash))?
                }
            };
            let state = match evm {
                Some(evm) => evm.state_mut(),
                None => self.state.as_mut().expect("state is home between advances"),
            };
            state.apply(&outcome.writes);
            state.credit_fee(beneficiary, outcome.fee, spec);
            let nanos = started.elapsed().as_nanos() as u64;
            let report = &mut self.report;
            if reexecuted {
                report.reexecute_nanos += nanos;
                report.reexecuted_gas += outcome.gas_used;
            } else {
                report.validate_nanos += nanos;
            }
            report.reexecuted.push(reexecuted);
            self.misses += usize::from(reexecuted);
            let committed = report.reexecuted.len();
            if report.abandoned_at.is_none()
                && committed >= ABANDON_AFTER
                && self.misses as f64 >= ABANDON_MISS_SHARE * committed as f64
                && source.abandon()
            {
                report.abandoned_at = Some(committed);
            }
            self.cumulative += outcome.gas_used;
            // Receipts grow with the commit; idle threads hash their leaves.
            let receipt = receipt(tx.env.tx_type, &outcome, self.cumulative);
            if let Some(root) = &self.root {
                root.publish(&receipt);
            }
            self.receipts.push(receipt);
            self.outcomes.push(outcome);
        }
        Ok(true)
    }

    /// The committed block; call once [`Self::advance`] returned `true`.
    fn finish(self, block: &Block) -> (BlockResult, CommitReport) {
        debug_assert_eq!(self.outcomes.len(), block.txs.len());
        let post_state = self.state.expect("state is home between advances");
        let root = self.root.map(|root| root.root());
        (
            BlockResult::from_parts(self.outcomes, self.receipts, root, post_state),
            self.report,
        )
    }
}

/// A block's commit while pools still execute it.
///
/// Pools deliver their results here, in any order, and in-process pools do the committing
/// themselves, so that with as many cores as pools no third thread competes for a core and no
/// wake-up stands between a result and its commit:
/// - A pool in the middle of a batch drives the commit after each chunk it delivers, a bounded
///   number of transactions each time ([`DRIVE_PER_DELIVERED`]), so the commit keeps pace
///   without the pool that delivers a long-awaited result committing everyone's backlog while
///   its own batch waits.
/// - A pool with no more work helps ([`LiveCommit::help`]): it commits without bound, on its
///   own core, until the block is committed or new work arrives; while one helps, busy pools
///   only deliver.
/// - The committer ([`LiveCommit::finish`]) sleeps until no pool is there to commit: results
///   delivered without driving (remote pools), the end of dispatch (every missing result is
///   then executed at commit), the end of the commit.
#[derive(Debug)]
pub struct LiveCommit {
    block: Arc<Block>,
    inbox: Mutex<Inbox>,
    /// Wakes helping pools: see [`Inbox::events`].
    to_helpers: Condvar,
    /// Wakes the committer: see [`Inbox::events`].
    to_committer: Condvar,
    driver: Mutex<Driver>,
    /// The receipts root, hashed by pools and the committer while they wait (the cursor
    /// publishes its leaves).
    root: Option<Arc<ReceiptLeaves>>,
    /// Set once speculation is abandoned or the commit failed: pools stop at their next
    /// delivery, and the dispatcher sends no more work.
    stopped: AtomicBool,
}

/// Transactions a busy pool commits per transaction it delivers: enough to keep pace with
/// every pool's results, and to catch up.
pub const DRIVE_PER_DELIVERED: usize = 2;

/// Results delivered and not yet committed.
#[derive(Debug)]
struct Inbox {
    results: Vec<Option<Result<TxOutcome, ExecFailure>>>,
    seen: Vec<bool>,
    nanos: Vec<u64>,
    pools: Vec<Option<usize>>,
    /// No more results will come.
    closed: bool,
    /// Pools helping now.
    helpers: usize,
    /// Counts what sleepers must look at (results, new work, the close, the end); they sleep
    /// while it stays unchanged.
    events: u64,
}

#[derive(Debug)]
struct Driver {
    cursor: Option<CommitCursor>,
    failed: Option<crate::Error>,
}

impl LiveCommit {
    /// The commit of `block` on `base`, before any result has arrived.
    pub fn new(block: Arc<Block>, base: Arc<State>) -> Arc<Self> {
        let n = block.txs.len();
        let cursor = CommitCursor::new(&block, base);
        let root = cursor.root.clone();
        Arc::new(Self {
            block,
            inbox: Mutex::new(Inbox {
                results: vec![None; n],
                seen: vec![false; n],
                nanos: vec![0; n],
                pools: vec![None; n],
                closed: false,
                helpers: 0,
                events: 0,
            }),
            to_helpers: Condvar::new(),
            to_committer: Condvar::new(),
            driver: Mutex::new(Driver {
                cursor: Some(cursor),
                failed: None,
            }),
            root,
            stopped: AtomicBool::new(false),
        })
    }

    /// Hands over speculative results. With `drive` and no pool helping, the caller then
    /// commits up to [`DRIVE_PER_DELIVERED`] transactions per result, as far as the results
    /// allow, unless someone else is committing; otherwise whoever commits is woken. Returns
    /// `false` once the commit wants no more results: stop producing them.
    pub fn deliver(&self, results: impl IntoIterator<Item = SpeculativeTx>, drive: bool) -> bool {
        let mut delivered = 0;
        let drive = {
            let mut inbox = self.lock_inbox();
            for tx in results {
                delivered += 1;
                // The first result of a transaction wins: a batch re-sent after a pool failed
                // may repeat some.
                if tx.index < inbox.seen.len() && !inbox.seen[tx.index] {
                    inbox.seen[tx.index] = true;
                    inbox.nanos[tx.index] = tx.nanos;
                    inbox.pools[tx.index] = Some(tx.pool);
                    inbox.results[tx.index] = Some(tx.outcome);
                }
            }
            let drive = drive && inbox.helpers == 0;
            if !drive {
                self.wake(&mut inbox);
            }
            drive
        };
        if drive {
            self.drive(delivered.max(1) * DRIVE_PER_DELIVERED);
        }
        !self.is_stopped()
    }

    /// New work was sent to a pool: a helping pool checks whether it is the one.
    pub fn work_sent(&self) {
        let mut inbox = self.lock_inbox();
        if inbox.helpers > 0 {
            inbox.events += 1;
            self.to_helpers.notify_all();
        }
    }

    /// Commits on the calling pool's thread until the block is committed or `has_work` says
    /// the pool has work again, and hashes receipts whenever someone else commits or results
    /// are awaited. For a pool that finished its batch: its core would idle.
    pub fn help(&self, mut has_work: impl FnMut() -> bool) {
        self.lock_inbox().helpers += 1;
        self.commit_when_woken(&self.to_helpers, true, &mut has_work);
        // The committer assembles the root: share the leaves left with it.
        while !has_work() && self.hash_receipts() {}
        let mut inbox = self.lock_inbox();
        inbox.helpers -= 1;
        // Whatever is left (or the finished block) is the committer's now.
        inbox.events += 1;
        self.to_committer.notify_all();
    }

    /// No more results will be delivered: whoever commits executes whatever is missing.
    pub fn close(&self) {
        let mut inbox = self.lock_inbox();
        inbox.closed = true;
        inbox.events += 1;
        self.to_helpers.notify_all();
        self.to_committer.notify_all();
    }

    /// Returns `true` once speculation was abandoned or the commit failed.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// Runs the commit to the end and returns the block: commits whenever no pool is there to,
    /// and sleeps in between. Call once, from a thread that may block.
    pub fn finish(&self) -> Result<(BlockResult, CommitReport)> {
        self.commit_when_woken(&self.to_committer, false, || false);
        let mut driver = self.lock_driver();
        if let Some(failed) = driver.failed.take() {
            return Err(failed);
        }
        let cursor = driver.cursor.take().expect("finish is called once");
        let (result, mut report) = cursor.finish(&self.block);
        let mut inbox = self.lock_inbox();
        report.speculative_nanos = std::mem::take(&mut inbox.nanos);
        report.pools = std::mem::take(&mut inbox.pools);
        Ok((result, report))
    }

    /// Commits as far as the results allow, then sleeps until woken through `wakes`, until the
    /// commit is over or `stop` says to return. With `hash`, receipts are hashed instead of
    /// waiting for a busy driver, and before sleeping: only pools do that, since the committer
    /// wakes while pools may still be executing and would take a core from them.
    fn commit_when_woken(&self, wakes: &Condvar, hash: bool, mut stop: impl FnMut() -> bool) {
        loop {
            let seen = self.lock_inbox().events;
            let mut driver = match self.driver.try_lock() {
                Ok(driver) => driver,
                Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {
                    if hash && self.hash_receipts() && !stop() {
                        continue;
                    }
                    self.lock_driver()
                }
            };
            if self.advance(&mut driver, usize::MAX) || stop() {
                return;
            }
            drop(driver);
            if hash && self.hash_receipts() {
                continue;
            }
            let inbox = self.lock_inbox();
            drop(
                wakes
                    .wait_while(inbox, |inbox| inbox.events == seen)
                    .unwrap_or_else(|e| e.into_inner()),
            );
        }
    }

    /// Hashes one chunk of committed receipts into the root's leaves; `false` when none is
    /// ready.
    fn hash_receipts(&self) -> bool {
        self.root.as_ref().is_some_and(|root| root.hash_some())
    }

    /// Commits up to `limit` transactions as far as the delivered results allow, unless
    /// someone else is committing; then that one is woken, since it may have passed this
    /// result's turn already.
    fn drive(&self, limit: usize) {
        match self.driver.try_lock() {
            Ok(mut driver) => {
                self.advance(&mut driver, limit);
            }
            Err(std::sync::TryLockError::Poisoned(e)) => {
                self.advance(&mut e.into_inner(), limit);
            }
            Err(std::sync::TryLockError::WouldBlock) => self.wake(&mut self.lock_inbox()),
        }
    }

    /// Advances the cursor by up to `limit` transactions; returns `true` when the commit is
    /// over (done or failed), and then wakes the committer to hand the block out.
    fn advance(&self, driver: &mut Driver, limit: usize) -> bool {
        let over = match (&driver.failed, driver.cursor.as_mut()) {
            (None, Some(cursor)) => {
                match cursor.advance(&self.block, &mut Delivered(self), limit) {
                    Ok(done) => done,
                    Err(error) => {
                        driver.failed = Some(error);
                        self.stopped.store(true, Ordering::Relaxed);
                        true
                    }
                }
            }
            _ => return true,
        };
        if over {
            let mut inbox = self.lock_inbox();
            inbox.events += 1;
            self.to_committer.notify_all();
            self.to_helpers.notify_all();
        }
        over
    }

    /// Wakes whoever commits when the caller does not: helping pools if any, else the
    /// committer.
    fn wake(&self, inbox: &mut Inbox) {
        inbox.events += 1;
        if inbox.helpers > 0 {
            self.to_helpers.notify_all();
        } else {
            self.to_committer.notify_all();
        }
    }

    fn lock_inbox(&self) -> MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_driver(&self) -> MutexGuard<'_, Driver> {
        self.driver.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The results delivered to a [`LiveCommit`] so far.
struct Delivered<'a>(&'a LiveCommit);

impl Speculation for Delivered<'_> {
    fn next(&mut self, i: usize) -> Next {
        let mut inbox = self.0.lock_inbox();
        if inbox.seen[i] {
            Next::Ready(inbox.results[i].take())
        } else if inbox.closed {
            Next::Ready(None)
        } else {
            Next::Pending
        }
    }

    /// Pools stop at their next delivery; queued work is not sent.
    fn abandon(&mut self) -> bool {
        self.0.stopped.store(true, Ordering::Relaxed);
        true
    }
}
