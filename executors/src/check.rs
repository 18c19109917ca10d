//! Checks an execution against what the chain recorded in the header.

use crate::{block::Block, sequential::BlockResult};
use alloy_primitives::B256;
use serde::Serialize;
use std::fmt;

/// One disagreement between an execution and the chain (or another execution).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mismatch {
    /// Total gas differs.
    GasUsed {
        /// What the header (or reference) says.
        expected: u64,
        /// What execution produced.
        actual: u64,
    },
    /// Receipts root differs.
    ReceiptsRoot {
        /// What the header (or reference) says.
        expected: B256,
        /// What execution produced.
        actual: B256,
    },
    /// A receipt differs from the reference's (parallel against sequential).
    Receipt {
        /// Position in the block.
        index: usize,
    },
    /// The post-state differs from the reference's.
    PostState {
        /// How many accounts differ.
        accounts: usize,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::GasUsed { expected, actual } => {
                write!(f, "gasUsed: expected {expected}, got {actual}")
            }
            Self::ReceiptsRoot { expected, actual } => {
                write!(f, "receiptsRoot: expected {expected}, got {actual}")
            }
            Self::Receipt { index } => write!(f, "receipt {index} differs from sequential"),
            Self::PostState { accounts } => {
                write!(
                    f,
                    "post-state differs from sequential in {accounts} accounts"
                )
            }
        }
    }
}

/// Compares a result with the block header: gas used always, the receipts root from Byzantium.
/// A block without a header (built locally) has nothing to check.
pub fn against_header(block: &Block, result: &BlockResult) -> Vec<Mismatch> {
    let Some(header) = &block.header else {
        return Vec::new();
    };
    let mut mismatches = Vec::new();
    if header.gas_used != result.gas_used {
        mismatches.push(Mismatch::GasUsed {
            expected: header.gas_used,
            actual: result.gas_used,
        });
    }
    if let Some(actual) = result.receipts_root
        && actual != header.receipts_root
    {
        mismatches.push(Mismatch::ReceiptsRoot {
            expected: header.receipts_root,
            actual,
        });
    }
    mismatches
}

/// Compares a result with the sequential reference's: receipts, root, gas and post-state.
pub fn against_reference(reference: &BlockResult, result: &BlockResult) -> Vec<Mismatch> {
    let mut mismatches = Vec::new();
    if reference.gas_used != result.gas_used {
        mismatches.push(Mismatch::GasUsed {
            expected: reference.gas_used,
            actual: result.gas_used,
        });
    }
    if let (Some(expected), Some(actual)) = (reference.receipts_root, result.receipts_root)
        && expected != actual
    {
        mismatches.push(Mismatch::ReceiptsRoot { expected, actual });
    }
    let receipts = reference.receipts.iter().zip(&result.receipts);
    if let Some(index) = receipts.clone().position(|(a, b)| a != b) {
        mismatches.push(Mismatch::Receipt { index });
    } else if reference.receipts.len() != result.receipts.len() {
        mismatches.push(Mismatch::Receipt {
            index: reference.receipts.len().min(result.receipts.len()),
        });
    }
    let expected = reference.post_state.post_state();
    let actual = result.post_state.post_state();
    if expected != actual {
        let keys: std::collections::BTreeSet<_> = expected.keys().chain(actual.keys()).collect();
        let accounts = keys
            .into_iter()
            .filter(|k| expected.get(*k) != actual.get(*k))
            .count();
        mismatches.push(Mismatch::PostState { accounts });
    }
    mismatches
}
