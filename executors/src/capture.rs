//! Read capture at the `Database` boundary.
//!
//! revm reaches state only through [`Database`], including the implicit loads (sender,
//! recipient, precompiles, a slot's original value before SSTORE). Recording here, rather than
//! tracing opcodes, means no read can escape the read set.

use crate::{access::ReadSet, error::StateError, state::StateReader};
use alloy_primitives::{Address, B256, U256};
use revm::{Database, bytecode::Bytecode, state::AccountInfo};

/// A [`Database`] over a [`StateReader`] that records every value it hands out.
#[derive(Debug)]
pub struct CaptureDb<S> {
    state: S,
    reads: ReadSet,
}

impl<S: StateReader> CaptureDb<S> {
    /// Wraps `state` with an empty read set.
    pub fn new(state: S) -> Self {
        Self {
            state,
            reads: ReadSet::default(),
        }
    }

    /// Returns the reads recorded since the last call and starts a new set.
    pub fn take_reads(&mut self) -> ReadSet {
        std::mem::take(&mut self.reads)
    }

    /// The wrapped state.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// The wrapped state, for applying committed writes between transactions.
    pub fn state_mut(&mut self) -> &mut S {
        &mut self.state
    }

    /// Unwraps the state.
    pub fn into_state(self) -> S {
        self.state
    }
}

impl<S: StateReader> Database for CaptureDb<S> {
    type Error = StateError;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, StateError> {
        let info = self.state.account(&address);
        self.reads
            .accounts
            .push((address, info.as_ref().map(Into::into)));
        Ok(info)
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, StateError> {
        // Code is immutable under its hash, and the hash itself is captured with the account.
        self.state
            .code(&code_hash)
            .ok_or(StateError::MissingCode(code_hash))
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, StateError> {
        let value = self.state.storage(&address, &index);
        self.reads.storage.push((address, index, value));
        Ok(value)
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, StateError> {
        let hash = self
            .state
            .block_hash(number)
            .ok_or(StateError::MissingBlockHash(number))?;
        self.reads.block_hashes.push((number, hash));
        Ok(hash)
    }
}
