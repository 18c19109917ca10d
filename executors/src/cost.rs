//! Measured costs, and the decision to run a block in parallel or fall back to sequential.
//!
//! Nothing here is a fixed threshold: every figure is an exponentially weighted moving average
//! of what this process measured (seeded by a calibration run). A block goes parallel only when
//! the predicted speedup, from its routing and these costs, clears `min_speedup`.

use revm::primitives::hardfork::SpecId;
use serde::Serialize;

/// Gas of a plain value transfer.
pub const TRANSFER_GAS: u64 = 21_000;

/// The estimated cost of a transaction before it runs, in gas units: 21,000 for a plain
/// transfer to an account without code (old blocks carry transfers with gas limits of 90,000
/// and more), the gas limit otherwise. [`presumed_cost`] refined by the state.
pub fn estimated_cost(tx: &crate::BlockTx, state: &dyn crate::StateReader) -> u64 {
    let presumed = presumed_cost(tx);
    // Only a call with no input and a limit above 21,000 is presumed below its limit: a limit
    // of at most 21,000 is the cost either way, with no state lookup (a cache miss in a large
    // state) for the usual transfer.
    let runs_code = presumed < tx.env.gas_limit
        && tx.to().is_some_and(|to| {
            state
                .summary(&to)
                .is_some_and(|s| s.code_hash != revm::primitives::KECCAK_EMPTY)
        });
    if runs_code {
        tx.env.gas_limit
    } else {
        presumed
    }
}

/// Whether `tx`, estimated at `estimate` by [`estimated_cost`], is a payment that runs code: a
/// call with no input whose target has code (its receive or fallback function), which only
/// then is estimated above a plain transfer.
pub fn pays_code(tx: &crate::BlockTx, estimate: u64) -> bool {
    tx.env.data.is_empty() && tx.to().is_some() && estimate > TRANSFER_GAS
}

/// [`pays_code`] from a transaction's summary, such as a traffic log's: a call with no input,
/// to a target with code, with gas for more than a transfer.
pub fn pays_code_of(gas_limit: u64, has_input: bool, is_call: bool, to_has_code: bool) -> bool {
    !has_input && is_call && to_has_code && gas_limit > TRANSFER_GAS
}

/// [`estimated_cost`] without the state: a call with no input is presumed a plain transfer.
/// A contract's receive or fallback code rarely costs more, and a block misjudged by it only
/// loses speed; it spares a lookup per such transaction (a cache miss in a large state).
pub fn presumed_cost(tx: &crate::BlockTx) -> u64 {
    presumed_cost_of(tx.env.gas_limit, !tx.env.data.is_empty(), tx.to().is_some())
}

/// [`presumed_cost`] from a transaction's gas limit, whether it has input and whether it is a
/// call (not a creation): for those who hold a summary of it, such as a traffic log.
pub fn presumed_cost_of(gas_limit: u64, has_input: bool, is_call: bool) -> u64 {
    if !has_input && is_call {
        gas_limit.min(TRANSFER_GAS)
    } else {
        gas_limit
    }
}

/// An exponentially weighted moving average.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ewma {
    value: Option<f64>,
    alpha: f64,
}

impl Ewma {
    /// An empty average giving weight `alpha` to each new sample.
    pub const fn new(alpha: f64) -> Self {
        Self { value: None, alpha }
    }

    /// Folds in a sample; non-finite samples are ignored.
    pub fn observe(&mut self, sample: f64) {
        if !sample.is_finite() {
            return;
        }
        self.value = Some(match self.value {
            Some(v) => v + self.alpha * (sample - v),
            None => sample,
        });
    }

    /// The current average, if any sample was seen.
    pub fn get(&self) -> Option<f64> {
        self.value
    }
}

/// Why a block ran sequentially instead of across pools.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Fallback {
    /// Only one pool, or fewer than two transactions.
    Trivial,
    /// Routing put (nearly) everything in one pool.
    Serial {
        /// Share of the estimated cost in the busiest pool.
        busiest_share: f64,
    },
    /// Predicted parallel time does not beat sequential by enough (small block, high waste).
    NotWorthIt {
        /// The predicted speedup.
        predicted_speedup: f64,
    },
    /// Nothing predicts this block yet: no execution rate is measured for its fork. Running it
    /// sequentially measures one.
    Unmeasured,
}

