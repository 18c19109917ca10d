//! The parallel driver: route a block, run the batches on pools, commit in order, learn.

use crate::{
    block::Block,
    commit::{CommitReport, ordered_commit, ordered_commit_streaming},
    cost::{CostModel, Ewma, Fallback, ParallelSample},
    error::Result,
    execute::TxOutcome,
    pool::{
        BatchRequest, BatchResponse, InProcessPool, PoolError, ResultSink, SpeculativeTx,
        StateCatalog, StateId,
    },
    router::{RouteInput, Router, Routing},
    sequential::BlockResult,
    state::State,
    synthetic,
};
use futures_util::{StreamExt, stream::FuturesUnordered};
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, mpsc},
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
    /// What the commit re-executed (all `false` on fallback: nothing was wasted).
    pub commit: CommitReport,
    /// Speculative time of each transaction in its pool (0 when not run speculatively).
    pub speculative_nanos: Vec<u64>,
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

/// What dispatching a block to the pools produced, besides the streamed results.
#[derive(Debug)]
struct Dispatched {
    pool_busy_nanos: Vec<u64>,
    failed_pools: Vec<(usize, PoolError)>,
    finished: Instant,
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
    P: Service<BatchRequest, Response = BatchResponse, Error = PoolError> + Clone + Send + 'static,
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
        }
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

    /// A copy of the learned cost model.
    pub fn cost_model(&self) -> CostModel {
        self.costs.lock().unwrap_or_else(|e| e.into_inner()).clone()
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
    /// already decided from measurements.
    pub async fn calibrate(&self) -> Result<()> {
        crate::execute::warm_up_precompiles();
        let (block, state) = synthetic::p2p_block(512, 512, 7);
        let block = Arc::new(block);
        let base = Arc::new(state);
        let started = Instant::now();
        let reference = crate::execute_sequential(&block, base.clone())?;
        let cost: u64 = block.txs.iter().map(|t| t.env.gas_limit).sum();
        self.costs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observe_sequential(cost, started.elapsed().as_nanos() as u64);
        if self.pools.len() > 1 {
            let run = self
                .run_parallel(&block, base, &crate::router::RoundRobinRouter, None, None)
                .await?;
            debug_assert!(
                crate::check::against_reference(&reference.result, &run.result).is_empty()
            );
        }
        Ok(())
    }

    /// Executes `block` on `base`, in parallel when the cost model predicts a gain.
    pub async fn execute(
        &self,
        block: &Arc<Block>,
        base: Arc<State>,
        router: &dyn Router,
        oracle: Option<&[TxOutcome]>,
    ) -> Result<ParallelRun> {
        let may_fall_back = self.fallback_enabled.then_some(());
        self.run_parallel(block, base, router, oracle, may_fall_back)
            .await
    }

    async fn run_parallel(
        &self,
        block: &Arc<Block>,
        base: Arc<State>,
        router: &dyn Router,
        oracle: Option<&[TxOutcome]>,
        may_fall_back: Option<()>,
    ) -> Result<ParallelRun> {
        let started = Instant::now();
        let n = self.pools.len();
        let costs: Vec<u64> = block.txs.iter().map(|t| t.env.gas_limit).collect();
        let weights = self.pool_weights();
        let routing = router.route(&RouteInput {
            block,
            costs: &costs,
            pool_weights: &weights,
            state: Some(base.as_ref()),
            oracle,
        });
        let routing_nanos = started.elapsed().as_nanos() as u64;
        let pool_costs = routing.pool_costs(n);
        let total_cost: u64 = costs.iter().sum();

        let fallback = match may_fall_back {
            Some(()) => self
                .costs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .fallback(&pool_costs, block.txs.len()),
            None => None,
        };
        if let Some(fallback) = fallback {
            let (result, mut commit) = ordered_commit(block, base, Vec::new())?;
            let wall_nanos = started.elapsed().as_nanos() as u64;
            self.costs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .observe_sequential(total_cost, wall_nanos);
            // Running sequentially wastes nothing.
            commit.reexecuted.fill(false);
            commit.reexecuted_gas = 0;
            commit.validate_nanos += std::mem::take(&mut commit.reexecute_nanos);
            return Ok(ParallelRun {
                result,
                routing,
                fallback: Some(fallback),
                commit,
                speculative_nanos: vec![0; block.txs.len()],
                pool_busy_nanos: vec![0; n],
                failed_pools: Vec::new(),
                routing_nanos,
                dispatch_nanos: routing_nanos,
                wall_nanos,
            });
        }

        let state = self.catalog.register(base.clone());
        let (sink, results) = std::sync::mpsc::channel();
        let commit = {
            let (block, base) = (block.clone(), base.clone());
            tokio::task::spawn_blocking(move || ordered_commit_streaming(&block, base, results))
        };
        let dispatch = self.dispatch(block, state, &routing, sink);
        let (outcome, commit) = tokio::join!(dispatch, commit);
        self.catalog.remove(state);
        let Dispatched {
            pool_busy_nanos,
            failed_pools,
            finished,
        } = outcome;
        let before_commit_nanos = finished.saturating_duration_since(started).as_nanos() as u64;
        let (result, commit) = commit.map_err(|e| crate::Error::InvalidBlock {
            number: block.number(),
            reason: format!("commit task failed: {e}"),
        })??;
        let speculative_nanos = commit.speculative_nanos.clone();
        let wall_nanos = started.elapsed().as_nanos() as u64;

        self.learn(
            &costs,
            &pool_costs,
            &pool_busy_nanos,
            &commit,
            before_commit_nanos,
        );
        Ok(ParallelRun {
            result,
            routing,
            fallback: None,
            commit,
            speculative_nanos,
            pool_busy_nanos,
            failed_pools,
            routing_nanos,
            dispatch_nanos: before_commit_nanos,
            wall_nanos,
        })
    }

    /// Sends the routed work to the pools and forwards what non-streaming pools answer into
    /// the commit's stream. Pinned routings send one batch per pool; otherwise work units go
    /// to whichever pool is free, largest first, and a failed pool's unit is offered to the
    /// others (the commit re-executes whatever never arrives).
    async fn dispatch(
        &self,
        block: &Arc<Block>,
        state: StateId,
        routing: &Routing,
        sink: mpsc::Sender<SpeculativeTx>,
    ) -> Dispatched {
        let n = self.pools.len();
        let call = |pool: usize, txs: Vec<usize>| {
            let sink = sink.clone();
            let request = BatchRequest {
                state,
                block: block.clone(),
                txs: txs.clone(),
                stream: Some(ResultSink(sink.clone())),
            };
            let service = self.pools[pool].clone();
            async move {
                let response = service.oneshot(request).await;
                // A pool that does not stream (a remote one) answers with its results at once.
                if let Ok(response) = &response {
                    for tx in &response.results {
                        let _ = sink.send(tx.clone());
                    }
                }
                (pool, txs, response)
            }
        };
        let mut queue: VecDeque<Vec<usize>> = VecDeque::new();
        let mut in_flight = FuturesUnordered::new();
        if routing.pinned {
            for (pool, txs) in routing.batches(n).into_iter().enumerate() {
                if !txs.is_empty() {
                    in_flight.push(call(pool, txs));
                }
            }
        } else {
            queue.extend(routing.work_units(n));
            for pool in 0..n {
                if let Some(txs) = queue.pop_front() {
                    in_flight.push(call(pool, txs));
                }
            }
        }
        let mut out = Dispatched {
            pool_busy_nanos: vec![0; n],
            failed_pools: Vec::new(),
            finished: Instant::now(),
        };
        let mut retried = false;
        while let Some((pool, txs, response)) = in_flight.next().await {
            match response {
                Ok(response) => {
                    out.pool_busy_nanos[pool] += response.busy_nanos;
                    if let Some(next) = queue.pop_front() {
                        in_flight.push(call(pool, next));
                    }
                }
                Err(error) => {
                    tracing::warn!(pool, cause = %error, "pool failed; its work goes elsewhere or to the commit");
                    out.failed_pools.push((pool, error));
                    // One retry of the failed unit on a surviving pool, when one is idle.
                    let failed: Vec<usize> = out.failed_pools.iter().map(|(p, _)| *p).collect();
                    if !retried && let Some(other) = (0..n).find(|p| !failed.contains(p)) {
                        retried = true;
                        in_flight.push(call(other, txs));
                    }
                }
            }
        }
        out.finished = Instant::now();
        out
    }

    fn learn(
        &self,
        costs: &[u64],
        pool_costs: &[u64],
        pool_busy_nanos: &[u64],
        commit: &CommitReport,
        before_commit_nanos: u64,
    ) {
        let busiest = (0..pool_busy_nanos.len())
            .max_by_key(|p| pool_busy_nanos[*p])
            .unwrap_or(0);
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
                total_cost: costs.iter().sum(),
                busiest_pool_cost: pool_costs[busiest],
                busiest_pool_nanos: pool_busy_nanos[busiest],
                before_commit_nanos,
                validate_nanos: commit.validate_nanos,
                reexecuted_txs: commit.reexecuted_txs(),
                reexecuted_cost,
            });
        let mut throughput = self.throughput.lock().unwrap_or_else(|e| e.into_inner());
        for (pool, (cost, nanos)) in pool_costs.iter().zip(pool_busy_nanos).enumerate() {
            if *cost > 0 && *nanos > 0 {
                throughput[pool].observe(*cost as f64 / *nanos as f64);
            }
        }
    }
}
