//! Per-pool in-flight work: each executor pool wrapped in a [`MeteredPool`] that keeps
//! `switchyard_pool_in_flight{pool}` at the number of transactions handed to the pool and not
//! yet answered.
//!
//! The count lives here, around the pool's `tower::Service`, rather than inside the executors:
//! it is a gateway metric, and any pool (in process now, remote later) gets it the same way.

use prometheus::{IntGauge, IntGaugeVec};
use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};
use switchyard_executors::{
    parallel::ParallelExecutor,
    pool::{BatchRequest, InProcessPool, StateCatalog},
};
use tower::Service;

/// The executor the sequencer runs: in-process pools, each metered.
pub type Executor = ParallelExecutor<MeteredPool>;

/// Starts `pools` in-process pools (at least one), each feeding its own series of `in_flight`
/// (label `pool` = its index, set to 0 at once so every pool has a series before its first batch).
/// Without `fallback`, every block of two or more transactions goes through the pools.
pub fn in_process_executor(
    pools: usize,
    fallback: bool,
    in_flight: &IntGaugeVec,
) -> std::io::Result<Executor> {
    let catalog = StateCatalog::new();
    let pools = (0..pools.max(1))
        .map(|id| {
            let gauge = in_flight.with_label_values(&[&id.to_string()]);
            gauge.set(0);
            InProcessPool::spawn(id, catalog.clone()).map(|pool| MeteredPool::new(pool, gauge))
        })
        .collect::<std::io::Result<Vec<_>>>()?;
    let executor = ParallelExecutor::new(pools, catalog);
    Ok(if fallback {
        executor
    } else {
        executor.without_fallback()
    })
}

/// A pool that counts the transactions of its unanswered batches in a gauge.
#[derive(Debug, Clone)]
pub struct MeteredPool<P = InProcessPool> {
    inner: P,
    in_flight: IntGauge,
}

impl<P> MeteredPool<P> {
    /// Wraps `inner`, counting in `in_flight`.
    pub fn new(inner: P, in_flight: IntGauge) -> Self {
        Self { inner, in_flight }
    }
}

impl<P> Service<BatchRequest> for MeteredPool<P>
where
    P: Service<BatchRequest>,
    P::Future: Send + 'static,
{
    type Response = P::Response;
    type Error = P::Error;
    type Future = Pin<Box<dyn Future<Output = Result<P::Response, P::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), P::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: BatchRequest) -> Self::Future {
        let guard = InFlight::add(&self.in_flight, request.txs.len() as i64);
        let response = self.inner.call(request);
        Box::pin(async move {
            let _guard = guard;
            response.await
        })
    }
}

/// Takes its transactions off the gauge when dropped: on the answer, and also when the caller
/// gives up on the batch, so the gauge never drifts.
struct InFlight {
    gauge: IntGauge,
    txs: i64,
}

impl InFlight {
    fn add(gauge: &IntGauge, txs: i64) -> Self {
        gauge.add(txs);
        Self {
            gauge: gauge.clone(),
            txs,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.gauge.sub(self.txs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use switchyard_executors::pool::BatchResponse;
    use tokio::sync::oneshot;

    fn request(txs: usize) -> BatchRequest {
        BatchRequest {
            state: 0,
            block: Arc::new(switchyard_executors::synthetic::independent_transfers(txs).0),
            txs: (0..txs).collect(),
            stream: None,
        }
    }

    #[tokio::test]
    async fn counts_transactions_until_the_answer_or_the_caller_gives_up() {
        let gauge = IntGauge::new("in_flight", "test").unwrap();
        // The pool answers batches of 3 only once told to, all others at once.
        let (answer, answered) = oneshot::channel::<()>();
        let answered = Arc::new(std::sync::Mutex::new(Some(answered)));
        let pool = tower::service_fn(move |batch: BatchRequest| {
            let wait = (batch.txs.len() == 3)
                .then(|| answered.lock().unwrap().take())
                .flatten();
            async move {
                if let Some(wait) = wait {
                    let _ = wait.await;
                }
                Ok::<_, std::convert::Infallible>(BatchResponse {
                    results: Vec::new(),
                    busy_nanos: 0,
                })
            }
        });
        let mut metered = MeteredPool::new(pool, gauge.clone());

        let first = metered.call(request(3));
        let second = metered.call(request(2));
        assert_eq!(gauge.get(), 5, "both batches in flight");
        second.await.unwrap();
        assert_eq!(gauge.get(), 3, "the answered batch is off the gauge");
        answer.send(()).unwrap();
        first.await.unwrap();
        assert_eq!(gauge.get(), 0);

        let abandoned = metered.call(request(4));
        assert_eq!(gauge.get(), 4);
        drop(abandoned);
        assert_eq!(gauge.get(), 0, "a dropped batch is off the gauge");
    }
}
