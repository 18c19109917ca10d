//! JSON-RPC errors with geth's codes and texts, and the gateway's own error type.
//!
//! Clients match on geth's messages ("nonce too low", "already known", …), so the texts below
//! follow geth word for word where geth has one. Callers inside the gateway act on
//! [`RejectReason`] (a closed set, also the metric label), never on the text.

use serde::Serialize;
use serde_json::Value;
use std::{fmt, io};

/// Result alias for the gateway's serving code.
pub type Result<T, E = ServeError> = std::result::Result<T, E>;

/// Standard JSON-RPC 2.0 error codes, plus geth's server-error range.
pub mod code {
    /// Invalid JSON was received.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON sent is not a valid request object.
    pub const INVALID_REQUEST: i64 = -32600;
    /// The method does not exist.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Invalid method parameters.
    pub const INVALID_PARAMS: i64 = -32602;
    /// Internal error.
    pub const INTERNAL_ERROR: i64 = -32603;
    /// geth's generic server error: transaction rejected, state unavailable, …
    pub const SERVER_ERROR: i64 = -32000;
    /// The request timed out (geth's `errcodeTimeout`).
    pub const TIMEOUT: i64 = -32002;
    /// A limit was exceeded: load shedding, rate limit, batch size (EIP-1474).
    pub const LIMIT_EXCEEDED: i64 = -32005;
    /// Execution reverted (geth returns code 3 with the revert data).
    pub const EXECUTION_REVERTED: i64 = 3;
}

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RpcError {
    /// The error code.
    pub code: i64,
    /// The human-readable message.
    pub message: String,
    /// Extra data (revert data for `execution reverted`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with `code` and `message` and no data.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// -32700: the body is not JSON.
    pub fn parse(reason: impl fmt::Display) -> Self {
        Self::new(code::PARSE_ERROR, format!("parse error: {reason}"))
    }

    /// -32600: JSON, but not a JSON-RPC request.
    pub fn invalid_request(reason: impl fmt::Display) -> Self {
        Self::new(code::INVALID_REQUEST, format!("invalid request: {reason}"))
    }

    /// -32601, with geth's text.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            code::METHOD_NOT_FOUND,
            format!("the method {method} does not exist/is not available"),
        )
    }

    /// -32602: the parameters do not fit the method.
    pub fn invalid_params(reason: impl fmt::Display) -> Self {
        Self::new(code::INVALID_PARAMS, format!("invalid params: {reason}"))
    }

    /// -32000: a server-side refusal (state unavailable, …).
    pub fn server(message: impl Into<String>) -> Self {
        Self::new(code::SERVER_ERROR, message)
    }

    /// -32603: a bug or an unexpected failure; the reason is logged by the caller.
    pub fn internal(reason: impl fmt::Display) -> Self {
        Self::new(code::INTERNAL_ERROR, format!("internal error: {reason}"))
    }

    /// -32005: load shed, rate limited or too many requests in a batch.
    pub fn limit_exceeded(what: impl fmt::Display) -> Self {
        Self::new(code::LIMIT_EXCEEDED, format!("limit exceeded: {what}"))
    }

    /// -32002: the request took longer than the configured timeout.
    pub fn timeout() -> Self {
        Self::new(code::TIMEOUT, "request timed out")
    }

    /// Code 3 with the revert data, as geth reports a reverted `eth_call`/`eth_estimateGas`.
    pub fn reverted(output: &[u8]) -> Self {
        let reason = revert_reason(output);
        Self {
            code: code::EXECUTION_REVERTED,
            message: match reason {
                Some(reason) => format!("execution reverted: {reason}"),
                None => "execution reverted".into(),
            },
            data: Some(Value::String(format!(
                "0x{}",
                alloy_primitives::hex::encode(output)
            ))),
        }
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

/// Decodes `Error(string)` revert data, as geth does for its message.
fn revert_reason(output: &[u8]) -> Option<String> {
    const SELECTOR: [u8; 4] = [0x08, 0xc3, 0x79, 0xa0];
    let body = output.strip_prefix(&SELECTOR)?;
    let offset = usize::try_from(alloy_primitives::U256::from_be_slice(body.get(..32)?)).ok()?;
    let len_word = body.get(offset..offset.checked_add(32)?)?;
    let len = usize::try_from(alloy_primitives::U256::from_be_slice(len_word)).ok()?;
    let start = offset + 32;
    let text = body.get(start..start.checked_add(len)?)?;
    String::from_utf8(text.to_vec()).ok()
}

/// Why a transaction was not admitted: a closed set, used as the metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Not a decodable EIP-2718 envelope.
    Malformed,
    /// A transaction type the gateway does not execute (EIP-4844 blobs).
    UnsupportedType,
    /// The signature does not recover a sender.
    InvalidSender,
    /// Signed for another chain, or without replay protection where it is required.
    ChainId,
    /// The nonce was already used.
    NonceTooLow,
    /// The nonce is further ahead of the account than the queue allows.
    NonceGap,
    /// Balance below gas * fee cap + value (this and earlier pending transactions).
    InsufficientFunds,
    /// Gas limit below the intrinsic cost.
    IntrinsicGas,
    /// Gas limit above the block gas limit.
    GasLimit,
    /// Fee cap below the base fee of the next block.
    FeeCapTooLow,
    /// Priority fee above the fee cap.
    TipAboveFeeCap,
    /// The same transaction is already pending or included.
    AlreadyKnown,
    /// Same sender and nonce as a pending transaction, without a sufficient fee bump.
    ReplacementUnderpriced,
    /// The pool is at capacity.
    PoolFull,
    /// The transaction is too large.
    Oversized,
    /// The gateway is shutting down.
    ShuttingDown,
}