/// A prediction for one block.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prediction {
    /// Predicted sequential time, in nanoseconds.
    pub sequential_nanos: f64,
    /// Predicted parallel time, in nanoseconds.
    pub parallel_nanos: f64,
}

impl Prediction {
    /// Predicted speedup.
    pub fn speedup(&self) -> f64 {
        self.sequential_nanos / self.parallel_nanos.max(1.0)
    }
}

/// The costs that decide between parallel and sequential execution.
#[derive(Debug, Clone, PartialEq)]
pub struct CostModel {
    /// Execution nanoseconds per unit of estimated cost, sequential or in a pool (the
    /// transactions alone: receipts and the commit excluded). The work is the same either way,
    /// so one rate serves both predictions and a block declined to sequential still moves the
    /// parallel one: with a pool rate of its own, learned only from parallel blocks, a block
    /// unlike the last parallel one (transfers after calls) was measured sequentially against
    /// a stale pool rate and declined again, run after run.
    pub ns_per_cost: Ewma,
    /// A sequential block's time per transaction beyond executing it: receipts, their bloom
    /// and trie, the state's bookkeeping. About 0.8 us a transaction on post-Byzantium mainnet
    /// blocks, 40% of a block of transfers. Across pools it is the commit's, which idle pools
    /// drive, so it does not follow the busiest pool: charged by gas, it made a block of one
    /// sender's payouts look serial (predicted 0.8-0.9x) that runs at 1.2-1.35x.
    pub block_work_ns_per_tx: Ewma,
    /// Wall time of a parallel block beyond routing and what [`CostModel::predict`] charges for
    /// its work (its busiest pool's execution or an even share of the block's execution and
    /// block work): dispatch, wake-ups, the commit's tail and waits.
    pub overhead_ns: Ewma,
    /// Routing time per transaction (estimated costs, the router, packing): paid before the
    /// decision after routing, so it counts only in [`CostModel::hopeless`].
    pub routing_ns_per_tx: Ewma,
    /// Commit time per transaction whose result was valid (reported; mostly hidden behind the
    /// pools by the streaming commit, so the prediction uses `overhead_ns` instead).
    pub validate_ns_per_tx: Ewma,
    /// Share of the estimated cost that was re-executed at commit.
    pub reexecuted_share: Ewma,
    /// How often the commit abandoned speculation in recent parallel blocks (1 abandoned, 0
    /// not; each block weighs half). An abandoned block ran sequentially after paying for
    /// going parallel, so the prediction expects that outcome this often: a fully dependent
    /// block seen twice is declined, and one parallel block that keeps its speculation halves
    /// the doubt. Mainnet blocks never come near abandoning (`ABANDON_MISS_SHARE`).
    pub abandoned: Ewma,
    /// Required predicted speedup to go parallel.
    pub min_speedup: f64,
    /// The fork the per-cost rates were measured on. Gas repricings (EIP-150, EIP-1884,
    /// EIP-2929, ...) change how much time a unit of gas takes, several times over across
    /// mainnet's history, so a block of another fork restarts them ([`CostModel::enter_fork`]).
    pub fork: Option<SpecId>,
}

impl Default for CostModel {
    fn default() -> Self {
        Self {
            ns_per_cost: Ewma::new(0.2),
            block_work_ns_per_tx: Ewma::new(0.2),
            overhead_ns: Ewma::new(0.2),
            routing_ns_per_tx: Ewma::new(0.2),
            validate_ns_per_tx: Ewma::new(0.2),
            reexecuted_share: Ewma::new(0.2),
            abandoned: Ewma::new(0.5),
            // A margin for misprediction: gas limits estimate execution time poorly.
            min_speedup: 1.25,
            fork: None,
        }
    }
}

