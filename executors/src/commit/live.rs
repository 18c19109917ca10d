//! [`LiveCommit`]: the commit the pools deliver their results to and drive while they execute.

use super::cursor::{CommitCursor, CommitReport, Next, Speculation};
use crate::{
    block::Block,
    cpu::OffCore,
    error::Result,
    execute::{ExecFailure, TxOutcome},
    pool::SpeculativeTx,
    receipt::ReceiptLeaves,
    sequential::BlockResult,
    state::{Overlay, State},
};
use std::sync::{
    Arc, Condvar, Mutex, MutexGuard,
    atomic::{AtomicBool, Ordering},
};

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
///
/// With a head start ([`LiveCommit::with_head_start`]) the committer first executes the
/// block from its first transaction, in order, while the router works and the pools would
/// idle; [`LiveCommit::end_head`] stops it between two transactions and hands the pools the
/// state it reached.
#[derive(Debug)]
pub struct LiveCommit {
    block: Arc<Block>,
    inbox: Mutex<Inbox>,
    /// Wakes helping pools: see [`Inbox::events`].
    to_helpers: Condvar,
    /// Wakes the committer: see [`Inbox::events`].
    to_committer: Condvar,
    driver: Mutex<Driver>,
    /// The receipts root: the cursor publishes its leaves, helping pools hash them while they
    /// wait, and the committer shares what is left at the end.
    root: Option<Arc<ReceiptLeaves>>,
    /// Set once speculation is abandoned or the commit failed: pools stop at their next
    /// delivery, and the dispatcher sends no more work.
    stopped: AtomicBool,
    /// Set when the block is run another way after all ([`LiveCommit::abort`]): the committer
    /// returns at once.
    aborted: AtomicBool,
    /// The router's core, which the committer stays off while it executes the head.
    head_avoids: Option<usize>,
}

/// Where the block's head ended.
#[derive(Debug, Clone, Default)]
pub struct Head {
    /// Transactions `0..len` are committed (or failed: the commit then reports the error).
    pub len: usize,
    /// The pre-state plus the head's writes, which the transactions after the head read in
    /// sequential execution; `None` for an empty head, a failed commit, or a head that took
    /// the whole block.
    pub state: Option<Arc<Overlay>>,
}

/// Transactions a busy pool commits per transaction it delivers: enough to keep pace with
/// every pool's results, and to catch up.
pub const DRIVE_PER_DELIVERED: usize = 2;

/// Results delivered and not yet committed.
#[derive(Debug)]
struct Inbox {
    /// Boxed: an outcome is about 500 bytes, and a block's worth of empty slots in place
    /// (600 KB for 1,200 transactions) cost a page fault per 4 KB before the head could start.
    results: Vec<Option<Box<Result<TxOutcome, ExecFailure>>>>,
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
    /// The committer may execute the next transaction as part of the block's head.
    head_open: bool,
    /// Transactions the head took so far: `0..head_taken`.
    head_taken: usize,
}

/// Who sleeps on an event: helping pools, the committer, or both.
#[derive(Debug, Clone, Copy)]
enum Sleepers {
    Helpers,
    Committer,
    All,
}

#[derive(Debug)]
struct Driver {
    cursor: Option<CommitCursor>,
    failed: Option<crate::Error>,
}

impl LiveCommit {
    /// The commit of `block` on `base`, before any result has arrived.
    pub fn new(block: Arc<Block>, base: Arc<State>) -> Arc<Self> {
        Self::create(block, base, false, None)
    }

    /// The commit of `block` on `base` with a head start: once [`Self::finish`] runs, the
    /// committer executes the block from its first transaction until [`Self::end_head`],
    /// off `router_core` (see [`crate::cpu`]) when given.
    pub fn with_head_start(
        block: Arc<Block>,
        base: Arc<State>,
        router_core: Option<usize>,
    ) -> Arc<Self> {
        Self::create(block, base, true, router_core)
    }

