//! One transaction through revm, with read capture, write extraction and a deferred fee.
//!
//! [`TxExecutor`] keeps one EVM per block and state view. Each transaction runs in a fresh
//! journal, so every read reaches the database and is captured. The beneficiary's fee is not
//! credited inside the EVM: a handler that overrides `reward_beneficiary` records it instead, so fee credits never make
//! two transactions conflict. A transaction that truly reads the beneficiary still loads it
//! through the database, and that read is captured and validated like any other.

use crate::{
    access::{AccountSummary, AccountWrite, ReadSet, WriteSet},
    block::BlockEnvironment,
    capture::CaptureDb,
    error::{Error, StateError},
    observe,
    state::StateReader,
};
use alloy_primitives::{Address, B256, Bloom, Bytes, Log, U256, map::AddressMap};
use revm::{
    context::{
        CfgEnv, Context, ContextSetters, TxEnv,
        result::{EVMError, ExecutionResult, HaltReason, InvalidTransaction},
    },
    context_interface::{Block, Cfg, ContextTr, Transaction},
    handler::{EvmTr, FrameResult, Handler, MainBuilder, MainContext, MainnetContext, MainnetEvm},
    primitives::hardfork::SpecId,
    state::EvmState,
};
use serde::{Deserialize, Serialize};
use std::{cell::Cell, marker::PhantomData};

/// How a transaction ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxStatus {
    /// Executed to completion.
    Success,
    /// Reverted by REVERT.
    Revert,
    /// Halted by an exceptional condition (out of gas, bad opcode, …).
    Halt(String),
}

/// Everything one execution of a transaction produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxOutcome {
    /// How it ended.
    pub status: TxStatus,
    /// Gas charged, as the receipt counts it (after refunds and the EIP-7623 floor).
    pub gas_used: u64,
    /// Logs emitted (empty unless successful).
    pub logs: Vec<Log>,
    /// The logs' bloom filter, computed where the transaction ran.
    pub logs_bloom: Bloom,
    /// Return or revert data.
    pub output: Bytes,
    /// The contract created, for a successful creation.
    pub created_address: Option<Address>,
    /// Every value read from state, with the value seen.
    pub reads: ReadSet,
    /// The state diff, without the beneficiary's fee credit.
    pub writes: WriteSet,
    /// The fee owed to the block beneficiary, applied by whoever commits.
    pub fee: U256,
}

impl TxOutcome {
    /// Returns `true` for a successful execution (receipt status 1).
    pub fn is_success(&self) -> bool {
        self.status == TxStatus::Success
    }
}

/// Why a transaction could not be executed at all; it has no receipt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ExecFailure {
    /// Invalid against the state it ran on (nonce, balance, gas limit, …).
    #[error("{0}")]
    Invalid(String),
    /// The block environment is unusable.
    #[error("invalid block header: {0}")]
    Header(String),
    /// The state lacks something execution needs.
    #[error(transparent)]
    State(#[from] StateError),
    /// Any other EVM error.
    #[error("evm error: {0}")]
    Other(String),
}

impl ExecFailure {
    /// Attaches the transaction's position and hash.
    pub fn at(self, index: usize, hash: B256) -> Error {
        match self {
            Self::Invalid(reason) | Self::Other(reason) => Error::InvalidTransaction {
                index,
                hash,
                reason,
            },
            Self::Header(reason) => Error::InvalidTransaction {
                index,
                hash,
                reason,
            },
            Self::State(source) => Error::State {
                index,
                hash,
                source,
            },
        }
    }
}

impl From<EVMError<StateError, InvalidTransaction>> for ExecFailure {
    fn from(e: EVMError<StateError, InvalidTransaction>) -> Self {
        match e {
            EVMError::Transaction(e) => Self::Invalid(e.to_string()),
            EVMError::Header(e) => Self::Header(e.to_string()),
            EVMError::Database(e) => Self::State(e),
            other => Self::Other(other.to_string()),
        }
    }
}

/// The mainnet EVM over a capturing database.
type CaptureEvm<S> = MainnetEvm<MainnetContext<CaptureDb<S>>>;

/// The mainnet handler, except that the beneficiary's reward is recorded, not applied.
struct DeferredFeeHandler<S> {
    fee: Cell<U256>,
    _state: PhantomData<S>,
}

