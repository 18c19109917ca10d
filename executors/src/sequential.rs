//! The sequential reference: a block's transactions one after another, in order.
//!
//! Every parallel path is judged against this. It uses the same capturing executor, so its
//! outcomes also carry the true read and write sets that the oracle router, the DAG bound and
//! the model's labels are built from.

use crate::{
    block::Block,
    error::{Error, Result},
    execute::{TxExecutor, TxOutcome},
    receipt::{build_receipts, receipts_root},
    state::{Overlay, State},
};
use alloy_consensus::ReceiptEnvelope;
use alloy_primitives::B256;
use std::{sync::Arc, time::Instant};

/// The result of executing a block.
#[derive(Debug, Clone)]
pub struct BlockResult {
    /// One outcome per transaction, in block order.
    pub outcomes: Vec<TxOutcome>,
    /// Receipts in block order.
    pub receipts: Vec<ReceiptEnvelope>,
    /// The receipts root; `None` before Byzantium (see [`crate::receipt`]).
    pub receipts_root: Option<B256>,
    /// Gas used by all transactions.
    pub gas_used: u64,
    /// The block's changes over its pre-state.
    pub post_state: Overlay,
}

impl BlockResult {
    /// Assembles a result whose receipts and root were built while committing.
    pub fn from_parts(
        outcomes: Vec<TxOutcome>,
        receipts: Vec<ReceiptEnvelope>,
        receipts_root: Option<B256>,
        mut post_state: Overlay,
    ) -> Self {
        post_state.settle_fees();
        let gas_used = outcomes.iter().map(|o| o.gas_used).sum();
        Self {
            outcomes,
            receipts,
            receipts_root,
            gas_used,
            post_state,
        }
    }

    /// Assembles the result from outcomes already committed into `post_state`.
    pub fn new(block: &Block, outcomes: Vec<TxOutcome>, post_state: Overlay) -> Self {
        let receipts = build_receipts(block, &outcomes);
        let root = receipts_root(block, &receipts);
        Self::from_parts(outcomes, receipts, root, post_state)
    }
}

/// A sequential execution, with the measured time of each transaction.
#[derive(Debug, Clone)]
pub struct SequentialRun {
    /// The block's result.
    pub result: BlockResult,
    /// Wall time of each transaction (execution and commit), in nanoseconds.
    pub tx_nanos: Vec<u64>,
}

/// Checks that a transaction still fits in the block's gas pool, as clients do before running it.
pub fn check_gas_pool(block: &Block, index: usize, cumulative: u64) -> Result<()> {
    let tx = &block.txs[index];
    let available = block.env.block.gas_limit.saturating_sub(cumulative);
    if tx.env.gas_limit > available {
        return Err(Error::InvalidTransaction {
            index,
            hash: tx.hash,
            reason: format!(
                "gas limit reached: tx gas limit {} exceeds the {available} gas left in the block",
                tx.env.gas_limit
            ),
        });
    }
    Ok(())
}

/// Executes `block` in order on top of `base`.
pub fn execute_sequential(block: &Block, base: Arc<State>) -> Result<SequentialRun> {
    let beneficiary = block.env.beneficiary();
    let spec = block.env.spec;
    let mut executor = TxExecutor::new(&block.env, Overlay::new(base));
    let mut outcomes = Vec::with_capacity(block.txs.len());
    let mut tx_nanos = Vec::with_capacity(block.txs.len());
    let mut cumulative = 0u64;
    for tx in &block.txs {
        check_gas_pool(block, tx.index, cumulative)?;
        let started = Instant::now();
        let outcome = executor
            .execute(&tx.env)
            .map_err(|(failure, _)| failure.at(tx.index, tx.hash))?;
        let state = executor.state_mut();
        state.apply(&outcome.writes);
        state.credit_fee(beneficiary, outcome.fee, spec);
        tx_nanos.push(started.elapsed().as_nanos() as u64);
        cumulative += outcome.gas_used;
        outcomes.push(outcome);
    }
    let post_state = executor.into_state();
    Ok(SequentialRun {
        result: BlockResult::new(block, outcomes, post_state),
        tx_nanos,
    })
}
