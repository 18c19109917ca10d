//! The dependency-DAG bound, and the projection of makespan onto more pools than this machine
//! has (`--simulate-pools`).
//!
//! Both use the true access sets and the measured time of every transaction from the
//! sequential run. A transaction depends on the last earlier writer of each key it read
//! ([`crate::router::true_dependencies`]); callers derive those once per block and pass them.

use crate::{
    block::Block,
    execute::TxOutcome,
    router::{Routing, beneficiary_readers},
};
use serde::Serialize;

/// Total work and the longest dependency chain of a block, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DagShape {
    /// Sum of all transactions' times.
    pub total_nanos: u64,
    /// The heaviest chain of read-after-write dependencies.
    pub critical_nanos: u64,
}

impl DagShape {
    /// Computes the shape from true outcomes, their [`crate::router::true_dependencies`] and
    /// per-transaction times.
    pub fn new(
        block: &Block,
        outcomes: &[TxOutcome],
        dependencies: &[(usize, usize)],
        tx_nanos: &[u64],
    ) -> Self {
        let readers = beneficiary_readers(block, outcomes);
        let mut finish = vec![0u64; tx_nanos.len()];
        let mut deps = dependencies.iter().peekable();
        let mut readers = readers.iter().peekable();
        let mut latest_finish = 0;
        for (j, nanos) in tx_nanos.iter().enumerate() {
            let mut start = 0;
            while let Some((_, i)) = deps.next_if(|(reader, _)| *reader == j) {
                start = start.max(finish[*i]);
            }
            // A beneficiary reader sees every earlier fee: it starts after all earlier work.
            if readers.next_if(|r| **r == j).is_some() {
                start = start.max(latest_finish);
            }
            finish[j] = start + nanos;
            latest_finish = latest_finish.max(finish[j]);
        }
        Self {
            total_nanos: tx_nanos.iter().sum(),
            critical_nanos: finish.iter().copied().max().unwrap_or(0),
        }
    }

    /// The best speedup `pools` pools can reach: total ÷ max(total ÷ pools, critical path).
    pub fn bound(&self, pools: usize) -> f64 {
        if self.total_nanos == 0 {
            return 1.0;
        }
        let total = self.total_nanos as f64;
        total / (total / pools.max(1) as f64).max(self.critical_nanos as f64)
    }
}

/// A projected execution on more pools.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Projection {
    /// Pools simulated.
    pub pools: usize,
    /// Projected wall time, in nanoseconds.
    pub makespan_nanos: u64,
    /// Sequential time ÷ makespan.
    pub speedup: f64,
    /// Gas projected to be re-executed at commit.
    pub reexecuted_gas: u64,
}

/// Fixed costs the projection charges, measured on this machine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct SimulationCosts {
    /// Dispatch overhead per block, in nanoseconds.
    pub dispatch_nanos: u64,
    /// Commit time per valid transaction, in nanoseconds.
    pub validate_nanos_per_tx: u64,
}

/// Projects the makespan of `routing` (made for `pools` pools) with this model:
///
/// 1. Each pool runs its transactions in block order after the dispatch overhead; a
///    transaction takes its measured sequential time, so pool `p` finishes transaction `i` at
///    `f_i = dispatch + Σ t_j` over its transactions up to `i`.
/// 2. A speculative result is valid when every transaction it depends on ran in the same pool
///    and was itself valid; otherwise the commit re-executes it (a cascade is assumed, which
///    is conservative). A beneficiary reader is valid only when every earlier transaction ran
///    in its pool.
/// 3. The commit walks in order: `c_i = max(c_{i-1}, f_i) + (valid ? v : t_i)`, with `v` the
///    measured validation cost. The makespan is the last `c_i`.
pub fn simulate(
    block: &Block,
    outcomes: &[TxOutcome],
    dependencies: &[(usize, usize)],
    tx_nanos: &[u64],
    routing: &Routing,
    pools: usize,
    costs: SimulationCosts,
) -> Projection {
    let n = tx_nanos.len();
    let pool_of = routing.pool_of_tx(n);
    let mut valid = vec![true; n];
    for (reader, writer) in dependencies {
        if pool_of[*reader] != pool_of[*writer] || !valid[*writer] {
            valid[*reader] = false;
        }
    }
    for reader in beneficiary_readers(block, outcomes) {
        if pool_of[..reader].iter().any(|p| *p != pool_of[reader]) {
            valid[reader] = false;
        }
    }
    let mut pool_clock = vec![costs.dispatch_nanos; pools.max(1)];
    let mut commit_clock = 0u64;
    let mut reexecuted_gas = 0;
    for i in 0..n {
        let pool = pool_of[i].min(pool_clock.len() - 1);
        pool_clock[pool] += tx_nanos[i];
        let step = if valid[i] {
            costs.validate_nanos_per_tx
        } else {
            reexecuted_gas += outcomes[i].gas_used;
            tx_nanos[i]
        };
        commit_clock = commit_clock.max(pool_clock[pool]) + step;
    }
    let total: u64 = tx_nanos.iter().sum();
    Projection {
        pools,
        makespan_nanos: commit_clock,
        speedup: if commit_clock == 0 {
            1.0
        } else {
            total as f64 / commit_clock as f64
        },
        reexecuted_gas,
    }
}
