//! switchyard's conflict model: predicts which transactions of a block touch the same state,
//! learns from the traffic logs of executed blocks, and routes by its predictions.
//!
//! # Layout
//! - [`error`]: typed errors ([`Error`]) and the [`Result`] alias.
//! - [`traffic`]: the JSON Lines traffic-log format, its writer (size rotation) and reader.
//! - [`keys`]: stable hashes of state keys and candidate keys, as logged.
//! - [`facts`]: what is known of a transaction before execution; calldata addresses; code
//!   lookups made once per target and only when asked.
//! - [`pairs`]: sparse candidate pairs (shared candidate key, bounded hot keys), walked once
//!   per block, skipping the holders a router has already grouped.
//! - [`features`]: pair features and the feature schema with its hash.
//! - [`rates`]: per-(contract, selector) historical conflict rates.
//! - [`dataset`]: labelled pairs from traffic records.
//! - [`classifier`]: the fitted logistic regression and decision tree, as stored and scored.
//! - [`eval`]: precision, recall, F1, AUC and the threshold rule.
//! - [`costs`]: each transaction's execution time predicted from its envelope, for packing.
//! - [`mod@train`]: training with linfa, split by block, with a held-out report.
//! - [`model`]: the versioned model file ([`Model`]).
//! - [`router`]: the `model` router ([`ModelRouter`]).
//! - `test_utils` (feature `test-utils`): synthetic traffic for tests and benchmarks.
//!
//! Benchmarks (`benches/`): `inference` (scoring pairs), `training` (fitting on synthetic
//! traffic) and `routing` (each held-out mainnet block's routing against its sequential
//! execution).

pub mod classifier;
pub mod costs;
pub mod dataset;
pub mod error;
pub mod eval;
pub mod facts;
pub mod features;
pub mod keys;
pub mod model;
pub mod pairs;
pub mod rates;
pub mod router;
#[cfg(feature = "test-utils")]
pub mod test_utils;
pub mod traffic;
pub mod train;

pub use error::{Error, Result};
pub use model::Model;
pub use router::{ModelRouter, Threshold};
pub use traffic::{BlockRecord, TrafficLogReader, TrafficLogWriter, TxExec, TxRecord};
pub use train::{TrainOptions, TrainProgress, TrainReport, train};
