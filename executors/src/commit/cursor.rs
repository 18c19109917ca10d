//! The commit's walk in block order: validate each result, apply it or re-execute, build the
//! receipts; resumable, so pools can drive it a few transactions at a time.

use super::validate::{rebase_balances, validate};
use crate::{
    block::Block,
    error::Result,
    execute::{ExecFailure, TxExecutor, TxOutcome},
    receipt::{ReceiptLeaves, receipt},
    sequential::{BlockResult, check_gas_pool},
    state::{Overlay, State},
};
use alloy_consensus::ReceiptEnvelope;
use std::{sync::Arc, time::Instant};

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
    /// The block's first transactions the commit executed itself while the router worked (its
    /// head start): they were never speculated, so none of them is a re-execution.
    pub head: usize,
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
pub(super) enum Next {
    /// The result is here; `None` when none will come (the commit executes the transaction).
    Ready(Option<Result<TxOutcome, ExecFailure>>),
    /// A pool may still deliver it.
    Pending,
    /// No pool will: the commit executes it as part of the block's head (the transactions
    /// it runs while the router works), which is execution, not a re-execution.
    Head,
}

/// Where the commit takes speculative results from.
pub(super) trait Speculation {
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
pub(super) struct CommitCursor {
    /// The committed state; `None` only while lent to an EVM.
    state: Option<Overlay>,
    outcomes: Vec<TxOutcome>,
    receipts: Vec<ReceiptEnvelope>,
    /// Shared with whoever helps hash it ([`super::LiveCommit`]).
    pub(super) root: Option<Arc<ReceiptLeaves>>,
    cumulative: u64,
    misses: usize,
    report: CommitReport,
}

impl CommitCursor {
    pub(super) fn new(block: &Block, base: Arc<State>) -> Self {
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
    pub(super) fn advance(
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
            let (candidate, head) = match self.report.abandoned_at {
                None => match source.next(tx.index) {
                    Next::Ready(candidate) => (candidate, false),
                    Next::Pending => return Ok(false),
                    Next::Head => (None, true),
                },
                Some(_) => (None, false),
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
            let reexecuted = valid.is_none() && !head;
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
            if head {
                report.head += 1;
                report.speculative_nanos.push(nanos);
            } else if reexecuted {
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

    /// Transactions committed so far.
    pub(super) fn committed(&self) -> usize {
        self.outcomes.len()
    }

    /// The committed state; `None` only while lent to an EVM inside [`Self::advance`].
    pub(super) fn state(&self) -> Option<&Overlay> {
        self.state.as_ref()
    }

    /// The committed block; call once [`Self::advance`] returned `true`.
    pub(super) fn finish(self, block: &Block) -> (BlockResult, CommitReport) {
        debug_assert_eq!(self.outcomes.len(), block.txs.len());
        let post_state = self.state.expect("state is home between advances");
        let root = self.root.map(|root| root.root());
        (
            BlockResult::from_parts(self.outcomes, self.receipts, root, post_state),
            self.report,
        )
    }
}