impl<S> Default for DeferredFeeHandler<S> {
    fn default() -> Self {
        Self {
            fee: Cell::new(U256::ZERO),
            _state: PhantomData,
        }
    }
}

impl<S: StateReader> Handler for DeferredFeeHandler<S> {
    type Evm = CaptureEvm<S>;
    type Error = EVMError<StateError, InvalidTransaction>;
    type HaltReason = HaltReason;

    /// Mirrors `revm::handler::post_execution::reward_beneficiary` without touching state.
    fn reward_beneficiary(
        &self,
        evm: &mut Self::Evm,
        exec_result: &mut FrameResult,
    ) -> Result<(), Self::Error> {
        let ctx = evm.ctx();
        if ctx.cfg().is_fee_charge_disabled() {
            return Ok(());
        }
        let basefee = ctx.block().basefee() as u128;
        let effective_gas_price = ctx.tx().effective_gas_price(basefee);
        let coinbase_gas_price = if ctx.cfg().spec().is_enabled_in(SpecId::LONDON) {
            effective_gas_price.saturating_sub(basefee)
        } else {
            effective_gas_price
        };
        let gas = exec_result.gas();
        let used = gas.used().saturating_sub(gas.reservoir());
        self.fee.set(U256::from(coinbase_gas_price * used as u128));
        Ok(())
    }
}

/// Loads lazily built precompile tables now, so no transaction pays for it: the KZG trusted
/// setup of the point-evaluation precompile takes seconds to build on first use, which would
/// land on whichever block first calls it and distort every timing of that block.
pub fn warm_up_precompiles() {
    static WARM: std::sync::Once = std::sync::Once::new();
    WARM.call_once(|| {
        // The point at infinity is a valid commitment and proof; the answer does not matter.
        let mut infinity = [0u8; 48];
        infinity[0] = 0xc0;
        let _ = revm::precompile::kzg_point_evaluation::verify_kzg_proof(
            &infinity, &[0; 32], &[0; 32], &infinity,
        );
    });
}

/// The EVM configuration for a block: spec with its mainnet gas parameters, and the chain id.
pub fn cfg_env(env: &BlockEnvironment) -> CfgEnv {
    let mut cfg = CfgEnv::default();
    cfg.set_spec_and_mainnet_gas_params(env.spec);
    cfg.chain_id = env.chain_id;
    cfg
}

/// Executes transactions of one block against a state view, capturing reads and writes.
#[derive(Debug)]
pub struct TxExecutor<S: StateReader> {
    evm: CaptureEvm<S>,
    spec: SpecId,
}

impl<S: StateReader> TxExecutor<S> {
    /// An executor for `env` over `state`.
    pub fn new(env: &BlockEnvironment, state: S) -> Self {
        let ctx = Context::mainnet()
            .with_db(CaptureDb::new(state))
            .with_block(env.block.clone())
            .with_cfg(cfg_env(env));
        let mut evm = ctx.build_mainnet();
        observe::install(&mut evm.instruction);
        Self {
            evm,
            spec: env.spec,
        }
    }

    /// The state view, for applying writes between transactions.
    pub fn state_mut(&mut self) -> &mut S {
        self.evm.ctx.journaled_state.database.state_mut()
    }

    /// The state view.
    pub fn state(&self) -> &S {
        self.evm.ctx.journaled_state.database.state()
    }

    /// Unwraps the state view.
    pub fn into_state(self) -> S {
        self.evm.ctx.journaled_state.database.into_state()
    }

    /// Executes `tx` against the current state view without changing it.
    ///
    /// On failure the reads made before the failure are returned too, so a speculative caller
    /// can still tell what the failure depended on.
    pub fn execute(&mut self, tx: &TxEnv) -> Result<TxOutcome, (ExecFailure, ReadSet)> {
        self.evm.ctx.set_tx(tx.clone());
        let mut handler = DeferredFeeHandler::<S>::default();
        observe::begin();
        let result = handler.run(&mut self.evm);
        let balance_uses = observe::take();
        let state = self.evm.ctx.journal_mut().finalize();
        let mut reads = self.evm.ctx.journaled_state.database.take_reads();
        reads.balance_uses = Some(Box::new(balance_uses));
        let result = match result {
            Ok(result) => result,
            Err(e) => return Err((e.into(), reads)),
        };
        let writes = writes_from_state(state, self.spec, &reads);
        let gas_used = result.tx_gas_used();
        let created_address = result.created_address();
        let (status, logs, output) = match result {
            ExecutionResult::Success { logs, output, .. } => {
                (TxStatus::Success, logs, output.into_data())
            }
            ExecutionResult::Revert { output, logs, .. } => (TxStatus::Revert, logs, output),
            ExecutionResult::Halt { reason, logs, .. } => {
                (TxStatus::Halt(format!("{reason:?}")), logs, Bytes::new())
            }
        };
        Ok(TxOutcome {
            status,
            gas_used,
            logs_bloom: alloy_primitives::logs_bloom(&logs),
            logs,
            output,
            created_address,
            reads,
            writes,
            fee: handler.fee.get(),
        })
    }
}

