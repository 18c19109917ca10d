//! switchyard's executors: exact EVM execution (revm) that reports what each transaction read
//! and wrote, the sequential reference every parallel path is checked against, executor pools
//! and the ordered commit.
//!
//! # Layout
//! - [`error`]: typed errors ([`Error`], [`StateError`]).
//! - [`state`]: the in-memory world state ([`State`]) and a block's changes over it
//!   ([`Overlay`]); prestate and genesis loading.
//! - [`block`]: the block environment, transactions from RPC JSON, the mainnet fork schedule,
//!   and block fixtures on disk.
//! - [`access`]: read sets (with values), write sets and access keys.
//! - [`capture`]: the `Database` wrapper that records every read.
//! - [`execute`]: one transaction through revm with capture and a deferred beneficiary fee.
//! - [`observe`]: which balances a transaction depended on, recorded by wrapped opcodes, so
//!   the commit treats the others as deltas.
//! - [`pool`]: executor pools as `tower::Service`s (in-process threads) and the batch protocol.
//! - [`balance`]: what the dispatcher knows of a pool (up, load, slots) and power of two
//!   choices between pools.
//! - [`protocol`]: the remote pool protocol: versioned, bounded messages and typed errors.
//! - [`replica`]: a remote executor's state replica (snapshot, then one diff per block) and
//!   its refusal of any parent it does not hold.
//! - [`commit`]: the ordered commit (validate by value, shift balance deltas, re-execute on a
//!   miss), and the live commit the pools deliver to and drive while they execute.
//! - [`cost`]: measured costs (EWMA) and the parallel-or-sequential decision.
//! - [`cpu`]: the caller's core, and keeping a thread off a core (the commit's head start
//!   beside the router).
//! - [`parallel`]: the parallel driver: route, dispatch to pools, commit, learn.
//! - [`dag`]: the dependency-DAG bound and the `--simulate-pools` projection.
//! - [`router`]: routers (sequential, round-robin, sender, contract, oracle, scatter),
//!   union-find grouping and largest-first packing.
//! - [`contracts`]: the benchmark contracts (ERC20 token, constant-product pair): compiled
//!   artifacts from `contracts/out/` and ABI bindings.
//! - [`synthetic`]: synthetic blocks for property tests and benchmarks, and the p2p, erc20,
//!   amm and mixed workloads shared with the load generator.
//! - [`system`]: pre-block system contract updates (EIP-4788, EIP-2935).
//! - [`receipt`]: receipts, bloom and the receipts root.
//! - [`sequential`]: the sequential reference executor.
//! - [`plain`]: stock revm without capture, the baseline for overhead and a second opinion.
//! - [`check`]: comparisons against the chain's header and against the reference.
//! - [`fixtures`]: where the shared mainnet blocks live, for tests and benchmarks.

pub mod access;
pub mod balance;
pub mod block;
pub mod capture;
pub mod check;
pub mod commit;
pub mod contracts;
pub mod cost;
pub mod cpu;
pub mod dag;
pub mod error;
pub mod execute;
pub mod fixtures;
pub mod observe;
pub mod parallel;
pub mod plain;
pub mod pool;
pub mod protocol;
pub mod receipt;
pub mod replica;
pub mod router;
pub mod sequential;
pub mod state;
pub mod synthetic;
pub mod system;

pub use access::{AccessKey, AccountSummary, AccountWrite, ReadSet, WriteSet};
pub use block::{Block, BlockEnvironment, BlockFixture, BlockTx, HeaderFacts};
pub use error::{Error, Result, StateError};
pub use execute::{ExecFailure, TxExecutor, TxOutcome, TxStatus};
pub use sequential::{BlockResult, SequentialRun, execute_sequential};
pub use state::{Overlay, State, StateDiff, StateReader};