impl RejectReason {
    /// Every reason, for pre-registering metric series.
    pub const ALL: &[Self] = &[
        Self::Malformed,
        Self::UnsupportedType,
        Self::InvalidSender,
        Self::ChainId,
        Self::NonceTooLow,
        Self::NonceGap,
        Self::InsufficientFunds,
        Self::IntrinsicGas,
        Self::GasLimit,
        Self::FeeCapTooLow,
        Self::TipAboveFeeCap,
        Self::AlreadyKnown,
        Self::ReplacementUnderpriced,
        Self::PoolFull,
        Self::Oversized,
        Self::ShuttingDown,
    ];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnsupportedType => "unsupported_type",
            Self::InvalidSender => "invalid_sender",
            Self::ChainId => "chain_id",
            Self::NonceTooLow => "nonce_too_low",
            Self::NonceGap => "nonce_gap",
            Self::InsufficientFunds => "insufficient_funds",
            Self::IntrinsicGas => "intrinsic_gas",
            Self::GasLimit => "gas_limit",
            Self::FeeCapTooLow => "fee_cap_too_low",
            Self::TipAboveFeeCap => "tip_above_fee_cap",
            Self::AlreadyKnown => "already_known",
            Self::ReplacementUnderpriced => "replacement_underpriced",
            Self::PoolFull => "pool_full",
            Self::Oversized => "oversized",
            Self::ShuttingDown => "shutting_down",
        }
    }
}

/// A transaction refused at admission: the reason and geth's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    /// Why, as a closed set.
    pub reason: RejectReason,
    /// The client-facing message, geth's text where geth has one.
    pub message: String,
}

impl Rejection {
    /// A rejection with its message.
    pub fn new(reason: RejectReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }

    /// The JSON-RPC error: -32602 for undecodable input (as geth), -32000 otherwise.
    pub fn to_rpc(&self) -> RpcError {
        let code = match self.reason {
            RejectReason::Malformed => code::INVALID_PARAMS,
            RejectReason::ShuttingDown => code::LIMIT_EXCEEDED,
            _ => code::SERVER_ERROR,
        };
        RpcError::new(code, self.message.clone())
    }
}

/// Why `serve` could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A socket could not be used.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: io::Error,
    },
    /// Metrics could not be registered (a name registered twice).
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The executors failed to start or calibrate.
    #[error("executors: {0}")]
    Executors(#[from] switchyard_executors::Error),
    /// The dev genesis could not be derived.
    #[error("dev genesis: {0}")]
    Genesis(String),
    /// The model file could not be loaded at start.
    #[error("model: {0}")]
    Model(#[from] switchyard_model::Error),
}

impl ServeError {
    /// Wraps an I/O error with what was being done.
    pub fn io(what: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_map_to_geth_codes() {
        let low = Rejection::new(
            RejectReason::NonceTooLow,
            "nonce too low: next nonce 3, tx nonce 1",
        );
        assert_eq!(low.to_rpc().code, -32000);
        assert_eq!(
            low.to_rpc().message,
            "nonce too low: next nonce 3, tx nonce 1"
        );
        let junk = Rejection::new(RejectReason::Malformed, "rlp: short");
        assert_eq!(junk.to_rpc().code, -32602);
        assert_eq!(RpcError::method_not_found("eth_foo").code, -32601);
        assert_eq!(RpcError::limit_exceeded("busy").code, -32005);
    }

    #[test]
    fn revert_reason_decodes_error_string() {
        let hex = "08c379a0\
            0000000000000000000000000000000000000000000000000000000000000020\
            0000000000000000000000000000000000000000000000000000000000000004\
            6e6f706500000000000000000000000000000000000000000000000000000000";
        let data = alloy_primitives::hex::decode(hex).unwrap();
        let err = RpcError::reverted(&data);
        assert_eq!(err.code, 3);
        assert_eq!(err.message, "execution reverted: nope");
        assert_eq!(RpcError::reverted(&[]).message, "execution reverted");
    }

    #[test]
    fn labels_are_unique() {
        let mut labels: Vec<_> = RejectReason::ALL.iter().map(|r| r.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), RejectReason::ALL.len());
    }
}
