//! The parallel driver: route a block, run the batches on pools, commit in order, learn.

use crate::{
    balance::{PoolStatus, Rng, p2c},
    block::Block,
    commit::{CommitReport, Head, LiveCommit},
    cost::{
        CostModel, Ewma, Fallback, ParallelSample, Plan, Prediction, Probes, estimated_cost,
        presumed_cost,
    },
    error::Result,
    pool::{
        BatchRequest, BatchResponse, InProcessPool, PoolError, ResultSink, StateCatalog, StateId,
        UnitQueue, WorkUnit,
    },
    router::{OracleFacts, RouteInput, Router, Routing},
    sequential::BlockResult,
    state::State,
    synthetic,
};
use alloy_primitives::map::AddressMap;
use futures_util::{StreamExt, stream::FuturesUnordered};
use revm::primitives::hardfork::SpecId;
use std::{
    sync::{Arc, Mutex},
    time::Instant,
};
use tower::{Service, ServiceExt};

/// A block executed by [`ParallelExecutor`].
#[derive(Debug, Clone)]
pub struct ParallelRun {
    /// The block's result, identical to the sequential reference's.
    pub result: BlockResult,
    /// How the block was routed.
    pub routing: Routing,
    /// Set when the block ran sequentially instead, with the reason.
    pub fallback: Option<Fallback>,
    /// The cost model's prediction for the routed block, once the model has measurements
    /// (compare with `wall_nanos` to see how well it predicts).
    pub prediction: Option<Prediction>,
    /// What the commit re-executed (all `false` on fallback: nothing was wasted).
    pub commit: CommitReport,
    /// Busy time of each pool.
    pub pool_busy_nanos: Vec<u64>,
    /// Pools that failed during the block; their transactions were executed at commit.
    pub failed_pools: Vec<(usize, PoolError)>,
    /// Time spent routing.
    pub routing_nanos: u64,
    /// Time from the start until every pool had answered (routing included).
    pub dispatch_nanos: u64,
    /// Wall time of the whole block.
    pub wall_nanos: u64,
}

/// A block the cost model sent to the sequential fallback, with what led there.
struct Declined {
    routing: Routing,
    fallback: Fallback,
    prediction: Option<Prediction>,
    routing_nanos: u64,
    total_cost: u64,
}

impl Declined {
    /// Declined before routing, for `fallback`, with the block's estimated cost if known.
    fn unrouted(fallback: Fallback, total_cost: u64) -> Self {
        Self {
            routing: Routing::default(),
            fallback,
            prediction: None,
            routing_nanos: 0,
            total_cost,
        }
    }
}

/// The estimated cost of the block's heaviest sender: one pool's at least, under a router that
/// keeps senders together. A mining pool's payout block is one sender's chain of transfers.
fn heaviest_sender(block: &Block, costs: &[u64]) -> u64 {
    let mut per_sender: AddressMap<u64> = AddressMap::default();
    per_sender.reserve(block.txs.len());
    let mut heaviest = 0;
    for (tx, cost) in block.txs.iter().zip(costs) {
        let sum = per_sender.entry(tx.sender).or_default();
        *sum += cost;
        heaviest = heaviest.max(*sum);
    }
    heaviest
}

/// The fallback decision's view of a routing over `pools` pools of which `live` take work:
/// pinned batches keep their pools; otherwise work units go to free live pools, so the busiest
/// pool carries the larger of the largest unit and an even share.
fn plan(routing: &Routing, costs: &[u64], pools: usize, live: usize) -> Plan {
    let total_cost: u64 = costs.iter().sum();
    let (pools_used, makespan_cost) = if routing.pinned {
        let per_pool = routing.pool_costs(pools);
        let used = per_pool.iter().filter(|c| **c > 0).count();
        (used, per_pool.into_iter().max().unwrap_or(0))
    } else {
        let units = routing.work_units(pools);
        let largest = units
            .iter()
            .map(|u| u.iter().map(|i| costs[*i]).sum::<u64>())
            .max()
            .unwrap_or(0);
        (
            units.len().min(live),
            largest.max(total_cost.div_ceil(live.max(1) as u64)),
        )
    };
    Plan {
        txs: costs.len(),
        pools: live,
        pools_used,
        total_cost,
        makespan_cost,
    }
}

