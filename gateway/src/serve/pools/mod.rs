//! The executor pools `serve` runs blocks on: in-process pools and remote executors, mixed.
//!
//! Pool indices (the `pool` metric label) are the in-process pools first, then the remote ones
//! in config order. Every pool carries a PeakEWMA [`LoadEstimate`] so the dispatcher's power of
//! two choices compares like with like; remote pools add a timeout on every call, a circuit
//! breaker, health checks and state sync.
//!
//! # Layout
//! - [`config`]: the `[executor]` config table and its checked settings.
//! - [`client`]: protocol messages over HTTP/2 to one executor.
//! - [`remote`]: a remote executor as a `tower::Service` of batches.
//! - [`breaker`]: the consecutive-failure circuit breaker.
//! - [`sync`]: health checks, snapshots and per-block diffs.

pub mod breaker;
pub mod client;
pub mod config;
pub mod remote;
pub mod sync;

use super::{chain::Chain, config::Settings, metrics::Metrics};
use prometheus::{IntCounterVec, IntGauge};
use remote::{Remote, RemotePool};
use std::{
    sync::{Arc, atomic::Ordering},
    task::{Context, Poll},
    time::Duration,
};
use switchyard_executors::{
    balance::{LoadEstimate, PoolStatus},
    parallel::ParallelExecutor,
    pool::{BatchFuture, BatchRequest, BatchResponse, InProcessPool, PoolError, StateCatalog},
};
use sync::SyncFeed;
use tokio::task::JoinHandle;

/// The executor `serve` runs blocks with.
pub type Executor = ParallelExecutor<Pool>;

/// One pool's metric handles.
#[derive(Debug, Clone)]
pub struct PoolMetrics {
    label: String,
    in_flight: IntGauge,
    failures: IntCounterVec,
    syncs: IntCounterVec,
}

impl PoolMetrics {
    fn new(metrics: &Metrics, pool: usize, kind: &str) -> Self {
        let label = pool.to_string();
        metrics.pool_info.with_label_values(&[&label, kind]).set(1);
        for reason in super::metrics::POOL_FAILURES {
            metrics.pool_failures.with_label_values(&[&label, reason]);
        }
        for sync in ["snapshot", "diff"] {
            metrics.pool_syncs.with_label_values(&[&label, sync]);
        }
        Self {
            in_flight: metrics.pool_in_flight.with_label_values(&[&label]),
            failures: metrics.pool_failures.clone(),
            syncs: metrics.pool_syncs.clone(),
            label,
        }
    }

    /// Counts a batch's `txs` transactions in flight until the guard is dropped (also when
    /// the caller drops the batch's future).
    pub fn in_flight(&self, txs: usize) -> InFlightGuard {
        let txs = txs as i64;
        self.in_flight.add(txs);
        InFlightGuard(self.in_flight.clone(), txs)
    }

    /// Counts a failure.
    pub fn failure(&self, reason: &str) {
        self.failures
            .with_label_values(&[&self.label, reason])
            .inc();
    }

    /// Counts a state sync.
    pub fn synced(&self, kind: &str) {
        self.syncs.with_label_values(&[&self.label, kind]).inc();
    }
}

/// Takes its transactions off the in-flight gauge when dropped.
#[derive(Debug)]
pub struct InFlightGuard(IntGauge, i64);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.sub(self.1);
    }
}

/// A pool in process or a remote executor.
#[derive(Debug, Clone)]
pub enum Pool {
    /// An in-process pool and its load estimate.
    Local {
        /// The pool.
        pool: InProcessPool,
        /// Its latency and pending batches.
        load: Arc<LoadEstimate>,
        /// Its metrics.
        metrics: PoolMetrics,
    },
    /// A remote executor.
    Remote(RemotePool),
}

impl PoolStatus for Pool {
    fn available(&self) -> bool {
        match self {
            Self::Local { .. } => true,
            Self::Remote(remote) => remote.available(),
        }
    }

    fn load(&self) -> f64 {
        match self {
            Self::Local { load, .. } => load.cost(),
            Self::Remote(remote) => remote.load(),
        }
    }

    fn slots(&self) -> usize {
        match self {
            Self::Local { .. } => 1,
            Self::Remote(remote) => remote.slots(),
        }
    }
}