    fn create(
        block: Arc<Block>,
        base: Arc<State>,
        head_open: bool,
        head_avoids: Option<usize>,
    ) -> Arc<Self> {
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
                head_open,
                head_taken: 0,
            }),
            to_helpers: Condvar::new(),
            to_committer: Condvar::new(),
            driver: Mutex::new(Driver {
                cursor: Some(cursor),
                failed: None,
            }),
            root,
            stopped: AtomicBool::new(false),
            aborted: AtomicBool::new(false),
            head_avoids,
        })
    }

    /// Transactions the head start has taken so far (the last may still be executing).
    pub fn head_taken(&self) -> usize {
        self.lock_inbox().head_taken
    }

    /// Ends the head start: the committer takes no further transaction. Waits for the one it
    /// is executing, then returns how far the head got and the committed state there.
    pub fn end_head(&self) -> Head {
        let len = {
            let mut inbox = self.lock_inbox();
            inbox.head_open = false;
            inbox.head_taken
        };
        if len == 0 {
            return Head::default();
        }
        // The committer holds the driver from taking a transaction until the next one turns
        // out pending (or the block is done), so once it is free the head is committed whole.
        let driver = self.lock_driver();
        let state = match (&driver.failed, &driver.cursor) {
            (None, Some(cursor)) => {
                debug_assert_eq!(cursor.committed(), len, "the head is committed whole");
                cursor.state().cloned().map(Arc::new)
            }
            _ => None,
        };
        Head { len, state }
    }

    /// Gives the commit up before any pool took part (the block runs sequentially instead):
    /// the head stops and [`Self::finish`] returns an error at once.
    pub fn abort(&self) {
        self.aborted.store(true, Ordering::Relaxed);
        self.stopped.store(true, Ordering::Relaxed);
        let mut inbox = self.lock_inbox();
        inbox.head_open = false;
        self.signal(&mut inbox, Sleepers::All);
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
                    inbox.results[tx.index] = Some(Box::new(tx.outcome));
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
            self.signal(&mut inbox, Sleepers::Helpers);
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
        self.signal(&mut inbox, Sleepers::Committer);
    }

    /// No more results will be delivered: whoever commits executes whatever is missing.
    pub fn close(&self) {
        let mut inbox = self.lock_inbox();
        inbox.closed = true;
        self.signal(&mut inbox, Sleepers::All);
    }

    /// Returns `true` once speculation was abandoned or the commit failed.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// Runs the commit to the end and returns the block: commits whenever no pool is there to,
    /// and sleeps in between. Call once, from a thread that may block.
    pub fn finish(&self) -> Result<(BlockResult, CommitReport)> {
        let mut off_router = self.head_avoids.map(OffCore::avoid);
        self.commit_when_woken(&self.to_committer, false, || {
            // Once the head is over, the committer may run wherever the pools leave room.
            if off_router.is_some() && !self.lock_inbox().head_open {
                off_router = None;
            }
            self.aborted.load(Ordering::Relaxed)
        });
        drop(off_router);
        let mut driver = self.lock_driver();
        if let Some(failed) = driver.failed.take() {
            return Err(failed);
        }
        if self.aborted.load(Ordering::Relaxed) {
            return Err(crate::Error::InvalidBlock {
                number: self.block.number(),
                reason: "the commit was aborted".into(),
            });
        }
        let cursor = driver.cursor.take().expect("finish is called once");
        let (result, mut report) = cursor.finish(&self.block);
        let mut inbox = self.lock_inbox();
        // The cursor timed the head's transactions; the pools timed the rest.
        let head_nanos = std::mem::replace(
            &mut report.speculative_nanos,
            std::mem::take(&mut inbox.nanos),
        );
        report.speculative_nanos[..head_nanos.len()].copy_from_slice(&head_nanos);
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
            let mut driver = match self.try_lock_driver() {
                Some(driver) => driver,
                None => {
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
        match self.try_lock_driver() {
            Some(mut driver) => {
                self.advance(&mut driver, limit);
            }
            None => self.wake(&mut self.lock_inbox()),
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
            self.signal(&mut self.lock_inbox(), Sleepers::All);
        }
        over
    }

    /// Wakes whoever commits when the caller does not: helping pools if any, else the
    /// committer.
    fn wake(&self, inbox: &mut Inbox) {
        let sleepers = if inbox.helpers > 0 {
            Sleepers::Helpers
        } else {
            Sleepers::Committer
        };
        self.signal(inbox, sleepers);
    }

    /// Records an event in `inbox` and wakes `sleepers` to look at it.
    fn signal(&self, inbox: &mut Inbox, sleepers: Sleepers) {
        inbox.events += 1;
        if matches!(sleepers, Sleepers::Helpers | Sleepers::All) {
            self.to_helpers.notify_all();
        }
        if matches!(sleepers, Sleepers::Committer | Sleepers::All) {
            self.to_committer.notify_all();
        }
    }

    fn lock_inbox(&self) -> MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_driver(&self) -> MutexGuard<'_, Driver> {
        self.driver.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The driver, unless another thread holds it.
    fn try_lock_driver(&self) -> Option<MutexGuard<'_, Driver>> {
        match self.driver.try_lock() {
            Ok(driver) => Some(driver),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

/// The results delivered to a [`LiveCommit`] so far.
struct Delivered<'a>(&'a LiveCommit);

impl Speculation for Delivered<'_> {
    fn next(&mut self, i: usize) -> Next {
        let mut inbox = self.0.lock_inbox();
        if inbox.seen[i] {
            Next::Ready(inbox.results[i].take().map(|result| *result))
        } else if inbox.closed {
            Next::Ready(None)
        } else if inbox.head_open {
            inbox.head_taken = i + 1;
            Next::Head
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
