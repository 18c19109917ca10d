//! Executor pools: each a `tower::Service` that executes a batch of a block's transactions.
//!
//! A batch is a subset of the block, in block order, executed against the block's pre-state
//! plus the batch's own earlier writes. Requests and responses are plain serializable data, so
//! a remote pool speaks the same protocol; the pre-state is named by a [`StateId`] that the pool
//! resolves in its [`StateCatalog`] rather than shipped with every batch.

use crate::{
    balance::PoolStatus,
    block::Block,
    commit::LiveCommit,
    execute::{ExecFailure, TxExecutor, TxOutcome},
    state::{Overlay, State},
};
use alloy_primitives::map::HashMap;
use serde::{Deserialize, Serialize};
use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::{
        Arc, Mutex, MutexGuard, RwLock,
        atomic::{AtomicU64, AtomicUsize, Ordering},
        mpsc,
    },
    task::{Context, Poll},
    time::Instant,
};
use tokio::sync::oneshot;

/// Names a base state registered with a [`StateCatalog`].
pub type StateId = u64;

/// Execute these transactions of `block` on the state `state`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchRequest {
    /// The block's pre-state.
    pub state: StateId,
    /// The block (shared, not copied, in process).
    pub block: Arc<Block>,
    /// Block indices to execute, ascending.
    pub txs: Vec<usize>,
    /// In process only: the block's commit, to deliver each result to as soon as it exists
    /// and to drive between chunks, so the commit runs behind the pools instead of after them.
    /// Results delivered here are not repeated in the response.
    #[serde(skip)]
    pub sink: Option<ResultSink>,
    /// In process only: the block's work units not yet taken. A pool done with `txs` takes
    /// the next unit itself rather than wait for the dispatcher to be scheduled and send it
    /// (a round trip through two wake-ups, on cores the pools keep busy).
    #[serde(skip)]
    pub more: Option<Arc<UnitQueue>>,
    /// In process only: `txs` continue the block's head, so they start from the state after
    /// it ([`WorkUnit::after_head`]). A remote pool starts from the pre-state; whatever it
    /// reads of the head's writes fails validation and is re-executed at commit.
    #[serde(skip)]
    pub after_head: Option<Arc<Overlay>>,
}

/// Work for one pool: block indices, ascending, executed in order on one state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkUnit {
    /// Block indices, ascending.
    pub txs: Vec<usize>,
    /// Sent again after the pool it went to failed.
    pub retried: bool,
    /// The state to start from when the unit continues the block's head (the transactions the
    /// commit executed while the router worked): the pre-state plus the head's writes.
    /// `None`: the pre-state.
    pub after_head: Option<Arc<Overlay>>,
}

impl WorkUnit {
    /// A unit of `txs` that starts from the pre-state.
    pub fn new(txs: Vec<usize>) -> Self {
        Self {
            txs,
            ..Self::default()
        }
    }
}

/// A block's work units not yet taken, shared by the dispatcher and the in-process pools.
#[derive(Debug, Default)]
pub struct UnitQueue(Mutex<VecDeque<WorkUnit>>);

impl UnitQueue {
    /// A queue holding `units`, first out first.
    pub fn new(units: impl IntoIterator<Item = WorkUnit>) -> Self {
        Self(Mutex::new(units.into_iter().collect()))
    }

    /// Takes the next unit.
    pub fn pop(&self) -> Option<WorkUnit> {
        self.lock().pop_front()
    }

    /// Puts a unit back at the head.
    pub fn push_front(&self, unit: WorkUnit) {
        self.lock().push_front(unit);
    }

    /// Puts a unit at the tail.
    pub fn push_back(&self, unit: WorkUnit) {
        self.lock().push_back(unit);
    }

    /// Drops every unit not yet taken.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Whether no unit is left.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<WorkUnit>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Where an in-process pool delivers its results: the block's live commit.
#[derive(Debug, Clone)]
pub struct ResultSink(pub Arc<LiveCommit>);

/// One speculative execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpeculativeTx {
    /// Block index.
    pub index: usize,
    /// The pool that ran it.
    pub pool: usize,
    /// Time spent executing and applying it locally, in nanoseconds.
    pub nanos: u64,
    /// The result; a failure here (e.g. a balance another pool was to provide) is settled by
    /// re-execution at commit.
    pub outcome: Result<TxOutcome, ExecFailure>,
}

