//! The remote pool protocol: what the gateway and a `switchyard executor` exchange.
//!
//! Messages are JSON, each carrying the protocol [`VERSION`], and bounded in size. The gateway
//! keeps each executor's state replica exact with a [`Snapshot`] of its head, then one [`Diff`]
//! per committed block; it asks for work with an [`ExecuteRequest`] that names the parent block
//! the batch must run on. An executor that does not hold that parent refuses with a typed
//! [`ProtocolError`] rather than execute on other state. The batch semantics are those of the
//! in-process pools ([`crate::pool::execute_batch`]); only the pre-state is named differently.

use crate::{
    block::Block,
    pool::PoolError,
    state::{State, StateDiff},
};
use alloy_primitives::B256;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// The protocol version every message carries; a peer speaking another is refused.
pub const VERSION: u32 = 1;

/// Default bound on one message, in bytes. A snapshot is the largest message; 256 MiB holds
/// a dev chain many times over while keeping a bad peer from exhausting memory.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// Paths of the protocol's HTTP/2 endpoints (all POST with a JSON body except health).
pub mod path {
    /// Execute a batch: [`super::ExecuteRequest`] → [`crate::pool::BatchResponse`].
    pub const EXECUTE: &str = "/v1/execute";
    /// Replace the replica: [`super::Snapshot`] → [`super::SyncAck`].
    pub const SNAPSHOT: &str = "/v1/snapshot";
    /// Advance the replica by one block: [`super::Diff`] → [`super::SyncAck`].
    pub const DIFF: &str = "/v1/diff";
    /// GET: [`super::Health`].
    pub const HEALTH: &str = "/v1/health";
}

/// Names a committed block: its number and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlockRef {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
}

impl std::fmt::Display for BlockRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{} ({})", self.number, self.hash)
    }
}

/// Execute `txs` of `block` on the state after `parent` plus the batch's own writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecuteRequest {
    /// The block the batch builds on; the executor must hold exactly this state.
    pub parent: BlockRef,
    /// The block being executed.
    pub block: Block,
    /// Block indices to execute, ascending.
    pub txs: Vec<usize>,
}

/// The whole state after `head`: what a new or restarted executor starts from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// The block the state is after.
    pub head: BlockRef,
    /// The state.
    pub state: State,
}

/// The changes of the committed block `head`, to apply on the state after `parent`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Diff {
    /// The block the executor must hold.
    pub parent: BlockRef,
    /// The block these changes commit.
    pub head: BlockRef,
    /// The changes.
    pub diff: StateDiff,
}

/// The executor's answer to a snapshot or a diff: the block its replica now holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncAck {
    /// The replica's head.
    pub head: BlockRef,
}

/// The executor's health report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// The block the replica holds, `None` before the first snapshot.
    pub head: Option<BlockRef>,
    /// Batches the executor runs at once.
    pub threads: usize,
}

/// A message on the wire: the protocol version and the body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Versioned<T> {
    /// Must equal [`VERSION`].
    pub version: u32,
    /// The message.
    pub body: T,
}

/// An answer on the wire: the protocol version and the result.
pub type Reply<T> = Versioned<Result<T, ProtocolError>>;

/// Why a peer refused a message or could not serve it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum ProtocolError {
    /// The peer speaks another protocol version.
    #[error("protocol version {got} is not supported (this side speaks {expected})")]
    VersionMismatch {
        /// This side's version.
        expected: u32,
        /// The version received.
        got: u32,
    },
    /// The message is larger than the bound.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    Oversized {
        /// Bytes received (at least).
        size: usize,
        /// The bound.
        limit: usize,
    },
    /// The message does not parse.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The executor has no state yet, or holds a block older than (or beside) the one named:
    /// it must be sent a snapshot or the missing diffs first.
    #[error("executor does not hold block {asked}; it holds {}", describe(.head))]
    UnknownParent {
        /// The block named.
        asked: BlockRef,
        /// The block the executor holds.
        head: Option<BlockRef>,
    },
    /// The executor already holds a later block than the one named: the request is stale.
    #[error("block {asked} is stale; the executor holds {head}")]
    StaleParent {
        /// The block named.
        asked: BlockRef,
        /// The block the executor holds.
        head: BlockRef,
    },
    /// The batch itself is unusable (it names a transaction the block does not have).
    #[error(transparent)]
    Batch(#[from] PoolError),
    /// The path is not part of the protocol.
    #[error("no such endpoint: {0}")]
    NotFound(String),
}

