//! Traffic logs: one JSON Lines record per executed block, the training data of the model.
//!
//! The format is documented in `docs/traffic-log.md`. Every record carries
//! [`FORMAT_VERSION`]; readers reject other versions rather than guess.
//!
//! - [`writer`]: [`TrafficLogWriter`], size-rotated files that never drop a record.
//! - [`reader`]: [`TrafficLogReader`], every record of a log folder in order.

pub mod reader;
pub mod writer;

pub use reader::TrafficLogReader;
pub use writer::{TrafficLogOptions, TrafficLogWriter};

use crate::{
    error::{Error, Result},
    facts::{CalldataAddress, TxFacts},
    keys::KeyHash,
};
use alloy_primitives::{Address, B256, Selector};
use serde::{Deserialize, Serialize};
use switchyard_executors::{AccessKey, Block, StateReader, TxOutcome};

/// The traffic-record format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// How one transaction was executed: by which pool, whether the commit re-executed it, and
/// how long it took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxExec {
    /// The pool that ran it (0 for sequential execution).
    pub pool: usize,
    /// Whether the ordered commit had to re-execute it.
    pub reexecuted: bool,
    /// Execution time in nanoseconds.
    pub nanos: u64,
}

impl TxExec {
    /// The entries of a sequential run: every transaction in pool 0, none re-executed.
    pub fn sequential(tx_nanos: &[u64]) -> Vec<Self> {
        tx_nanos
            .iter()
            .map(|nanos| Self {
                pool: 0,
                reexecuted: false,
                nanos: *nanos,
            })
            .collect()
    }
}

/// One executed block: a line of a traffic log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRecord {
    /// Record format version ([`FORMAT_VERSION`]).
    pub version: u32,
    /// Block number.
    pub number: u64,
    /// Block hash, when the block came from a chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<B256>,
    /// The fee recipient.
    pub beneficiary: Address,
    /// Transactions in block order.
    pub txs: Vec<TxRecord>,
}

/// One transaction of a [`BlockRecord`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxRecord {
    /// Transaction hash.
    pub hash: B256,
    /// Sender.
    pub sender: Address,
    /// Call target; `null` for a contract creation.
    pub to: Option<Address>,
    /// First 4 bytes of calldata; `null` for creations and calls with fewer than 4 bytes.
    pub selector: Option<Selector>,
    /// Addresses found in calldata ([`crate::facts::calldata_addresses`]).
    pub calldata_addresses: Vec<CalldataAddress>,
    /// Gas limit.
    pub gas_limit: u64,
    /// Calldata (or init code) length in bytes; `None` in records written before the field
    /// was added, which train no execution-time predictor ([`crate::costs`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calldata_bytes: Option<u32>,
    /// Gas used.
    pub gas_used: u64,
    /// Whether it transferred a non-zero value.
    pub moved_value: bool,
    /// Whether the target had code before the block.
    pub to_has_code: bool,
    /// Whether it succeeded.
    pub success: bool,
    /// Hashed candidate keys: sender, target and calldata addresses ([`KeyHash::account`]).
    pub candidate_keys: Vec<KeyHash>,
    /// Hashed keys it truly read, plus [`KeyHash::storage_of`] for each account whose storage
    /// it read. Sorted, distinct.
    pub reads: Vec<KeyHash>,
    /// Hashed keys it truly wrote (fee credits excluded), plus [`KeyHash::storage_of`] for each
    /// account whose storage it wiped. Sorted, distinct.
    pub writes: Vec<KeyHash>,
    /// Whether it read the beneficiary's account, and so observed every earlier fee.
    pub reads_beneficiary: bool,
    /// The pool it ran in.
    pub pool: u32,
    /// Whether the ordered commit re-executed it.
    pub reexecuted: bool,
    /// Execution time in nanoseconds.
    pub nanos: u64,
}

impl BlockRecord {
    /// Builds the record of an executed block.
    ///
    /// `outcomes` and `exec` are in block order, one per transaction. `state` is the state the
    /// block executed on; without it, "target has code" is guessed from calldata.
    pub fn from_execution(
        block: &Block,
        outcomes: &[TxOutcome],
        exec: &[TxExec],
        state: Option<&dyn StateReader>,
    ) -> Result<Self> {
        let n = block.txs.len();
        if outcomes.len() != n || exec.len() != n {
            return Err(Error::InvalidExecution(format!(
                "block {} has {n} transactions but {} outcomes and {} execution entries",
                block.number(),
                outcomes.len(),
                exec.len()
            )));
        }
        let beneficiary = block.env.beneficiary();
        let txs = block
            .txs
            .iter()
            .zip(TxFacts::of_block(block, state))
            .zip(outcomes)
            .zip(exec)
            .map(|(((tx, facts), outcome), exec)| TxRecord {
                hash: tx.hash,
                candidate_keys: facts
                    .candidate_addresses()
                    .iter()
                    .map(KeyHash::account)
                    .collect(),
                sender: facts.sender,
                to: facts.to,
                selector: facts.selector,
                calldata_addresses: facts.calldata,
                gas_limit: facts.gas_limit,
                calldata_bytes: Some(u32::try_from(tx.input().len()).unwrap_or(u32::MAX)),
                gas_used: outcome.gas_used,
                moved_value: facts.moved_value,
                to_has_code: facts.to_has_code,
                success: outcome.is_success(),
                reads: read_keys(outcome),
                writes: write_keys(outcome),
                reads_beneficiary: outcome
                    .reads
                    .accounts
                    .iter()
                    .any(|(a, _)| *a == beneficiary),
                pool: exec.pool as u32,
                reexecuted: exec.reexecuted,
                nanos: exec.nanos,
            })
            .collect();
        Ok(Self {
            version: FORMAT_VERSION,
            number: block.number(),
            hash: block.header.as_ref().map(|h| h.hash),
            beneficiary,
            txs,
        })
    }
}

fn read_keys(outcome: &TxOutcome) -> Vec<KeyHash> {
    let mut keys: Vec<KeyHash> = outcome.reads.keys().map(|k| KeyHash::access(&k)).collect();
    keys.extend(
        outcome
            .reads
            .storage
            .iter()
            .map(|(a, _, _)| KeyHash::storage_of(a)),
    );
    keys.sort_unstable();
    keys.dedup();
    keys
}

fn write_keys(outcome: &TxOutcome) -> Vec<KeyHash> {
    let mut keys: Vec<KeyHash> = Vec::new();
    // Per account written, not per key: looking each wipe up in the list again is quadratic
    // in a transaction that writes thousands of accounts.
    for (address, write) in &outcome.writes.accounts {
        let (account_key, slots) = write.written();
        if account_key {
            keys.push(KeyHash::access(&AccessKey::Account(*address)));
            if write.wipes_storage() {
                keys.push(KeyHash::storage_of(address));
            }
        }
        keys.extend(
            slots
                .iter()
                .map(|(slot, _)| KeyHash::access(&AccessKey::Storage(*address, *slot))),
        );
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}