impl CostModel {
    /// Takes note of the fork of the next block. On a change of fork the per-cost rate and the
    /// block work restart (receipts before Byzantium hold no root to hash; the overheads of
    /// going parallel stay), and until the new fork's first block has been measured every
    /// decision is [`Fallback::Unmeasured`].
    pub fn enter_fork(&mut self, fork: SpecId) {
        if self.fork.is_some_and(|known| known != fork) {
            self.ns_per_cost = Ewma::new(self.ns_per_cost.alpha);
            self.block_work_ns_per_tx = Ewma::new(self.block_work_ns_per_tx.alpha);
        }
        self.fork = Some(fork);
    }

    /// Predicts sequential and parallel time for a routed block: the busiest pool's execution
    /// or an even share of the whole block's work (execution and block work), whichever is
    /// larger, plus the overhead.
    ///
    /// The re-executed share is measured and exported but not part of the prediction: it
    /// depends on the block far more than on history, and feeding it back made the decision
    /// flap between "always parallel" and "never". Waste is tuned through the router (the
    /// model's threshold) instead.
    pub fn predict(&self, plan: &Plan) -> Option<Prediction> {
        let rate = self.ns_per_cost.get()?;
        let sequential_nanos = self.sequential_nanos(rate, plan.total_cost, plan.txs);
        let kept = work_across_pools(
            plan.makespan_cost as f64 * rate,
            sequential_nanos,
            plan.pools_used,
        );
        // Abandoned, the block runs sequentially after paying the overhead.
        let p = self.abandoned.get().unwrap_or(0.0);
        Some(Prediction {
            sequential_nanos,
            parallel_nanos: self.overhead() + (1.0 - p) * kept + p * sequential_nanos,
        })
    }

    /// Predicted sequential time of `txs` transactions of estimated cost `total_cost`.
    fn sequential_nanos(&self, rate: f64, total_cost: u64, txs: usize) -> f64 {
        total_cost as f64 * rate + self.block_work_ns_per_tx.get().unwrap_or(0.0) * txs as f64
    }

    /// Decides before routing whether a block cannot win even if routing split it as well as
    /// it can and nothing were re-executed; `None` means route it and decide then. The best
    /// split puts an even share in each pool, and at least `busiest_floor` (the heaviest
    /// sender's work, which every router keeps in one pool) in the busiest. Routing itself
    /// counts here: for a small block it can cost more than the split would save.
    pub fn hopeless(
        &self,
        total_cost: u64,
        busiest_floor: u64,
        pools: usize,
        txs: usize,
    ) -> Option<Fallback> {
        if pools < 2 || txs < 2 {
            return Some(Fallback::Trivial);
        }
        let Some(rate) = self.ns_per_cost.get() else {
            return self.unmeasured();
        };
        let sequential_nanos = self.sequential_nanos(rate, total_cost, txs);
        let best = Prediction {
            sequential_nanos,
            parallel_nanos: self.overhead()
                + self.routing_ns_per_tx.get().unwrap_or(0.0) * txs as f64
                + work_across_pools(busiest_floor as f64 * rate, sequential_nanos, pools),
        };
        (best.speedup() < self.min_speedup).then(|| Fallback::NotWorthIt {
            predicted_speedup: best.speedup(),
        })
    }

    /// Decides whether to fall back; `None` means run in parallel.
    pub fn fallback(&self, plan: &Plan) -> Option<Fallback> {
        if plan.pools < 2 || plan.txs < 2 {
            return Some(Fallback::Trivial);
        }
        if plan.pools_used < 2 {
            return Some(Fallback::Serial {
                busiest_share: plan.makespan_cost as f64 / plan.total_cost.max(1) as f64,
            });
        }
        let Some(prediction) = self.predict(plan) else {
            return self.unmeasured();
        };
        (prediction.speedup() < self.min_speedup).then(|| Fallback::NotWorthIt {
            predicted_speedup: prediction.speedup(),
        })
    }

    /// The predicted overhead of a parallel block, in nanoseconds (0 before any parallel block
    /// was measured).
    pub fn overhead(&self) -> f64 {
        self.overhead_ns.get().unwrap_or(0.0)
    }

