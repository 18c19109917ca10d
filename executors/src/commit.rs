//! The ordered commit: validate each speculative result by the values it read, in block order;
//! apply it if valid, re-execute it on the committed state if not.
//!
//! A transaction's execution is a deterministic function of the block environment and the
//! values it reads. If every value it read equals the committed value at its turn, its
//! speculative outcome is the sequential one. Otherwise re-executing against the committed
//! state is always correct, only slower. Cascades need no special handling: a later
//! transaction that read a since-invalidated write fails the same value check.

use crate::{
    access::{AccountWrite, ReadSet},
    block::{Block, BlockTx},
    error::Result,
    execute::{ExecFailure, TxExecutor, TxOutcome},
    pool::SpeculativeTx,
    receipt::{ReceiptRootBuilder, receipt},
    sequential::{BlockResult, check_gas_pool},
    state::{Overlay, State, StateReader},
};
use alloy_primitives::{Address, U256};
use revm::primitives::KECCAK_EMPTY;
use std::{
    sync::{Arc, mpsc},
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

/// Validates a plain transfer whose only stale read is the beneficiary's balance (a miner
/// paying out from the fee recipient, or a payment to it) and shifts its beneficiary write by
/// the difference. Returns the adjusted outcome, or `None` when it must be re-executed.
fn rebase_on_beneficiary(
    tx: &BlockTx,
    mut outcome: TxOutcome,
    state: &impl StateReader,
    beneficiary: Address,
) -> Option<TxOutcome> {
    if !is_plain_transfer(tx, &outcome.reads) {
        return None;
    }
    let mut seen_balance = None;
    for (address, seen) in &outcome.reads.accounts {
        let now = state.summary(address);
        if now == *seen {
            continue;
        }
        let (Some(seen), Some(now)) = (seen, now) else {
            return None;
        };
        if *address != beneficiary || seen.nonce != now.nonce || seen.code_hash != now.code_hash {
            return None;
        }
        seen_balance = Some((seen.balance, now.balance));
    }
    let (seen, now) = seen_balance?;
    let storage_ok = outcome
        .reads
        .storage
        .iter()
        .all(|(address, slot, value)| state.storage(address, slot) == *value);
    if !storage_ok {
        return None;
    }
    if tx.sender == beneficiary {
        // The up-front check revm made against `seen` must also pass against `now`.
        let env = &tx.env;
        let max_cost = U256::from(env.gas_limit)
            .checked_mul(U256::from(env.gas_price))?
            .checked_add(env.value)?;
        if now < max_cost {
            return None;
        }
    }
    for (address, write) in &mut outcome.writes.accounts {
        if *address != beneficiary {
            continue;
        }
        let AccountWrite::Updated { info, .. } = write else {
            return None;
        };
        info.balance = if info.balance >= seen {
            now.checked_add(info.balance - seen)?
        } else {
            now.checked_sub(seen - info.balance)?
        };
    }
    outcome
        .reads
        .accounts
        .iter_mut()
        .for_each(|(address, read)| {
            if *address == beneficiary
                && let Some(read) = read
            {
                read.balance = now;
            }
        });
    Some(outcome)
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
    commit_with(block, base, &mut Computed(speculative.into_iter()))
}

/// Where the commit loop takes speculative results from.
trait Speculation {
    /// Transaction `i`'s speculative result, if any.
    fn next(&mut self, i: usize) -> Option<Result<TxOutcome, ExecFailure>>;

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
    fn next(&mut self, _: usize) -> Option<Result<TxOutcome, ExecFailure>> {
        self.0.next().flatten()
    }
}

/// Results streaming in from the pools, in any order.
struct Streamed {
    results: Option<mpsc::Receiver<SpeculativeTx>>,
    arrived: Vec<Option<Result<TxOutcome, ExecFailure>>>,
    seen: Vec<bool>,
    nanos: Vec<u64>,
    pools: Vec<Option<usize>>,
}

impl Speculation for Streamed {
    fn next(&mut self, i: usize) -> Option<Result<TxOutcome, ExecFailure>> {
        while !self.seen[i] {
            let Some(results) = &self.results else {
                break;
            };
            match results.recv() {
                Ok(tx) if tx.index < self.seen.len() => {
                    self.seen[tx.index] = true;
                    self.nanos[tx.index] = tx.nanos;
                    self.pools[tx.index] = Some(tx.pool);
                    self.arrived[tx.index] = Some(tx.outcome);
                }
                Ok(_) => {}
                Err(_) => self.results = None,
            }
        }
        self.arrived[i].take()
    }

    /// Closes the stream: a pool stops at its next send.
    fn abandon(&mut self) -> bool {
        self.results = None;
        true
    }
}

/// Commits a block while its speculative results still arrive, in any order, on `results`.
///
/// Transaction `i` is committed as soon as its result (or, once every sender is gone, its
/// absence) is known, so the commit trails the pools instead of following them.
pub fn ordered_commit_streaming(
    block: &Block,
    base: Arc<State>,
    results: mpsc::Receiver<SpeculativeTx>,
) -> Result<(BlockResult, CommitReport)> {
    let n = block.txs.len();
    let mut source = Streamed {
        results: Some(results),
        arrived: vec![None; n],
        seen: vec![false; n],
        nanos: vec![0; n],
        pools: vec![None; n],
    };
    let (result, mut report) = commit_with(block, base, &mut source)?;
    report.speculative_nanos = source.nanos;
    report.pools = source.pools;
    Ok((result, report))
}

/// The commit loop over the speculative results of `source`.
fn commit_with(
    block: &Block,
    base: Arc<State>,
    source: &mut impl Speculation,
) -> Result<(BlockResult, CommitReport)> {
    let beneficiary = block.env.beneficiary();
    let spec = block.env.spec;
    let mut executor = TxExecutor::new(&block.env, Overlay::new(base));
    let mut outcomes = Vec::with_capacity(block.txs.len());
    let mut report = CommitReport {
        reexecuted: Vec::with_capacity(block.txs.len()),
        ..CommitReport::default()
    };
    let mut cumulative = 0u64;
    let mut misses = 0usize;
    let mut receipts = Vec::with_capacity(block.txs.len());
    let mut root = block
        .receipts_root_checkable()
        .then(ReceiptRootBuilder::default);
    for tx in &block.txs {
        check_gas_pool(block, tx.index, cumulative)?;
        let candidate = match report.abandoned_at {
            None => source.next(tx.index),
            Some(_) => None,
        };
        let started = Instant::now();
        let valid = match candidate {
            Some(Ok(outcome)) if validate(&outcome.reads, executor.state()) => Some(outcome),
            Some(Ok(outcome)) => rebase_on_beneficiary(tx, outcome, executor.state(), beneficiary),
            _ => None,
        };
        let reexecuted = valid.is_none();
        let outcome = match valid {
            Some(outcome) => outcome,
            None => executor
                .execute(&tx.env)
                .map_err(|(failure, _)| failure.at(tx.index, tx.hash))?,
        };
        let state = executor.state_mut();
        state.apply(&outcome.writes);
        state.credit_fee(beneficiary, outcome.fee, spec);
        let nanos = started.elapsed().as_nanos() as u64;
        if reexecuted {
            report.reexecute_nanos += nanos;
            report.reexecuted_gas += outcome.gas_used;
        } else {
            report.validate_nanos += nanos;
        }
        report.reexecuted.push(reexecuted);
        misses += usize::from(reexecuted);
        let committed = report.reexecuted.len();
        if report.abandoned_at.is_none()
            && committed >= ABANDON_AFTER
            && misses as f64 >= ABANDON_MISS_SHARE * committed as f64
            && source.abandon()
        {
            report.abandoned_at = Some(committed);
        }
        cumulative += outcome.gas_used;
        // Receipts and their root grow with the commit, while the pools still run.
        let receipt = receipt(tx.env.tx_type, &outcome, cumulative);
        if let Some(root) = &mut root {
            root.push(&receipt);
        }
        receipts.push(receipt);
        outcomes.push(outcome);
    }
    let post_state = executor.into_state();
    let root = root.map(ReceiptRootBuilder::finish);
    Ok((
        BlockResult::from_parts(outcomes, receipts, root, post_state),
        report,
    ))
}