/// What dispatching a block to the pools produced, besides the streamed results.
#[derive(Debug)]
struct Dispatched {
    /// Estimated cost of the work each pool completed.
    pool_cost: Vec<u64>,
    pool_busy_nanos: Vec<u64>,
    failed_pools: Vec<(usize, PoolError)>,
    finished: Instant,
}

/// The end of a block's dispatch, whether it ran to completion or its future was dropped: no
/// more results will come, and the pools no longer need the block's pre-state.
struct DispatchDone<'a> {
    live: &'a LiveCommit,
    catalog: &'a StateCatalog,
    state: StateId,
}

impl Drop for DispatchDone<'_> {
    fn drop(&mut self) {
        self.live.close();
        self.catalog.remove(self.state);
    }
}

/// A commit whose head start the block may not use after all: unless [`Self::dispatch`]ed,
/// it is aborted when dropped (the block was declined, or the future dropped), so that the
/// committer stops instead of waiting for results that never come.
struct HeadStart<'a> {
    live: &'a LiveCommit,
    dispatched: bool,
}

impl HeadStart<'_> {
    /// The block goes to the pools: ends the head and returns where it ended.
    fn dispatch(mut self) -> Head {
        self.dispatched = true;
        self.live.end_head()
    }
}

impl Drop for HeadStart<'_> {
    fn drop(&mut self) {
        if !self.dispatched {
            self.live.abort();
        }
    }
}

/// What is left of a unit after the block's head, which the commit executed itself; `None`
/// when nothing is. A unit that loses transactions to the head continues from the state after
/// it, so that what it reads of its own earlier transactions is not stale.
fn after_head(txs: Vec<usize>, head: &Head) -> Option<WorkUnit> {
    let split = txs.partition_point(|i| *i < head.len);
    if split == txs.len() {
        return None;
    }
    if split == 0 {
        return Some(WorkUnit::new(txs));
    }
    Some(WorkUnit {
        txs: txs[split..].to_vec(),
        retried: false,
        after_head: head.state.clone(),
    })
}

/// How [`ParallelExecutor::run_parallel`] treats a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The cost model may send it to the sequential fallback; the run is learned from.
    Decide,
    /// Across the pools; the run is learned from.
    Always,
    /// Across the pools, and nothing is learned: a warm-up is no sample of anything.
    WarmUp,
}

/// Executes blocks across pools with an exact ordered commit.
#[derive(Debug)]
pub struct ParallelExecutor<P = InProcessPool> {
    pools: Vec<P>,
    catalog: StateCatalog,
    costs: Mutex<CostModel>,
    /// Estimated cost each pool gets through per nanosecond.
    throughput: Mutex<Vec<Ewma>>,
    fallback_enabled: bool,
    /// The commit executes the block from its start while the router works (see
    /// [`LiveCommit::with_head_start`]).
    head_start: bool,
    /// Blocks declined since the last parallel one, and when to probe.
    probes: Mutex<Probes>,
}

impl ParallelExecutor<InProcessPool> {
    /// `pools` in-process pools, each on its own thread.
    pub fn in_process(pools: usize) -> std::io::Result<Self> {
        let catalog = StateCatalog::new();
        let pools = (0..pools.max(1))
            .map(|id| InProcessPool::spawn(id, catalog.clone()))
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self::new(pools, catalog))
    }
}