    /// The decision without a measured rate: sequential once a fork is known (its first block
    /// measures the rate); parallel for a model that was never told of any block (tests that
    /// decide nothing from costs).
    fn unmeasured(&self) -> Option<Fallback> {
        self.fork.is_some().then_some(Fallback::Unmeasured)
    }

    /// Learns from a sequential execution of `txs` transactions of estimated cost
    /// `total_cost` that took `wall_nanos`, `exec_nanos` of them executing the transactions.
    pub fn observe_sequential(
        &mut self,
        total_cost: u64,
        txs: usize,
        wall_nanos: u64,
        exec_nanos: u64,
    ) {
        if total_cost > 0 {
            self.ns_per_cost
                .observe(exec_nanos as f64 / total_cost as f64);
        }
        if txs > 0 {
            self.block_work_ns_per_tx
                .observe(wall_nanos.saturating_sub(exec_nanos) as f64 / txs as f64);
        }
    }

    /// Learns from a parallel execution.
    pub fn observe_parallel(&mut self, sample: &ParallelSample) {
        if sample.total_cost > 0 {
            self.ns_per_cost
                .observe(sample.busy_nanos as f64 / sample.total_cost as f64);
            self.reexecuted_share
                .observe(sample.reexecuted_cost as f64 / sample.total_cost as f64);
        }
        self.abandoned
            .observe(if sample.abandoned { 1.0 } else { 0.0 });
        // The overhead is what the prediction's other terms leave of the wall time, measured:
        // the busiest pool's execution or an even share of all execution and block work.
        // (Less the busiest pool alone, it also held the block work of large blocks, which
        // was then charged to small ones: 0.2-0.5 ms against 0.9 ms blocks that run at 1.4x.)
        // Re-execution at commit is waste, not overhead: counting it here would make one
        // wasteful block look like a fixed cost and shut parallelism off for every block after.
        // Routing is learned per transaction, as it grows with the block.
        let block_work = self.block_work_ns_per_tx.get().unwrap_or(0.0) * sample.txs as f64;
        let explained = work_across_pools(
            sample.busiest_pool_nanos as f64,
            sample.busy_nanos as f64 + block_work,
            sample.pools,
        );
        self.overhead_ns.observe(
            (sample
                .wall_nanos
                .saturating_sub(sample.routing_nanos)
                .saturating_sub(sample.reexecute_nanos) as f64
                - explained)
                .max(0.0),
        );
        if sample.txs > 0 {
            self.routing_ns_per_tx
                .observe(sample.routing_nanos as f64 / sample.txs as f64);
        }
        let valid = sample.txs.saturating_sub(sample.reexecuted_txs);
        if valid > 0 {
            self.validate_ns_per_tx
                .observe(sample.validate_nanos as f64 / valid as f64);
        }
    }
}

/// Time a block's work takes across `pools`: its busiest pool's execution or an even share of
/// all its work (execution and block work), whichever is larger. The block work is the
/// commit's, which idle pools drive, so it follows no pool.
fn work_across_pools(busiest_nanos: f64, all_work_nanos: f64, pools: usize) -> f64 {
    busiest_nanos.max(all_work_nanos / pools.max(1) as f64)
}

/// A routed block, as the fallback decision sees it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Plan {
    /// Transactions in the block.
    pub txs: usize,
    /// Pools available.
    pub pools: usize,
    /// Pools that would get work.
    pub pools_used: usize,
    /// Estimated cost of the whole block.
    pub total_cost: u64,
    /// Estimated cost of the busiest pool: the largest pinned batch, or for dynamic dispatch
    /// the larger of the largest work unit and an even share.
    pub makespan_cost: u64,
}

/// Measurements of one parallel block, for [`CostModel::observe_parallel`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ParallelSample {
    /// Transactions in the block.
    pub txs: usize,
    /// Pools that executed some of it.
    pub pools: usize,
    /// Estimated cost of the block.
    pub total_cost: u64,
    /// Busy time of all pools together.
    pub busy_nanos: u64,
    /// Busy time of the busiest pool.
    pub busiest_pool_nanos: u64,
    /// Wall time of the whole block.
    pub wall_nanos: u64,
    /// Time spent routing, before dispatch.
    pub routing_nanos: u64,
    /// Commit time spent on valid results.
    pub validate_nanos: u64,
    /// Commit time spent re-executing.
    pub reexecute_nanos: u64,
    /// Transactions re-executed at commit.
    pub reexecuted_txs: usize,
    /// Estimated cost of the re-executed transactions.
    pub reexecuted_cost: u64,
    /// Whether the commit abandoned speculation.
    pub abandoned: bool,
}