/// Turns revm's post-transaction state into a write set, with EIP-161 clearing applied.
///
/// Accounts that were merely touched (a zero-value call, a warm load) and whose info and
/// storage did not change are left out: they change nothing, and keeping them would make every
/// caller of a popular contract look like a writer of it.
pub fn writes_from_state(state: EvmState, spec: SpecId, reads: &ReadSet) -> WriteSet {
    let clears_empty = spec.is_enabled_in(SpecId::SPURIOUS_DRAGON);
    let mut originals: AddressMap<Option<AccountSummary>> = AddressMap::default();
    originals.extend(reads.accounts.iter().copied());
    let mut accounts = Vec::new();
    for (address, account) in state {
        if !account.is_touched() {
            continue;
        }
        if account.is_selfdestructed() || (clears_empty && account.is_empty()) {
            // Clearing an account that did not exist changes nothing.
            if originals.get(&address) != Some(&None) || account.is_selfdestructed() {
                accounts.push((address, AccountWrite::Deleted));
            }
            continue;
        }
        let storage_cleared = account.is_created();
        let storage: Vec<(U256, U256)> = account
            .storage
            .iter()
            .filter(|(_, slot)| storage_cleared || slot.is_changed())
            .map(|(key, slot)| (*key, slot.present_value()))
            .collect();
        let summary = AccountSummary::from(&account.info);
        let info_changed = storage_cleared || originals.get(&address) != Some(&Some(summary));
        if !info_changed && storage.is_empty() {
            continue;
        }
        accounts.push((
            address,
            AccountWrite::Updated {
                info: account.info,
                storage_cleared,
                info_changed,
                storage,
            },
        ));
    }
    WriteSet { accounts }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        execute_sequential,
        state::{Overlay, State},
        synthetic::{
            BASE_FEE, BlockBuilder, COINBASE_READER_CODE, COUNTER_CODE, GAS_PRICE, account,
        },
    };
    use alloy_primitives::address;
    use std::sync::Arc;

    const READER: Address = address!("00000000000000000000000000000000000c0de1");
    /// Returns slot 0.
    const SLOAD_CODE: &[u8] = &[
        0x60, 0x00, 0x54, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3,
    ];

    fn run_one(builder: BlockBuilder) -> (TxOutcome, Address) {
        let beneficiary = builder.beneficiary();
        let (block, state) = builder.build();
        let mut executor = TxExecutor::new(&block.env, Overlay::new(Arc::new(state)));
        let outcome = executor.execute(&block.txs[0].env).expect("executes");
        (outcome, beneficiary)
    }

    fn storage_read(outcome: &TxOutcome, address: Address, slot: u64) -> Option<U256> {
        outcome
            .reads
            .storage
            .iter()
            .find(|(a, s, _)| *a == address && *s == U256::from(slot))
            .map(|(_, _, v)| *v)
    }

    fn write_of(outcome: &TxOutcome, address: Address) -> Option<&AccountWrite> {
        outcome
            .writes
            .accounts
            .iter()
            .find(|(a, _)| *a == address)
            .map(|(_, w)| w)
    }

    #[test]
    fn sload_is_read_with_its_value() {
        let mut builder = BlockBuilder::new(1);
        builder.deploy(READER, SLOAD_CODE, &[(0, 5)]);
        builder.bump(account(0), READER, 0);
        let (outcome, _) = run_one(builder);
        assert!(outcome.is_success());
        assert_eq!(storage_read(&outcome, READER, 0), Some(U256::from(5)));
        assert_eq!(
            outcome.output,
            Bytes::from(U256::from(5).to_be_bytes::<32>().to_vec())
        );
        // Reading changes nothing of the contract.
        assert!(write_of(&outcome, READER).is_none());
    }

    #[test]
    fn sstore_is_a_write_and_a_read_of_the_original() {
        let mut builder = BlockBuilder::new(1);
        builder.deploy(READER, COUNTER_CODE, &[(3, 7)]);
        builder.bump(account(0), READER, 3);
        let (outcome, _) = run_one(builder);
        assert_eq!(storage_read(&outcome, READER, 3), Some(U256::from(7)));
        let Some(AccountWrite::Updated { storage, .. }) = write_of(&outcome, READER) else {
            panic!("counter not written: {:?}", outcome.writes);
        };
        assert_eq!(storage, &vec![(U256::from(3), U256::from(8))]);
    }

    #[test]
    fn value_transfer_reads_and_writes_both_balances() {
        let mut builder = BlockBuilder::new(2);
        builder.transfer(account(0), account(1), 1_000);
        let (outcome, _) = run_one(builder);
        let funds = U256::from(10u128.pow(21));
        let sender = outcome
            .reads
            .account(&account(0))
            .flatten()
            .expect("sender read");
        let recipient = outcome
            .reads
            .account(&account(1))
            .flatten()
            .expect("recipient read");
        assert_eq!((sender.balance, sender.nonce), (funds, 0));
        assert_eq!(recipient.balance, funds);

        let Some(AccountWrite::Updated { info, .. }) = write_of(&outcome, account(0)) else {
            panic!("sender not written");
        };
        let gas_cost = U256::from(21_000u128 * GAS_PRICE);
        assert_eq!(info.balance, funds - U256::from(1_000) - gas_cost);
        assert_eq!(info.nonce, 1);
        let Some(AccountWrite::Updated { info, .. }) = write_of(&outcome, account(1)) else {
            panic!("recipient not written");
        };
        assert_eq!(info.balance, funds + U256::from(1_000));
    }

    #[test]
    fn beneficiary_fee_is_a_delta_not_a_read_or_write() {
        let mut builder = BlockBuilder::new(2);
        builder.transfer(account(0), account(1), 1);
        let (outcome, beneficiary) = run_one(builder);
        assert_eq!(outcome.reads.account(&beneficiary), None);
        assert!(write_of(&outcome, beneficiary).is_none());
        let tip = GAS_PRICE - u128::from(BASE_FEE);
        assert_eq!(outcome.fee, U256::from(21_000 * tip));
    }

    #[test]
    fn reading_the_beneficiary_balance_is_captured() {
        let mut builder = BlockBuilder::new(1);
        builder.deploy(READER, COINBASE_READER_CODE, &[]);
        builder.bump(account(0), READER, 0);
        let (outcome, beneficiary) = run_one(builder);
        // The beneficiary does not exist yet; the read of its absence is what gets validated.
        assert_eq!(outcome.reads.account(&beneficiary), Some(None));
        assert!(outcome.fee > U256::ZERO);
    }

    #[test]
    fn sequential_fees_are_visible_to_later_readers() {
        let mut builder = BlockBuilder::new(2);
        builder.deploy(READER, COINBASE_READER_CODE, &[]);
        builder.transfer(account(0), account(1), 1);
        builder.bump(account(1), READER, 0);
        let beneficiary = builder.beneficiary();
        let (block, state) = builder.build();
        let run = execute_sequential(&block, Arc::new(State::clone(&state))).unwrap();
        let first_fee = run.result.outcomes[0].fee;
        let seen = run.result.outcomes[1]
            .reads
            .account(&beneficiary)
            .flatten()
            .expect("beneficiary exists after the first fee");
        assert_eq!(seen.balance, first_fee);
        let stored = run.result.post_state.storage(&READER, &U256::ZERO);
        assert_eq!(stored, first_fee);
    }

    #[test]
    fn invalid_nonce_is_reported_with_index_and_hash() {
        let mut builder = BlockBuilder::new(1);
        builder.transfer(account(0), account(0), 1);
        let (mut block, state) = builder.build();
        block.txs[0].env.nonce = 5;
        let err = execute_sequential(&block, Arc::new(state)).unwrap_err();
        let Error::InvalidTransaction {
            index,
            hash,
            reason,
        } = &err
        else {
            panic!("unexpected error {err}");
        };
        assert_eq!((*index, *hash), (0, block.txs[0].hash));
        assert!(reason.contains("nonce"), "{reason}");
    }
}