impl<P> ParallelExecutor<P>
where
    P: Service<BatchRequest, Response = BatchResponse, Error = PoolError>
        + PoolStatus
        + Clone
        + Send
        + 'static,
    P::Future: Send,
{
    /// An executor over `pools` that resolve states through `catalog`.
    pub fn new(pools: Vec<P>, catalog: StateCatalog) -> Self {
        let throughput = vec![Ewma::new(0.2); pools.len()];
        Self {
            pools,
            catalog,
            costs: Mutex::new(CostModel::default()),
            throughput: Mutex::new(throughput),
            fallback_enabled: true,
            head_start: true,
            probes: Mutex::default(),
        }
    }

    /// Routes before any transaction executes: the commit gets no head start, and the pools
    /// execute the whole block. For comparison; the head start only hides routing time.
    pub fn without_head_start(mut self) -> Self {
        self.head_start = false;
        self
    }

    /// Disables the sequential fallback, so every block with two or more transactions goes
    /// through pools and the commit. For tests of exactness and for measuring the parallel path.
    pub fn without_fallback(mut self) -> Self {
        self.fallback_enabled = false;
        self
    }

    /// Number of pools.
    pub fn pools(&self) -> usize {
        self.pools.len()
    }

    /// The pools, in index order.
    pub fn pool_handles(&self) -> &[P] {
        &self.pools
    }

    /// Pools taking work now (at least 1, so that decisions stay defined when all are down).
    fn live_pools(&self) -> usize {
        self.pools.iter().filter(|p| p.available()).count().max(1)
    }

    /// A copy of the learned cost model.
    pub fn cost_model(&self) -> CostModel {
        self.costs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Sets the predicted speedup a block needs to run across pools (the fallback threshold),
    /// for run-time tuning; applies from the next block. Values below 1 are raised to 1.
    pub fn set_min_speedup(&self, min_speedup: f64) {
        if min_speedup.is_finite() {
            self.lock_costs().min_speedup = min_speedup.max(1.0);
        }
    }

    /// Replaces the learned cost model, e.g. with one calibrated on other pools when these
    /// cannot run the calibration blocks (remote replicas hold only the chain's state).
    pub fn set_cost_model(&self, model: CostModel) {
        *self.lock_costs() = model;
    }

    /// Relative throughput of each pool (1.0 each until measured).
    pub fn pool_weights(&self) -> Vec<f64> {
        let throughput = self.throughput.lock().unwrap_or_else(|e| e.into_inner());
        let mean = {
            let known: Vec<f64> = throughput.iter().filter_map(Ewma::get).collect();
            (!known.is_empty()).then(|| known.iter().sum::<f64>() / known.len() as f64)
        };
        throughput
            .iter()
            .map(|t| match (t.get(), mean) {
                (Some(t), Some(mean)) if mean > 0.0 => t / mean,
                _ => 1.0,
            })
            .collect()
    }

    /// Seeds the cost model by running a synthetic block both ways, so the first real block is
    /// already decided from measurements. The block has no conflicts: it measures overheads,
    /// and leaves the re-executed share to be learned from real blocks. Its fork is that of
    /// the synthetic blocks; [`Self::calibrate_for`] measures on another.
    pub async fn calibrate(&self) -> Result<()> {
        self.calibrate_on(None).await
    }

    /// [`Self::calibrate`] on blocks of `fork`, the fork of the blocks to come, so that their
    /// first one is decided from a measured rate (rates are kept per fork).
    pub async fn calibrate_for(&self, fork: SpecId) -> Result<()> {
        self.calibrate_on(Some(fork)).await
    }

    async fn calibrate_on(&self, fork: Option<SpecId>) -> Result<()> {
        crate::execute::warm_up_precompiles();
        // A large block teaches throughput, then a small one the fixed overhead of going
        // parallel at all (thread wake-ups, dispatch, the commit's tail), which is what decides
        // small blocks. The first runs of each also pay for cold threads and caches; the
        // averages forget them.
        for (txs, runs) in [(512, 4), (32, 8)] {
            let (mut block, state) = synthetic::independent_transfers(txs);
            if let Some(fork) = fork {
                // Plain transfers execute alike from Berlin on; only the rates' label changes.
                block.env.spec = fork;
            }
            let block = Arc::new(block);
            let base = Arc::new(state);
            self.lock_costs().enter_fork(block.env.spec);
            let started = Instant::now();
            let reference = crate::execute_sequential(&block, base.clone())?;
            let wall_nanos = started.elapsed().as_nanos() as u64;
            let cost: u64 = block
                .txs
                .iter()
                .map(|tx| estimated_cost(tx, base.as_ref()))
                .sum();
            self.lock_costs().observe_sequential(
                cost,
                block.txs.len(),
                wall_nanos,
                reference.tx_nanos.iter().sum(),
            );
            if self.pools.len() < 2 {
                continue;
            }
            for _ in 0..runs {
                let run = self
                    .run_parallel(
                        &block,
                        base.clone(),
                        &crate::router::ContractRouter,
                        None,
                        Mode::Always,
                    )
                    .await?;
                debug_assert!(
                    crate::check::against_reference(&reference.result, &run.result).is_empty()
                );
            }
        }
        Ok(())
    }

    /// Executes `block` on `base`, in parallel when the cost model predicts a gain. `oracle` is
    /// for the [`crate::router::OracleRouter`] only.
    pub async fn execute(
        &self,
        block: &Arc<Block>,
        base: Arc<State>,
        router: &dyn Router,
        oracle: Option<&OracleFacts>,
    ) -> Result<ParallelRun> {
        let mode = if self.fallback_enabled {
            Mode::Decide
        } else {
            Mode::Always
        };
        self.run_parallel(block, base, router, oracle, mode).await
    }

    /// Executes `block` across the pools whatever the cost model predicts, and learns nothing
    /// from it: a warm-up, to wake the pools and their caches before a timed run. (Left to
    /// [`Self::execute`], a warm-up that fell back would leave the pools asleep since the
    /// previous block, and on a VM their cores too.)
    pub async fn warm_up(
        &self,
        block: &Arc<Block>,
        base: Arc<State>,
        router: &dyn Router,
        oracle: Option<&OracleFacts>,
    ) -> Result<ParallelRun> {
        self.run_parallel(block, base, router, oracle, Mode::WarmUp)
            .await
    }

    async fn run_parallel(
        &self,
        block: &Arc<Block>,
        base: Arc<State>,
        router: &dyn Router,
        oracle: Option<&OracleFacts>,
        mode: Mode,
    ) -> Result<ParallelRun> {
        let may_fall_back = mode == Mode::Decide;
        let learn = mode != Mode::WarmUp;
        let started = Instant::now();
        // Nothing to split: no estimates, no decision, and nothing learned (a lone transaction
        // measures its block's fixed work more than a rate). What an empty block pays here over
        // sequential execution is all bookkeeping, so there is as little as possible.
        if block.txs.len() < 2 {
            let declined = Declined::unrouted(Fallback::Trivial, 0);
            return self.run_sequential(block, base, declined, started, false);
        }
        let n = self.pools.len();
        // Pools that are down cannot help: decide on the live ones.
        let live_pools = self.live_pools();
        self.lock_costs().enter_fork(block.env.spec);
        // A block that cannot win even split evenly, costed without the state
        // (`presumed_cost`), is declined before the estimates, which look up every recipient
        // with no input (1-5% of a small block's time). It teaches nothing: a small block's
        // time per unit of cost is mostly its fixed work.
        if may_fall_back {
            let presumed = block.txs.iter().map(presumed_cost).sum();
            let quick = self
                .lock_costs()
                .hopeless(presumed, 0, live_pools, block.txs.len());
            if let Some(fallback) = quick
                .filter(|f| matches!(f, Fallback::NotWorthIt { .. }))
                .filter(|f| !self.probe_due(f))
            {
                tracing::debug!(
                    block = block.number(),
                    ?fallback,
                    "declined before the estimates"
                );
                let declined = Declined::unrouted(fallback, 0);
                return self.run_sequential(block, base, declined, started, false);
            }
        }
        // While the router works one core would idle: the commit executes the block's first
        // transactions on it, in order, and the pools take up the block where it stopped.
        let live = if self.head_start {
            LiveCommit::with_head_start(block.clone(), base.clone(), crate::cpu::current_core())
        } else {
            LiveCommit::new(block.clone(), base.clone())
        };
        let spawn_commit = |live: &Arc<LiveCommit>| {
            let live = live.clone();
            tokio::task::spawn_blocking(move || live.finish())
        };
        let early_commit = self.head_start.then(|| spawn_commit(&live));
        let head_start = HeadStart {
            live: &live,
            dispatched: false,
        };
        let estimates: Vec<u64> = block
            .txs
            .iter()
            .map(|tx| estimated_cost(tx, base.as_ref()))
            .collect();
        let costs = router
            .known_costs(block, &estimates, oracle)
            .unwrap_or(estimates);
        let total_cost: u64 = costs.iter().sum();
        // A block too small to win even with perfect routing is not routed at all.
        let hopeless = may_fall_back
            .then(|| {
                let floor = if router.keeps_senders_together() {
                    heaviest_sender(block, &costs)
                } else {
                    0
                };
                self.lock_costs()
                    .hopeless(total_cost, floor, live_pools, block.txs.len())
            })
            .flatten()
            .filter(|f| !self.probe_due(f));
        if let Some(fallback) = hopeless {
            tracing::debug!(block = block.number(), ?fallback, "declined before routing");
            let declined = Declined::unrouted(fallback, total_cost);
            return self.run_sequential(block, base, declined, started, learn);
        }
        let weights = self.pool_weights();
        let routing = router.route(&RouteInput {
            block,
            costs: &costs,
            pool_weights: &weights,
            state: Some(base.as_ref()),
            oracle,
        });
        let routing_nanos = started.elapsed().as_nanos() as u64;
        let plan = plan(&routing, &costs, n, live_pools);
        let prediction = self.lock_costs().predict(&plan);
        if may_fall_back {
            tracing::debug!(
                block = block.number(),
                ?plan,
                ?prediction,
                "parallel or not"
            );
            let fallback = self.lock_costs().fallback(&plan);
            if let Some(fallback) = fallback.filter(|f| !self.probe_due(f)) {
                let declined = Declined {
                    routing,
                    fallback,
                    prediction,
                    routing_nanos,
                    total_cost,
                };
                return self.run_sequential(block, base, declined, started, learn);
            }
        }

        if learn {
            self.lock_probes().ran_parallel();
        }
        let head = head_start.dispatch();
        let commit = early_commit.unwrap_or_else(|| spawn_commit(&live));
        let state = self.catalog.register(base.clone());
        let dispatch = async {
            // Also run if this future is dropped midway: pools helping the commit wait for the
            // close, and the catalog would keep the state.
            let _done = DispatchDone {
                live: &live,
                catalog: &self.catalog,
                state,
            };
            self.dispatch(block, state, &routing, &costs, &live, &head)
                .await
        };
        let (dispatched, commit) = tokio::join!(dispatch, commit);
        let before_commit_nanos = dispatched
            .finished
            .saturating_duration_since(started)
            .as_nanos() as u64;
        let (result, commit) = commit.map_err(|e| crate::Error::InvalidBlock {
            number: block.number(),
            reason: format!("commit task failed: {e}"),
        })??;
        let wall_nanos = started.elapsed().as_nanos() as u64;

        if learn {
            self.learn(&costs, &dispatched, &commit, wall_nanos, routing_nanos);
        }
        Ok(ParallelRun {
            result,
            routing,
            fallback: None,
            prediction,
            commit,
            pool_busy_nanos: dispatched.pool_busy_nanos,
            failed_pools: dispatched.failed_pools,
            routing_nanos,
            dispatch_nanos: before_commit_nanos,
            wall_nanos,
        })
    }

    /// The fallback: the sequential reference itself, which the cost model learns from (with
    /// `learn`).
    fn run_sequential(
        &self,
        block: &Block,
        base: Arc<State>,
        declined: Declined,
        started: Instant,
        learn: bool,
    ) -> Result<ParallelRun> {
        let Declined {
            routing,
            fallback,
            prediction,
            routing_nanos,
            total_cost,
        } = declined;
        let executing = learn.then(Instant::now);
        let run = crate::execute_sequential(block, base)?;
        // Sequential cost is execution alone: routing before a late decline is not part of it.
        if let Some(executing) = executing {
            self.lock_costs().observe_sequential(
                total_cost,
                block.txs.len(),
                executing.elapsed().as_nanos() as u64,
                run.tx_nanos.iter().sum(),
            );
        }
        let wall_nanos = started.elapsed().as_nanos() as u64;
        let n = block.txs.len();
        Ok(ParallelRun {
            result: run.result,
            routing,
            fallback: Some(fallback),
            prediction,
            // Running sequentially wastes nothing.
            commit: CommitReport {
                reexecuted: vec![false; n],
                validate_nanos: wall_nanos,
                speculative_nanos: run.tx_nanos,
                pools: vec![Some(0); n],
                ..CommitReport::default()
            },
            pool_busy_nanos: vec![0; self.pools.len()],
            failed_pools: Vec::new(),
            routing_nanos,
            dispatch_nanos: routing_nanos,
            wall_nanos,
        })
    }

    /// Counts a decline; true when this block should probe the parallel path instead.
    fn probe_due(&self, fallback: &Fallback) -> bool {
        let mut probes = self.lock_probes();
        let due = probes.probe_instead(fallback);
        if due {
            let declined = probes.declined();
            tracing::debug!(declined, "probing the parallel path to refresh its costs");
        }
        due
    }

    fn lock_probes(&self) -> std::sync::MutexGuard<'_, Probes> {
        self.probes.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_costs(&self) -> std::sync::MutexGuard<'_, CostModel> {
        self.costs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends the routed work to the pools and delivers what non-streaming pools answer to the
    /// commit. Pinned routings send one batch per pool; otherwise work units go
    /// to pools with a free slot, largest first, chosen by power of two choices over load.
    /// Pools that are down get nothing: a pinned batch of theirs moves whole (its groups stay
    /// together) to a live pool. A failed pool takes no more work in this block, and its unit
    /// is re-dispatched once to another pool; whatever never arrives, the commit executes
    /// locally. Once the commit has stopped (abandoned speculation), queued work is dropped.
    /// The transactions of the block's `head` are committed already: no pool gets them.
    async fn dispatch(
        &self,
        block: &Arc<Block>,
        state: StateId,
        routing: &Routing,
        costs: &[u64],
        live: &Arc<LiveCommit>,
        head: &Head,
    ) -> Dispatched {
        let n = self.pools.len();
        // Work not yet sent. In-process pools take units from it themselves once done with
        // theirs; a pinned routing's batches are the dispatcher's.
        let queue = Arc::new(UnitQueue::default());
        let shared = (!routing.pinned).then(|| queue.clone());
        let call = |pool: usize, unit: WorkUnit| {
            let live = live.clone();
            let request = BatchRequest {
                state,
                block: block.clone(),
                txs: unit.txs.clone(),
                sink: Some(ResultSink(live.clone())),
                more: shared.clone(),
                after_head: unit.after_head.clone(),
            };
            let service = self.pools[pool].clone();
            async move {
                let mut response = service.oneshot(request).await;
                // A pool that does not stream (a remote one) answers with its results at once.
                if let Ok(response) = &mut response
                    && !response.results.is_empty()
                {
                    live.deliver(std::mem::take(&mut response.results), false);
                }
                (pool, unit, response)
            }
        };
        let mut rng = Rng::new(block.number().wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut busy = vec![0usize; n];
        let mut failed = vec![false; n];
        let mut in_flight = FuturesUnordered::new();
        if routing.pinned {
            for (pool, txs) in routing.batches(n).into_iter().enumerate() {
                let Some(unit) = after_head(txs, head) else {
                    continue;
                };
                if self.pools[pool].available() {
                    busy[pool] += 1;
                    in_flight.push(call(pool, unit));
                } else {
                    queue.push_back(unit);
                }
            }
        } else {
            for unit in routing.work_units(n) {
                if let Some(unit) = after_head(unit, head) {
                    queue.push_back(unit);
                }
            }
        }
        let mut out = Dispatched {
            pool_cost: vec![0; n],
            pool_busy_nanos: vec![0; n],
            failed_pools: Vec::new(),
            finished: Instant::now(),
        };
        loop {
            if live.is_stopped() {
                queue.clear();
            }
            // Fill free slots of live pools, two random choices at a time.
            while !queue.is_empty() {
                let free: Vec<usize> = (0..n)
                    .filter(|p| {
                        let pool = &self.pools[*p];
                        !failed[*p] && pool.available() && busy[*p] < pool.slots().max(1)
                    })
                    .collect();
                let Some(pool) = p2c(&free, |p| self.pools[p].load(), &mut rng) else {
                    break;
                };
                // A pool may have taken the last unit since.
                let Some(unit) = queue.pop() else {
                    break;
                };
                busy[pool] += 1;
                in_flight.push(call(pool, unit));
            }
            let Some((pool, unit, response)) = in_flight.next().await else {
                break;
            };
            busy[pool] -= 1;
            match response {
                Ok(response) => {
                    out.pool_busy_nanos[pool] += response.busy_nanos;
                    out.pool_cost[pool] += unit
                        .txs
                        .iter()
                        .chain(&response.pulled)
                        .map(|i| costs[*i])
                        .sum::<u64>();
                }
                Err(error) => {
                    tracing::warn!(pool, cause = %error, "pool failed; its work goes elsewhere or to the commit");
                    failed[pool] = true;
                    if error.is_retryable() && !unit.retried {
                        queue.push_front(WorkUnit {
                            retried: true,
                            ..unit
                        });
                    }
                    out.failed_pools.push((pool, error));
                }
            }
        }
        // Anything still queued had no live pool left: the commit executes it locally.
        out.finished = Instant::now();
        out
    }

    fn learn(
        &self,
        costs: &[u64],
        dispatched: &Dispatched,
        commit: &CommitReport,
        wall_nanos: u64,
        routing_nanos: u64,
    ) {
        let busy = &dispatched.pool_busy_nanos;
        let reexecuted_cost = commit
            .reexecuted
            .iter()
            .zip(costs)
            .filter(|(r, _)| **r)
            .map(|(_, c)| *c)
            .sum();
        self.costs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observe_parallel(&ParallelSample {
                txs: costs.len(),
                pools: busy.iter().filter(|nanos| **nanos > 0).count(),
                total_cost: dispatched.pool_cost.iter().sum(),
                busy_nanos: busy.iter().sum(),
                busiest_pool_nanos: busy.iter().copied().max().unwrap_or(0),
                wall_nanos,
                routing_nanos,
                validate_nanos: commit.validate_nanos,
                reexecute_nanos: commit.reexecute_nanos,
                reexecuted_txs: commit.reexecuted_txs(),
                reexecuted_cost,
                abandoned: commit.abandoned_at.is_some(),
            });
        let mut throughput = self.throughput.lock().unwrap_or_else(|e| e.into_inner());
        for (pool, (cost, nanos)) in dispatched.pool_cost.iter().zip(busy).enumerate() {
            if *cost > 0 && *nanos > 0 {
                throughput[pool].observe(*cost as f64 / *nanos as f64);
            }
        }
    }
}