impl tower::Service<BatchRequest> for Pool {
    type Response = BatchResponse;
    type Error = PoolError;
    type Future = BatchFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), PoolError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: BatchRequest) -> Self::Future {
        match self {
            Self::Local {
                pool,
                load,
                metrics,
            } => {
                let tracking = (load.start(), metrics.in_flight(request.txs.len()));
                let response = pool.call(request);
                Box::pin(async move {
                    let response = response.await;
                    drop(tracking);
                    response
                })
            }
            Self::Remote(remote) => remote.call(request),
        }
    }
}

/// The pools, their background tasks and the block observer that feeds remote replicas.
#[derive(Debug)]
pub struct Pools {
    /// The executor over every pool.
    pub executor: Executor,
    /// Diffs for remote replicas; `None` without remote pools.
    pub feed: Option<Arc<SyncFeed>>,
    /// Sync and metrics tasks, to abort on shutdown.
    pub tasks: Vec<JoinHandle<()>>,
}

/// Starts the in-process pools and connects the remote ones (in the background: `serve` does
/// not wait for executors to be up; a pool takes work once synced).
pub fn start(settings: &Settings, metrics: &Metrics, chain: &Arc<Chain>) -> std::io::Result<Pools> {
    let catalog = StateCatalog::new();
    let remote = &settings.remote;
    let mut pools = Vec::new();
    for id in 0..settings.pools {
        pools.push(Pool::Local {
            pool: InProcessPool::spawn(id, catalog.clone())?,
            load: Arc::new(LoadEstimate::new(
                remote.ewma_default_rtt,
                remote.ewma_decay,
            )),
            metrics: PoolMetrics::new(metrics, id, "in_process"),
        });
    }
    let remotes: Vec<Arc<Remote>> = remote
        .addrs
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            let id = settings.pools + i;
            Arc::new(Remote::new(
                id,
                addr,
                remote,
                catalog.clone(),
                PoolMetrics::new(metrics, id, "remote"),
            ))
        })
        .collect();
    pools.extend(remotes.iter().cloned().map(|r| Pool::Remote(RemotePool(r))));
    let mut executor = ParallelExecutor::new(pools, catalog);
    if !settings.fallback {
        executor = executor.without_fallback();
    }
    let mut tasks = Vec::new();
    let feed = (!remotes.is_empty()).then(|| Arc::new(SyncFeed::new()));
    if let Some(feed) = &feed {
        for remote in &remotes {
            tasks.push(tokio::spawn(sync::run(
                remote.clone(),
                feed.clone(),
                chain.clone(),
            )));
        }
    }
    tasks.push(tokio::spawn(refresh_gauges(
        executor.pool_handles().to_vec(),
        metrics.clone(),
        chain.clone(),
    )));
    Ok(Pools {
        executor,
        feed,
        tasks,
    })
}

/// Refreshes the sampled pool gauges (up, latency, circuit, sync lag) every second.
async fn refresh_gauges(pools: Vec<Pool>, metrics: Metrics, chain: Arc<Chain>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let head = chain.head().block.number();
        for (id, pool) in pools.iter().enumerate() {
            let label = id.to_string();
            let (estimate, circuit, lag) = match pool {
                Pool::Local { load, .. } => (load.clone(), 0, 0),
                Pool::Remote(RemotePool(remote)) => {
                    let circuit = remote.circuit().gauge();
                    let lag = remote
                        .synced
                        .borrow()
                        .map_or(-1, |held| head.saturating_sub(held.number) as i64);
                    (remote.load.clone(), circuit, lag)
                }
            };
            let up = pool.available()
                && match pool {
                    Pool::Local { .. } => true,
                    Pool::Remote(RemotePool(r)) => r.healthy.load(Ordering::Relaxed),
                };
            metrics.pool_up.with_label_values(&[&label]).set(up.into());
            metrics
                .pool_latency
                .with_label_values(&[&label])
                .set(estimate.rtt().as_secs_f64());
            metrics
                .pool_circuit
                .with_label_values(&[&label])
                .set(circuit);
            metrics.pool_sync_lag.with_label_values(&[&label]).set(lag);
        }
    }
}