fn describe(head: &Option<BlockRef>) -> String {
    head.map_or_else(|| "no state yet".to_owned(), |h| h.to_string())
}

impl ProtocolError {
    /// Returns `true` when the executor's replica must be re-synced (snapshot or diffs) before
    /// it can serve this parent.
    pub fn needs_sync(&self) -> bool {
        matches!(self, Self::UnknownParent { .. } | Self::StaleParent { .. })
    }

    /// The HTTP status this error is sent with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Oversized { .. } => 413,
            Self::NotFound(_) => 404,
            Self::UnknownParent { .. } | Self::StaleParent { .. } => 409,
            Self::VersionMismatch { .. } | Self::Malformed(_) | Self::Batch(_) => 400,
        }
    }
}

/// Encodes a message with the protocol version.
pub fn encode<T: Serialize>(body: &T) -> Vec<u8> {
    serde_json::to_vec(&Versioned {
        version: VERSION,
        body,
    })
    .expect("protocol messages serialize")
}

/// Decodes a message, refusing oversized ones, another version, and anything malformed, each
/// with its own error.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, ProtocolError> {
    if bytes.len() > limit {
        return Err(ProtocolError::Oversized {
            size: bytes.len(),
            limit,
        });
    }
    match serde_json::from_slice::<Versioned<T>>(bytes) {
        Ok(Versioned {
            version: VERSION,
            body,
        }) => Ok(body),
        Ok(Versioned { version, .. }) => Err(ProtocolError::VersionMismatch {
            expected: VERSION,
            got: version,
        }),
        Err(e) => {
            // Another version may have another shape: name the version when it parses.
            #[derive(Deserialize)]
            struct VersionOnly {
                version: u32,
            }
            match serde_json::from_slice::<VersionOnly>(bytes) {
                Ok(v) if v.version != VERSION => Err(ProtocolError::VersionMismatch {
                    expected: VERSION,
                    got: v.version,
                }),
                _ => Err(ProtocolError::Malformed(e.to_string())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Bytes from the network never panic the decoder: every message is a value or a
        /// typed error, and a valid message cut short or bit-flipped is refused as malformed
        /// (or, if the flip lands in the version, as another version).
        #[test]
        fn arbitrary_bytes_get_typed_errors(
            noise in proptest::collection::vec(any::<u8>(), 0..512),
            cut in 0usize..200,
            flip in 0usize..200,
        ) {
            prop_assert!(decode::<ExecuteRequest>(&noise, 1 << 20).is_err());
            let valid = encode(&Diff {
                parent: BlockRef { number: 1, hash: B256::repeat_byte(1) },
                head: BlockRef { number: 2, hash: B256::repeat_byte(2) },
                diff: StateDiff::default(),
            });
            let cut = cut.min(valid.len() - 1);
            prop_assert!(matches!(
                decode::<Diff>(&valid[..cut], 1 << 20),
                Err(ProtocolError::Malformed(_))
            ));
            let mut flipped = valid.clone();
            let at = flip % valid.len();
            flipped[at] ^= 0x5a;
            match decode::<Diff>(&flipped, 1 << 20) {
                Ok(_) | Err(ProtocolError::Malformed(_) | ProtocolError::VersionMismatch { .. }) => {}
                Err(other) => prop_assert!(false, "unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn messages_round_trip_and_bad_ones_get_typed_errors() {
        let ack = SyncAck {
            head: BlockRef {
                number: 7,
                hash: B256::repeat_byte(1),
            },
        };
        let bytes = encode(&ack);
        assert_eq!(decode::<SyncAck>(&bytes, 1 << 20).unwrap(), ack);
        assert_eq!(
            decode::<SyncAck>(&bytes, 10).unwrap_err(),
            ProtocolError::Oversized {
                size: bytes.len(),
                limit: 10
            }
        );
        let other = String::from_utf8(bytes)
            .unwrap()
            .replace("\"version\":1", "\"version\":9");
        assert_eq!(
            decode::<SyncAck>(other.as_bytes(), 1 << 20).unwrap_err(),
            ProtocolError::VersionMismatch {
                expected: 1,
                got: 9
            }
        );
        assert!(matches!(
            decode::<SyncAck>(b"{\"version\":1,\"body\":{}}", 1 << 20),
            Err(ProtocolError::Malformed(_))
        ));
        assert!(matches!(
            decode::<SyncAck>(b"not json", 1 << 20),
            Err(ProtocolError::Malformed(_))
        ));
    }
}