/// The results of a batch, in the batch's order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BatchResponse {
    /// Speculative results, ascending by index.
    pub results: Vec<SpeculativeTx>,
    /// Time the pool spent executing the batch, in nanoseconds (driving the commit excluded).
    pub busy_nanos: u64,
    /// Transactions of the units the pool took from [`BatchRequest::more`] after its own,
    /// ascending per unit; empty for a remote pool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pulled: Vec<usize>,
}

/// What every pool's `tower::Service::call` returns: the batch's response, boxed so that
/// in-process, remote and test pools are one type to the dispatcher's callers.
pub type BatchFuture = Pin<Box<dyn Future<Output = Result<BatchResponse, PoolError>> + Send>>;

/// Why a pool could not serve a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum PoolError {
    /// The pool does not hold the requested pre-state.
    #[error("pool {pool} does not hold state {state}")]
    UnknownState {
        /// The pool.
        pool: usize,
        /// The state asked for.
        state: StateId,
    },
    /// The pool's thread is gone.
    #[error("pool {0} is closed")]
    Closed(usize),
    /// A remote pool could not be reached, timed out, refused the batch, or its circuit is
    /// open; the reason says which.
    #[error("pool {pool} failed: {reason}")]
    Remote {
        /// The pool.
        pool: usize,
        /// What went wrong.
        reason: String,
    },
    /// A request named a transaction the block does not have.
    #[error("batch names tx {index} but the block has {len}")]
    BadIndex {
        /// The index asked for.
        index: usize,
        /// Transactions in the block.
        len: usize,
    },
}

impl PoolError {
    /// Returns `true` when retrying the same batch elsewhere can succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::BadIndex { .. })
    }
}

/// Base states that in-process pools can execute on, shared with the dispatcher.
#[derive(Debug, Clone, Default)]
pub struct StateCatalog {
    states: Arc<RwLock<HashMap<StateId, Arc<State>>>>,
    next: Arc<AtomicU64>,
}

impl StateCatalog {
    /// An empty catalog.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a state and returns its id.
    pub fn register(&self, state: Arc<State>) -> StateId {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.states
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, state);
        id
    }

    /// The state with this id.
    pub fn get(&self, id: StateId) -> Option<Arc<State>> {
        self.states
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
            .cloned()
    }

    /// Forgets a state.
    pub fn remove(&self, id: StateId) {
        self.states
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id);
    }
}

/// Most streamed results held back before they are delivered to the commit.
const STREAM_CHUNK_TXS: usize = 8;
/// Execution time after which held-back results are delivered regardless of their number.
const STREAM_CHUNK_NANOS: u64 = 50_000;

/// Executes a batch speculatively on `base` (or `after_head`, see [`WorkUnit::after_head`])
/// plus the batch's own writes, then, given `more`, every unit left there, each on its own
/// start plus its own writes. Shared by in-process pools and remote executors.
pub fn execute_batch(
    pool: usize,
    base: Arc<State>,
    block: &Block,
    txs: &[usize],
    after_head: Option<&Overlay>,
    sink: Option<&ResultSink>,
    more: Option<&UnitQueue>,
) -> Result<BatchResponse, PoolError> {
    let started = Instant::now();
    let mut response = BatchResponse {
        results: Vec::new(),
        busy_nanos: 0,
        pulled: Vec::new(),
    };
    // Time spent delivering and driving the commit: commit work, not this batch's execution.
    let mut delivering = std::time::Duration::ZERO;
    let mut wanted = execute_unit(
        pool,
        &base,
        block,
        txs,
        after_head,
        sink,
        &mut response.results,
        &mut delivering,
    )?;
    while wanted && let Some(unit) = more.and_then(UnitQueue::pop) {
        wanted = execute_unit(
            pool,
            &base,
            block,
            &unit.txs,
            unit.after_head.as_deref(),
            sink,
            &mut response.results,
            &mut delivering,
        )?;
        response.pulled.extend_from_slice(&unit.txs);
    }
    response.busy_nanos = started.elapsed().saturating_sub(delivering).as_nanos() as u64;
    Ok(response)
}

