//! Plain revm, with no capture and no deferred fee: the baseline that capture's overhead is
//! measured against, and a second opinion on the reference's post-state.

use crate::{
    access::ReadSet,
    block::Block,
    error::{Result, StateError},
    execute::{TxOutcome, TxStatus},
    execute::{cfg_env, writes_from_state},
    receipt::{build_receipts, receipts_root},
    sequential::check_gas_pool,
    state::{Overlay, ReaderDb, State},
};
use alloy_primitives::{Address, B256, U256, map::AddressMap};
use revm::{
    Database, DatabaseCommit, DatabaseRef, ExecuteCommitEvm,
    bytecode::Bytecode,
    context::{Context, result::ExecutionResult},
    handler::{MainBuilder, MainContext},
    primitives::hardfork::SpecId,
    state::{Account, AccountInfo},
};
use std::sync::Arc;

/// An [`Overlay`] as a committing revm database.
#[derive(Debug)]
struct PlainDb {
    overlay: ReaderDb<Overlay>,
    spec: SpecId,
}

impl Database for PlainDb {
    type Error = StateError;
    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, StateError> {
        self.overlay.basic_ref(address)
    }
    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, StateError> {
        self.overlay.code_by_hash_ref(code_hash)
    }
    fn storage(&mut self, address: Address, index: U256) -> Result<U256, StateError> {
        self.overlay.storage_ref(address, index)
    }
    fn block_hash(&mut self, number: u64) -> Result<B256, StateError> {
        self.overlay.block_hash_ref(number)
    }
}

impl DatabaseCommit for PlainDb {
    fn commit(&mut self, changes: AddressMap<Account>) {
        let writes = writes_from_state(changes, self.spec, &ReadSet::default());
        self.overlay.0.apply(&writes);
    }
}

/// The outcome of a plain run: gas, receipts root and post-state.
#[derive(Debug, Clone)]
pub struct PlainRun {
    /// Gas used by all transactions.
    pub gas_used: u64,
    /// The receipts root; `None` before Byzantium.
    pub receipts_root: Option<B256>,
    /// The block's changes over its pre-state.
    pub post_state: Overlay,
}

/// Executes `block` with stock revm (`transact_commit`, fee credited inside the EVM).
pub fn execute_plain(block: &Block, base: Arc<State>) -> Result<PlainRun> {
    let db = PlainDb {
        overlay: ReaderDb(Overlay::new(base)),
        spec: block.env.spec,
    };
    let mut evm = Context::mainnet()
        .with_db(db)
        .with_block(block.env.block.clone())
        .with_cfg(cfg_env(&block.env))
        .build_mainnet();
    let mut outcomes = Vec::with_capacity(block.txs.len());
    let mut cumulative = 0;
    for tx in &block.txs {
        check_gas_pool(block, tx.index, cumulative)?;
        let result = evm
            .transact_commit(tx.env.clone())
            .map_err(|e| crate::execute::ExecFailure::from(e).at(tx.index, tx.hash))?;
        cumulative += result.tx_gas_used();
        let status = match &result {
            ExecutionResult::Success { .. } => TxStatus::Success,
            ExecutionResult::Revert { .. } => TxStatus::Revert,
            ExecutionResult::Halt { reason, .. } => TxStatus::Halt(format!("{reason:?}")),
        };
        // Only what receipts need; reads and writes are not captured here.
        let gas_used = result.tx_gas_used();
        let logs = result.into_logs();
        outcomes.push(TxOutcome {
            status,
            gas_used,
            logs_bloom: alloy_primitives::logs_bloom(&logs),
            logs,
            output: Default::default(),
            created_address: None,
            reads: ReadSet::default(),
            writes: Default::default(),
            fee: U256::ZERO,
        });
    }
    let receipts = build_receipts(block, &outcomes);
    Ok(PlainRun {
        gas_used: cumulative,
        receipts_root: receipts_root(block, &receipts),
        post_state: evm.ctx.journaled_state.database.overlay.0,
    })
}
