//! The switchyard gateway: what operators run. `serve` answers JSON-RPC, sequences admitted
//! transactions into blocks and executes them across executor pools; `replay` runs real blocks
//! through the same executors.
//!
//! ```text
//! client ─HTTP─► tower stack (refusals · rate limit · load shed · concurrency · timeout · body)
//!                   │
//!                   ▼
//!              rpc dispatch ──► admission (decode, recover, check) ──► txpool (per sender)
//!                   │                                                     │ cut every block
//!              storage ◄── seal ◄── ordered commit ◄── pools ◄── router ◄─┘ time or when full
//! ```
//!
//! # Layout
//! - [`serve`]: `switchyard serve`, the JSON-RPC gateway (config, admission, txpool, sequencer,
//!   storage, metrics, tower layers, hooks for the model).
//! - [`executor`]: `switchyard executor`, a remote executor pool serving the pool protocol over
//!   HTTP/2 on a state replica the gateway keeps in sync.
//! - [`replay`]: `switchyard replay`, sequential and parallel execution of block folders, checked
//!   against the chain and against each other, with timing, waste, DAG bound and projections.
//! - [`train`]: `switchyard train`, fitting the conflict model on traffic logs.
//! - [`bench`](mod@bench): `switchyard bench`, real and synthetic blocks through every router, projected
//!   scaling and the gateway under load, written as JSON, SVG plots and markdown.
//! - [`loadgen`]: `switchyard loadgen`, signed p2p/erc20/amm/mixed traffic at a target rate,
//!   followed to its receipts, with counts, rates and latency percentiles.
//! - [`progress`]: a progress bar that shows only on a terminal.

pub mod bench;
pub mod executor;
pub mod loadgen;
pub mod progress;
pub mod replay;
pub mod serve;
pub mod train;