/// Executes one unit on `base` (or `after_head`) plus the unit's own writes, streaming
/// results to `sink` (else collecting them in `results`). Returns `false` once the commit
/// wants no more results.
#[allow(clippy::too_many_arguments)]
fn execute_unit(
    pool: usize,
    base: &Arc<State>,
    block: &Block,
    txs: &[usize],
    after_head: Option<&Overlay>,
    sink: Option<&ResultSink>,
    results: &mut Vec<SpeculativeTx>,
    delivering: &mut std::time::Duration,
) -> Result<bool, PoolError> {
    if let Some(&index) = txs.iter().find(|i| **i >= block.txs.len()) {
        return Err(PoolError::BadIndex {
            index,
            len: block.txs.len(),
        });
    }
    let beneficiary = block.env.beneficiary();
    let start = match after_head {
        // The head's writes over this very pre-state; any other base would mix two states.
        Some(head) if Arc::ptr_eq(head.base(), base) => head.clone(),
        _ => Overlay::new(base.clone()),
    };
    let mut executor = TxExecutor::new(&block.env, start);
    if sink.is_none() {
        results.reserve(txs.len());
    }
    // Streamed results go out in small chunks, each followed by driving the commit: per
    // transaction, the locking would cost more than a cheap transaction. Slow transactions
    // flush at once.
    let mut chunk = Vec::with_capacity(STREAM_CHUNK_TXS);
    let mut chunk_nanos = 0;
    for (position, &index) in txs.iter().enumerate() {
        let tx_started = Instant::now();
        let outcome = executor.execute(&block.txs[index].env).map_err(|(e, _)| e);
        if let Ok(outcome) = &outcome {
            let state = executor.state_mut();
            state.apply(&outcome.writes);
            state.credit_fee(beneficiary, outcome.fee, block.env.spec);
        }
        let result = SpeculativeTx {
            index,
            pool,
            nanos: tx_started.elapsed().as_nanos() as u64,
            outcome,
        };
        let Some(sink) = sink else {
            results.push(result);
            continue;
        };
        chunk_nanos += result.nanos;
        chunk.push(result);
        if chunk.len() >= STREAM_CHUNK_TXS
            || chunk_nanos >= STREAM_CHUNK_NANOS
            || position + 1 == txs.len()
        {
            // The commit may want no more results (it abandoned speculation, or failed): stop,
            // freeing the core.
            let delivered = Instant::now();
            let wanted = sink.0.deliver(chunk.drain(..), true);
            *delivering += delivered.elapsed();
            if !wanted {
                return Ok(false);
            }
            chunk_nanos = 0;
        }
    }
    Ok(true)
}

struct Job {
    request: BatchRequest,
    reply: oneshot::Sender<Result<BatchResponse, PoolError>>,
}

/// A pool executing on its own OS thread, off the async runtime's workers.
#[derive(Debug, Clone)]
pub struct InProcessPool {
    id: usize,
    jobs: mpsc::Sender<Job>,
    in_flight: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("txs", &self.request.txs.len())
            .finish()
    }
}

impl InProcessPool {
    /// Starts pool `id` on a new thread, resolving states in `catalog`. The thread ends when
    /// the last handle is dropped.
    pub fn spawn(id: usize, catalog: StateCatalog) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(format!("pool-{id}"))
            .spawn(move || {
                pin_to_core(id);
                let mut next = None;
                while let Some(Job { request, reply }) = next.take().or_else(|| queue.recv().ok()) {
                    let response = match catalog.get(request.state) {
                        Some(base) => execute_batch(
                            id,
                            base,
                            &request.block,
                            &request.txs,
                            request.after_head.as_deref(),
                            request.sink.as_ref(),
                            request.more.as_deref(),
                        ),
                        None => Err(PoolError::UnknownState {
                            pool: id,
                            state: request.state,
                        }),
                    };
                    // The caller may have given up; nothing to do then.
                    let _ = reply.send(response);
                    // Free now: commit on this core rather than let it idle, until new work.
                    if let Some(ResultSink(live)) = &request.sink {
                        live.help(|| {
                            if next.is_none() {
                                next = queue.try_recv().ok();
                            }
                            next.is_some()
                        });
                    }
                }
            })?;
        Ok(Self {
            id,
            jobs,
            in_flight: Arc::default(),
        })
    }

    /// The pool's id.
    pub fn id(&self) -> usize {
        self.id
    }

    /// Batches sent and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

impl PoolStatus for InProcessPool {
    fn load(&self) -> f64 {
        self.in_flight() as f64
    }
}

