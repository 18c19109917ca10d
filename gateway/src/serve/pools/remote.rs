//! A remote executor as a pool: a `tower::Service` of batches over the protocol, with a timeout
//! on every call, a circuit breaker, a PeakEWMA load estimate, and the head its replica holds.

use super::{
    PoolMetrics,
    breaker::{Breaker, Circuit},
    client::{CallError, Client},
};
use crate::serve::config::RemoteSettings;
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Instant,
};
use switchyard_executors::{
    Block,
    balance::{LoadEstimate, PoolStatus},
    pool::{BatchFuture, BatchRequest, BatchResponse, PoolError, StateCatalog},
    protocol::{BlockRef, ExecuteRequest, path},
};
use tokio::sync::{Notify, watch};
use tracing::warn;

/// One remote executor, shared by the pool handle, its sync task and the metrics.
#[derive(Debug)]
pub struct Remote {
    /// Pool index (the `pool` label).
    pub id: usize,
    /// `host:port`, for logs.
    pub addr: String,
    /// The connection.
    pub client: Client,
    /// Timeouts, breaker and balancer settings.
    pub settings: RemoteSettings,
    catalog: StateCatalog,
    breaker: Mutex<Breaker>,
    /// Latency and pending batches, for the balancer.
    pub load: Arc<LoadEstimate>,
    /// The block the executor's replica holds, as last acknowledged.
    pub synced: watch::Sender<Option<BlockRef>>,
    /// Set by the last health check.
    pub healthy: AtomicBool,
    /// Batches the executor runs at once (from its health report).
    pub threads: AtomicUsize,
    /// Wakes the sync task early (a refusal says the replica is behind).
    pub resync: Notify,
    /// This pool's metrics.
    pub metrics: PoolMetrics,
}

impl Remote {
    /// A remote pool `id` at `addr`, resolving pre-states in `catalog`.
    pub fn new(
        id: usize,
        addr: &str,
        settings: &RemoteSettings,
        catalog: StateCatalog,
        metrics: PoolMetrics,
    ) -> Self {
        Self {
            id,
            addr: addr.to_owned(),
            client: Client::new(addr, settings.max_message_bytes),
            settings: settings.clone(),
            catalog,
            breaker: Mutex::new(Breaker::new(
                settings.failures_to_open,
                settings.backoff,
                settings.backoff_max,
            )),
            load: Arc::new(LoadEstimate::new(
                settings.ewma_default_rtt,
                settings.ewma_decay,
            )),
            synced: watch::channel(None).0,
            healthy: AtomicBool::new(false),
            threads: AtomicUsize::new(1),
            resync: Notify::new(),
            metrics,
        }
    }

    fn breaker(&self) -> std::sync::MutexGuard<'_, Breaker> {
        self.breaker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The circuit now.
    pub fn circuit(&self) -> Circuit {
        self.breaker().circuit(Instant::now())
    }

    /// Records a successful exchange.
    pub fn succeeded(&self) {
        self.breaker().success();
    }

    /// Records a failed exchange: counted, logged, and toward opening the circuit.
    pub fn failed(&self, error: &CallError, reason: &'static str) {
        self.breaker().failure(Instant::now());
        self.metrics.failure(reason);
        warn!(pool = self.id, addr = %self.addr, cause = %error, "remote pool call failed");
        if matches!(error, CallError::Refused(e) if e.needs_sync()) {
            self.resync.notify_one();
        }
    }

    /// The block a batch's pre-state is after: the block before the batch's block, named by
    /// the hash the pre-state records for it. `None` for a state that is not a chain head
    /// (the start-up calibration's synthetic blocks), which no replica can hold.
    fn parent_of(&self, request: &BatchRequest) -> Option<BlockRef> {
        let number = request.block.number().checked_sub(1)?;
        let state = self.catalog.get(request.state)?;
        use switchyard_executors::StateReader;
        Some(BlockRef {
            number,
            hash: state.block_hash(number)?,
        })
    }

    async fn execute(&self, request: BatchRequest) -> Result<BatchResponse, PoolError> {
        let fail = |reason: String| PoolError::Remote {
            pool: self.id,
            reason,
        };
        let Some(parent) = self.parent_of(&request) else {
            return Err(PoolError::UnknownState {
                pool: self.id,
                state: request.state,
            });
        };
        if self.circuit() == Circuit::Open {
            return Err(fail("circuit open".into()));
        }
        let _pending = self.load.start();
        let _in_flight = self.metrics.in_flight(request.txs.len());
        // Only the batch's transactions travel, renumbered 0..k; answers are mapped back.
        let block = &request.block;
        if let Some(&index) = request.txs.iter().find(|i| **i >= block.txs.len()) {
            return Err(PoolError::BadIndex {
                index,
                len: block.txs.len(),
            });
        }
        let message = ExecuteRequest {
            parent,
            block: Block {
                env: block.env.clone(),
                txs: request.txs.iter().map(|i| block.txs[*i].clone()).collect(),
                header: None,
            },
            txs: (0..request.txs.len()).collect(),
        };
        let timeout = self.settings.timeout;
        let call = async {
            // The diff of the parent block may still be on its way: wait for the replica to
            // catch up (or pass it, which the executor refuses as stale).
            let mut synced = self.synced.subscribe();
            let _ = synced
                .wait_for(|head| head.is_some_and(|h| h.number >= parent.number))
                .await;
            self.client
                .post::<_, BatchResponse>(path::EXECUTE, &message)
                .await
        };
        let outcome = match tokio::time::timeout(timeout, call).await {
            Ok(outcome) => outcome,
            Err(_) => Err(CallError::Timeout(timeout)),
        };
        match outcome {
            Ok(mut response) => {
                self.succeeded();
                for tx in &mut response.results {
                    let Some(index) = request.txs.get(tx.index) else {
                        return Err(fail(format!("answer names tx {} of the batch", tx.index)));
                    };
                    tx.index = *index;
                    tx.pool = self.id;
                }
                Ok(response)
            }
            Err(error) => {
                self.failed(&error, error.label());
                Err(fail(error.to_string()))
            }
        }
    }
}

/// The pool handle the dispatcher clones.
#[derive(Debug, Clone)]
pub struct RemotePool(pub Arc<Remote>);

impl PoolStatus for RemotePool {
    fn available(&self) -> bool {
        let remote = &self.0;
        remote.circuit() != Circuit::Open
            && remote.healthy.load(Ordering::Relaxed)
            && remote.synced.borrow().is_some()
    }

    fn load(&self) -> f64 {
        self.0.load.cost()
    }

    fn slots(&self) -> usize {
        self.0.threads.load(Ordering::Relaxed).max(1)
    }
}

impl tower::Service<BatchRequest> for RemotePool {
    type Response = BatchResponse;
    type Error = PoolError;
    type Future = BatchFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), PoolError>> {
        // Availability is the balancer's business (`PoolStatus`); every call is bounded by the
        // timeout.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: BatchRequest) -> Self::Future {
        let remote = self.0.clone();
        Box::pin(async move { remote.execute(request).await })
    }
}
