//! Typed errors of the executor crate.

use alloy_primitives::{Address, B256};
use std::path::PathBuf;

/// Result alias for the executor crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error raised while loading or executing a block.
///
/// Every variant that concerns one transaction names its index and hash, so an operator can find
/// it in the block without reading logs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A file was read but does not hold what it should.
    #[error("malformed {what} in {path}: {reason}")]
    Malformed {
        /// What was being parsed ("block", "prestate", "genesis", …).
        what: &'static str,
        /// The offending file.
        path: PathBuf,
        /// Why it was rejected.
        reason: String,
    },
    /// The block header or environment is unusable.
    #[error("block {number}: {reason}")]
    InvalidBlock {
        /// Block number.
        number: u64,
        /// Why the block was rejected.
        reason: String,
    },
    /// A transaction's `from` disagrees with the signer recovered from its signature.
    #[error("tx {index} ({hash}): `from` is {claimed} but the signature recovers {recovered}")]
    SenderMismatch {
        /// Position in the block.
        index: usize,
        /// Transaction hash.
        hash: B256,
        /// The sender the block JSON claims.
        claimed: Address,
        /// The sender recovered from the signature.
        recovered: Address,
    },
    /// A transaction's signature or encoding is unusable.
    #[error("tx {index} ({hash}): {reason}")]
    MalformedTransaction {
        /// Position in the block.
        index: usize,
        /// Transaction hash.
        hash: B256,
        /// What is wrong with it.
        reason: String,
    },
    /// A transaction is not valid at its position in the block (nonce, balance, gas limit, …).
    #[error("tx {index} ({hash}) is invalid for the block: {reason}")]
    InvalidTransaction {
        /// Position in the block.
        index: usize,
        /// Transaction hash.
        hash: B256,
        /// The EVM's reason.
        reason: String,
    },
    /// The state does not hold something execution needs.
    #[error("tx {index} ({hash}): {source}")]
    State {
        /// Position in the block.
        index: usize,
        /// Transaction hash.
        hash: B256,
        /// The missing piece.
        source: StateError,
    },
}

impl Error {
    /// Returns `true` when the block itself is at fault (as opposed to missing or unreadable
    /// input files), i.e. a correct executor would reject it too.
    pub fn is_invalid_block(&self) -> bool {
        matches!(
            self,
            Self::InvalidBlock { .. }
                | Self::SenderMismatch { .. }
                | Self::MalformedTransaction { .. }
                | Self::InvalidTransaction { .. }
        )
    }
}

/// An error from the in-memory state behind the EVM.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum StateError {
    /// BLOCKHASH asked for a block whose hash the state was not given.
    #[error("hash of block {0} is not in the pre-state (block_hashes.json)")]
    MissingBlockHash(u64),
    /// Code was requested by a hash the state does not hold.
    #[error("bytecode {0} is not in the pre-state")]
    MissingCode(B256),
}

impl revm::database_interface::DBErrorMarker for StateError {}