/// Counts a batch in flight until dropped.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn start(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Self(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl tower::Service<BatchRequest> for InProcessPool {
    type Response = BatchResponse;
    type Error = PoolError;
    type Future = BatchFuture;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), PoolError>> {
        // The queue is unbounded; admission is bounded upstream by the block size.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: BatchRequest) -> Self::Future {
        let (reply, response) = oneshot::channel();
        let live = request.sink.clone();
        let sent = self.jobs.send(Job { request, reply });
        // Only now that the job is queued: a pool helping the commit checks its queue when woken.
        if let Some(ResultSink(live)) = live {
            live.work_sent();
        }
        let id = self.id;
        let in_flight = InFlight::start(&self.in_flight);
        Box::pin(async move {
            let _in_flight = in_flight;
            sent.map_err(|_| PoolError::Closed(id))?;
            response.await.map_err(|_| PoolError::Closed(id))?
        })
    }
}

/// Pins the calling pool thread to core `id mod cores`. Left to the scheduler, a pool thread
/// and a thread it wakes tend to share one core while the other idles (wake-affine placement);
/// pinned, the 42 shared mainnet blocks ran 10–15% faster on 2 cores (with the separate
/// committer of the time). Best effort: where affinity cannot be set, the pool runs unpinned.
fn pin_to_core(id: usize) {
    if let Some(cores) = core_affinity::get_core_ids().filter(|c| !c.is_empty()) {
        let pinned = core_affinity::set_for_current(cores[id % cores.len()]);
        tracing::debug!(pool = id, pinned, "pool thread affinity");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::{BlockBuilder, COUNTER_CODE, account};
    use alloy_primitives::{Address, U256};

    /// The counter value each transaction read, in the response's order.
    fn counts_read(response: &BatchResponse) -> Vec<(usize, U256)> {
        response
            .results
            .iter()
            .map(|r| {
                let reads = &r.outcome.as_ref().expect("bumps succeed").reads;
                (r.index, reads.storage[0].2)
            })
            .collect()
    }

    /// Four bumps of one counter slot by four senders.
    fn four_bumps() -> (Block, State) {
        let counter = Address::repeat_byte(0xc0);
        let mut builder = BlockBuilder::new(4);
        builder.deploy(counter, COUNTER_CODE, &[]);
        for i in 0..4 {
            builder.bump(account(i), counter, 0);
        }
        builder.build()
    }

    #[test]
    fn a_pool_takes_the_units_left_each_on_the_pre_state() {
        let (block, state) = four_bumps();
        let more = UnitQueue::new([WorkUnit::new(vec![1]), WorkUnit::new(vec![2, 3])]);

        let response =
            execute_batch(0, Arc::new(state), &block, &[0], None, None, Some(&more)).unwrap();

        assert!(more.is_empty());
        assert_eq!(response.pulled, [1, 2, 3]);
        // Each unit starts from the pre-state (tx 1 does not see tx 0's bump, nor tx 2 tx 1's);
        // within a unit the writes carry on (tx 3 sees tx 2's).
        let zero = U256::ZERO;
        assert_eq!(
            counts_read(&response),
            [(0, zero), (1, zero), (2, zero), (3, U256::from(1))]
        );
    }

    #[test]
    fn a_unit_after_the_head_starts_from_the_head_state() {
        let (block, state) = four_bumps();
        let base = Arc::new(state);
        // The head: transactions 0 and 1, committed in order.
        let mut executor = TxExecutor::new(&block.env, Overlay::new(base.clone()));
        for tx in &block.txs[..2] {
            let outcome = executor.execute(&tx.env).expect("bumps succeed");
            let state = executor.state_mut();
            state.apply(&outcome.writes);
            state.credit_fee(block.env.beneficiary(), outcome.fee, block.env.spec);
        }
        let head = executor.into_state();
        let more = UnitQueue::new([WorkUnit {
            txs: vec![3],
            retried: false,
            after_head: Some(Arc::new(head.clone())),
        }]);

        let response = execute_batch(
            0,
            base.clone(),
            &block,
            &[2],
            Some(&head),
            None,
            Some(&more),
        )
        .unwrap();

        // Both units start after the head's two bumps; a unit from another base would not.
        let two = U256::from(2);
        assert_eq!(counts_read(&response), [(2, two), (3, two)]);
        let other = Arc::new((*base).clone());
        let response = execute_batch(0, other, &block, &[2], Some(&head), None, None).unwrap();
        assert_eq!(counts_read(&response), [(2, U256::ZERO)]);
    }
}