/// After this many blocks declined in a row as not worth it, a probe is due: the next block
/// about as promising as the best of the last this many declined goes parallel anyway. The
/// parallel costs are learned only from parallel runs, so without probes one pessimistic
/// estimate (a disturbed calibration, a burst of small blocks) would never be corrected.
pub const PROBE_EVERY: u32 = 16;

/// A due probe waits for a promising block at most until this many declines in a row, then
/// takes the next declined block whatever its prediction.
pub const PROBE_AT_LATEST: u32 = 4 * PROBE_EVERY;

/// "As promising as the best": within this factor of the best prediction, since predictions
/// of the same block drift as the measured rates move.
const NEAR_BEST: f64 = 0.9;

/// When to run a declined block in parallel anyway (a probe). A probe on a block predicted at
/// 0.1× costs most of that block and teaches little about blocks near the bar, so the probe
/// goes to a block about as promising as the best of the last [`PROBE_EVERY`] declined. A
/// window, not everything since the last parallel run: one early outlier would otherwise hold
/// every probe off until [`PROBE_AT_LATEST`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Probes {
    declined: u32,
    /// Predicted speedups of the last [`PROBE_EVERY`] declined blocks, a ring.
    recent: [f64; PROBE_EVERY as usize],
}

impl Probes {
    /// Counts `fallback`; true when this block should be a probe instead. Only blocks declined
    /// as not worth it count: the other reasons are not estimates.
    pub fn probe_instead(&mut self, fallback: &Fallback) -> bool {
        let Fallback::NotWorthIt { predicted_speedup } = *fallback else {
            return false;
        };
        self.recent[self.declined as usize % self.recent.len()] = predicted_speedup;
        self.declined += 1;
        if self.declined >= PROBE_AT_LATEST {
            return true;
        }
        // Unfilled slots are 0, below any prediction.
        let best = self.recent.iter().copied().fold(0.0, f64::max);
        self.declined >= PROBE_EVERY && predicted_speedup >= NEAR_BEST * best
    }

    /// A block ran in parallel (a probe or not): the count starts again.
    pub fn ran_parallel(&mut self) {
        *self = Self::default();
    }

