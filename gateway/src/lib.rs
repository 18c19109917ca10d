//! The switchyard gateway: what operators run. Today it replays real blocks through the
//! executors; the JSON-RPC server builds on the same pieces.
//!
//! # Layout
//! - [`replay`]: `switchyard replay`, sequential and parallel execution of block folders, checked
//!   against the chain and against each other, with timing, waste, DAG bound and projections.
//! - [`progress`]: a progress bar that shows only on a terminal.

pub mod progress;
pub mod replay;