    /// Blocks declined as not worth it since the last parallel run.
    pub fn declined(&self) -> u32 {
        self.declined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payments_to_code_are_estimated_at_their_limit_and_told_apart() {
        use crate::synthetic::{BlockBuilder, account};
        use alloy_primitives::{Bytes, TxKind, U256};
        let mut builder = BlockBuilder::new(3);
        // STOP: a receive function that returns at once.
        builder.deploy(account(2), &[0x00], &[]);
        let pay = |to| (TxKind::Call(to), U256::from(1), Bytes::new(), 90_000);
        let payments = [pay(account(1)), pay(account(2))];
        for (kind, value, data, gas) in payments {
            builder.push(account(0), kind, value, data, gas);
        }
        builder.push(
            account(1),
            TxKind::Call(account(2)),
            U256::ZERO,
            Bytes::from_static(&[1, 2, 3, 4]),
            90_000,
        );
        let (block, state) = builder.build();
        let estimates: Vec<u64> = block
            .txs
            .iter()
            .map(|tx| estimated_cost(tx, &state))
            .collect();
        assert_eq!(estimates, [TRANSFER_GAS, 90_000, 90_000]);
        let paying: Vec<bool> = block
            .txs
            .iter()
            .zip(&estimates)
            .map(|(tx, e)| pays_code(tx, *e))
            .collect();
        assert_eq!(
            paying,
            [false, true, false],
            "a call with input is no payment"
        );
        assert_eq!(
            paying,
            [
                pays_code_of(90_000, false, true, false),
                pays_code_of(90_000, false, true, true),
                pays_code_of(90_000, true, true, true),
            ],
            "a summary tells the same"
        );
        assert!(
            !pays_code_of(TRANSFER_GAS, false, true, true),
            "no gas to run code"
        );
    }

    fn plan(pools_used: usize, total_cost: u64, makespan_cost: u64, txs: usize) -> Plan {
        Plan {
            txs,
            pools: 2,
            pools_used,
            total_cost,
            makespan_cost,
        }
    }

    #[test]
    fn no_measurement_means_no_prediction_but_trivial_cases_still_fall_back() {
        let model = CostModel::default();
        assert_eq!(model.fallback(&plan(2, 20, 10, 5)), None);
        assert_eq!(model.fallback(&plan(2, 20, 10, 1)), Some(Fallback::Trivial));
        assert_eq!(
            model.fallback(&plan(1, 20, 20, 5)),
            Some(Fallback::Serial { busiest_share: 1.0 })
        );
    }

    /// A model that measured 1 ns per unit of cost, and one parallel block of 100 transactions
    /// whose busiest pool took 500 µs, with `wall` and `routing` nanoseconds.
    fn measured(wall: u64, routing: u64) -> CostModel {
        let mut model = CostModel::default();
        model.observe_sequential(1_000_000, 100, 1_000_000, 1_000_000);
        model.observe_parallel(&ParallelSample {
            pools: 2,
            txs: 100,
            total_cost: 1_000_000,
            busy_nanos: 1_000_000,
            busiest_pool_nanos: 500_000,
            wall_nanos: wall,
            routing_nanos: routing,
            ..Default::default()
        });
        model
    }

    #[test]
    fn time_lost_waiting_on_a_failed_speculation_declines_the_next_such_block() {
        // A fully dependent block run across pools: the commit waited on speculation it then
        // re-executed, and abandoned it. The wait (not the re-execution) counts as overhead,
        // which is what declines the next block like it (a clip of such samples, tried against
        // stalls, kept a 2-account transfer block parallel at 0.92-0.95x; docs/benchmarks.md).
        let mut model = measured(550_000, 0);
        let block = plan(2, 1_000_000, 500_000, 100);
        assert_eq!(model.fallback(&block), None);
        model.observe_parallel(&ParallelSample {
            pools: 2,
            txs: 100,
            total_cost: 100_000,
            busy_nanos: 100_000,
            busiest_pool_nanos: 50_000,
            wall_nanos: 5_000_000,
            reexecute_nanos: 900_000,
            reexecuted_txs: 90,
            reexecuted_cost: 900_000,
            ..Default::default()
        });
        assert!(
            matches!(model.fallback(&block), Some(Fallback::NotWorthIt { .. })),
            "{model:?}"
        );
    }

    /// A model that ran 1,000 transfers sequentially in 1 ms of execution and 0.8 ms more of
    /// receipts and bookkeeping, then in parallel, 1 ms of execution across 2 pools with
    /// `busiest` in one, in `wall` nanoseconds.
    fn with_block_work(busiest: u64, wall: u64) -> CostModel {
        let mut model = CostModel::default();
        model.observe_sequential(21_000_000, 1_000, 1_800_000, 1_000_000);
        model.observe_parallel(&ParallelSample {
            pools: 2,
            txs: 1_000,
            total_cost: 21_000_000,
            busy_nanos: 1_000_000,
            busiest_pool_nanos: busiest,
            wall_nanos: wall,
            ..Default::default()
        });
        model
    }

    #[test]
    fn block_work_is_shared_by_the_pools_so_one_senders_payouts_can_go_parallel() {
        let model = with_block_work(950_000, 1_050_000);
        assert_eq!(model.block_work_ns_per_tx.get(), Some(800.0));
        // One sender holds 95% of the execution, which no router splits; the block work
        // follows no pool. (Charged by gas, the busiest pool would hold 95% of 1.8 ms: 0.99x.)
        let payouts = plan(2, 21_000_000, 19_950_000, 1_000);
        assert_eq!(model.hopeless(21_000_000, 19_950_000, 2, 1_000), None);
        assert_eq!(model.fallback(&payouts), None);
        let predicted = model.predict(&payouts).unwrap();
        assert!(predicted.speedup() > 1.5, "{predicted:?}");
        // Where execution is nearly everything (10 heavy calls of one sender), the sender's
        // pool still bounds the block.
        assert!(matches!(
            model.fallback(&plan(2, 21_000_000, 19_950_000, 10)),
            Some(Fallback::NotWorthIt { .. })
        ));
    }

    #[test]
    fn a_large_blocks_block_work_is_not_taken_for_overhead() {
        // Split evenly: 0.5 ms of execution in each pool, and the 0.8 ms of block work shared
        // by the pools that drive the commit, then 50 µs more.
        let model = with_block_work(500_000, 950_000);
        // Less the busiest pool alone, the overhead would be 450 µs, and a block of 20
        // transactions and 0.5 ms would be declined (0.5 / (0.45 + 0.25) = 0.71x).
        assert_eq!(model.overhead(), 50_000.0);
        let small = plan(2, 10_500_000, 5_250_000, 20);
        assert_eq!(model.fallback(&small), None);
    }

    #[test]
    fn an_abandoned_speculation_is_expected_again_until_a_block_keeps_its_own() {
        let mut model = measured(550_000, 0);
        let block = plan(2, 1_000_000, 500_000, 100);
        assert_eq!(model.fallback(&block), None);
        // The same overhead each time: only the abandonment differs.
        let sample = |abandoned| ParallelSample {
            pools: 2,
            txs: 100,
            total_cost: 1_000_000,
            busy_nanos: 1_000_000,
            busiest_pool_nanos: 500_000,
            wall_nanos: 550_000,
            abandoned,
            ..Default::default()
        };
        model.observe_parallel(&sample(true));
        model.observe_parallel(&sample(true));
        assert!(
            matches!(model.fallback(&block), Some(Fallback::NotWorthIt { .. })),
            "{model:?}"
        );
        // One parallel block that kept its speculation halves the doubt.
        model.observe_parallel(&sample(false));
        assert_eq!(model.fallback(&block), None, "{model:?}");
    }

    #[test]
    fn a_block_run_sequentially_moves_the_parallel_prediction_as_well() {
        // The last parallel block ran calls at 1 ns per unit of cost...
        let mut model = measured(550_000, 0);
        let half = plan(2, 10_000_000, 5_000_000, 1_000);
        let before = model.predict(&half).unwrap().speedup();
        // ...then blocks of cheap transfers ran sequentially at 0.1 ns per unit. Both sides
        // of the prediction take the new rate: the block still halves. (With a parallel rate
        // learned only from parallel blocks, the split looked five times slower than
        // sequential, and was declined every time.)
        for _ in 0..30 {
            model.observe_sequential(10_000_000, 1_000, 1_000_000, 1_000_000);
        }
        let after = model.predict(&half).unwrap();
        assert!(
            (after.sequential_nanos - 1_000_000.0).abs() < 20_000.0,
            "{after:?}"
        );
        assert!(
            after.speedup() > 1.5 && after.speedup() < before,
            "{after:?}"
        );
        assert_eq!(model.fallback(&half), None);
    }

    #[test]
    fn a_new_fork_is_measured_sequentially_before_anything_is_predicted() {
        let mut model = measured(550_000, 0);
        model.enter_fork(SpecId::CANCUN);
        let big = plan(2, 10_000_000, 5_000_000, 1000);
        assert_eq!(model.fallback(&big), None);
        // The same fork keeps its rates.
        model.enter_fork(SpecId::CANCUN);
        assert_eq!(model.fallback(&big), None);
        // Another fork restarts them: nothing is predicted until one of its blocks is measured,
        // and the per-block overhead survives.
        model.enter_fork(SpecId::BYZANTIUM);
        assert_eq!(model.fallback(&big), Some(Fallback::Unmeasured));
        assert_eq!(
            model.hopeless(10_000_000, 0, 2, 1000),
            Some(Fallback::Unmeasured)
        );
        assert!(model.overhead_ns.get().is_some());
        model.observe_sequential(10_000_000, 1_000, 10_000_000, 10_000_000);
        assert_eq!(model.fallback(&big), None);
        assert_eq!(model.hopeless(10_000_000, 0, 2, 1000), None);
    }

    #[test]
    fn dispatch_overhead_makes_small_blocks_fall_back() {
        let model = measured(550_000, 0); // 50 µs beyond the busiest pool
        // A large block halves well...
        assert_eq!(model.fallback(&plan(2, 10_000_000, 5_000_000, 1000)), None);
        // ...a small one is eaten by the dispatch overhead...
        assert!(matches!(
            model.fallback(&plan(2, 40_000, 20_000, 2)),
            Some(Fallback::NotWorthIt { .. })
        ));
        // ...and so is a large one whose routing leaves one pool with nearly everything.
        assert!(matches!(
            model.fallback(&plan(2, 10_000_000, 9_500_000, 1000)),
            Some(Fallback::NotWorthIt { .. })
        ));
    }

    #[test]
    fn routing_counts_before_routing_and_not_after() {
        // 500 ns of routing per transaction, and 10 µs of other overhead.
        let model = measured(560_000, 50_000);
        assert_eq!(model.overhead(), 10_000.0);
        assert_eq!(model.routing_ns_per_tx.get(), Some(500.0));
        // 200 cheap transactions: a perfect split saves 100 µs, routing them costs 100 µs.
        assert!(matches!(
            model.hopeless(200_000, 0, 2, 200),
            Some(Fallback::NotWorthIt { .. })
        ));
        // The same work in 20 transactions routes cheaply enough to try...
        assert_eq!(model.hopeless(200_000, 0, 2, 20), None);
        // ...unless one sender has 90% of it: no router splits a sender's transactions.
        assert!(matches!(
            model.hopeless(200_000, 180_000, 2, 20),
            Some(Fallback::NotWorthIt { .. })
        ));
        // Once routed, routing is spent: only what remains decides.
        assert_eq!(model.fallback(&plan(2, 200_000, 100_000, 200)), None);
    }

    fn worth(predicted_speedup: f64) -> Fallback {
        Fallback::NotWorthIt { predicted_speedup }
    }

    #[test]
    fn a_probe_waits_for_the_most_promising_recent_block() {
        let mut probes = Probes::default();
        // A promising block among hopeless ones: while it is among the last 16, the hopeless
        // ones are not probed...
        for k in 1..=19 {
            let predicted = if k == 8 { 0.9 } else { 0.1 };
            assert!(!probes.probe_instead(&worth(predicted)), "decline {k}");
            // ...and other reasons are not counted.
            assert!(!probes.probe_instead(&Fallback::Trivial));
        }
        // ...one about as promising as it is.
        assert!(!probes.probe_instead(&worth(0.8)));
        assert!(probes.probe_instead(&worth(0.85)));
        probes.ran_parallel();
        assert_eq!(probes.declined(), 0);
        for _ in 1..PROBE_EVERY {
            assert!(!probes.probe_instead(&worth(0.5)));
        }
        assert!(probes.probe_instead(&worth(0.5)));
    }

    #[test]
    fn an_outlier_holds_probes_off_only_while_it_is_recent() {
        let mut probes = Probes::default();
        assert!(!probes.probe_instead(&worth(1.2)));
        for _ in 1..PROBE_EVERY {
            assert!(!probes.probe_instead(&worth(0.3)));
        }
        // The outlier has left the last 16.
        assert!(probes.probe_instead(&worth(0.3)));
    }

    #[test]
    fn a_probe_comes_at_the_latest_after_the_cap() {
        let mut probes = Probes::default();
        // Each prediction far below the one before: never near the recent best.
        let mut predicted = 1.0;
        let probe_at = (1..=PROBE_AT_LATEST + 1)
            .find(|_| {
                predicted /= 2.0;
                probes.probe_instead(&worth(predicted))
            })
            .expect("a probe");
        assert_eq!(probe_at, PROBE_AT_LATEST);
    }
}
