//! Keeping remote replicas exact, and checking that remote pools are alive.
//!
//! [`SyncFeed`] is a block observer: after each committed block it records the block's diff
//! and wakes every pool's sync task. A sync task ([`run`]) health-checks its executor every
//! interval (while the circuit is open, only once the backoff has passed: that is the probe),
//! then brings the replica to the gateway's head: by the recorded diffs when they chain on from
//! the block the replica holds, else by a snapshot of the head. Only the head it acknowledged
//! is believed; batches wait for it (see [`super::remote`]).

use super::{breaker::Circuit, client::CallError, remote::Remote};
use crate::serve::{chain::Chain, hooks::BlockObserver, hooks::CommittedBlock};
use std::{
    collections::VecDeque,
    sync::{Arc, Mutex, atomic::Ordering},
};
use switchyard_executors::{
    StateReader,
    protocol::{BlockRef, Diff, Health, Snapshot, SyncAck, path},
};
use tokio::sync::watch;
use tracing::{debug, info};

/// Diffs kept for pools catching up; further behind, a pool gets a snapshot.
const KEPT_DIFFS: usize = 64;

/// The committed blocks' diffs, fed by the sequencer through [`BlockObserver`].
#[derive(Debug)]
pub struct SyncFeed {
    diffs: Mutex<VecDeque<Arc<Diff>>>,
    head: watch::Sender<u64>,
}

impl SyncFeed {
    /// An empty feed.
    pub fn new() -> Self {
        Self {
            diffs: Mutex::new(VecDeque::new()),
            head: watch::channel(0).0,
        }
    }

    /// The kept diff whose parent is `parent`.
    fn after(&self, parent: BlockRef) -> Option<Arc<Diff>> {
        self.diffs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|d| d.parent == parent)
            .cloned()
    }
}

impl Default for SyncFeed {
    fn default() -> Self {
        Self::new()
    }
}

impl BlockObserver for SyncFeed {
    fn on_block(&self, block: CommittedBlock<'_>) {
        let number = block.block.number();
        let Some(parent_hash) = number
            .checked_sub(1)
            .and_then(|parent| block.pre_state.block_hash(parent))
        else {
            return;
        };
        let mut diff = block.run.result.post_state.diff();
        diff.block_hashes.push((number, block.hash));
        let diff = Arc::new(Diff {
            parent: BlockRef {
                number: number - 1,
                hash: parent_hash,
            },
            head: BlockRef {
                number,
                hash: block.hash,
            },
            diff,
        });
        {
            let mut diffs = self.diffs.lock().unwrap_or_else(|e| e.into_inner());
            if diffs.len() == KEPT_DIFFS {
                diffs.pop_front();
            }
            diffs.push_back(diff);
        }
        self.head.send_replace(number);
    }
}

/// The gateway's head as a block reference.
fn head_ref(chain: &Chain) -> BlockRef {
    let head = chain.head();
    BlockRef {
        number: head.block.number(),
        hash: head.block.hash,
    }
}

/// Runs one pool's health checks and state sync until aborted.
pub async fn run(remote: Arc<Remote>, feed: Arc<SyncFeed>, chain: Arc<Chain>) {
    let mut blocks = feed.head.subscribe();
    let mut tick = tokio::time::interval(remote.settings.health_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let check = tokio::select! {
            _ = tick.tick() => true,
            _ = remote.resync.notified() => true,
            changed = blocks.changed() => {
                if changed.is_err() {
                    return;
                }
                false
            }
        };
        // An open circuit is left alone until its backoff has passed; then the health check
        // is the probe.
        if remote.circuit() == Circuit::Open {
            remote.healthy.store(false, Ordering::Relaxed);
            continue;
        }
        if (check || !remote.healthy.load(Ordering::Relaxed)) && !health_check(&remote).await {
            continue;
        }
        if let Err(error) = catch_up(&remote, &feed, &chain).await {
            remote.failed(&error, error.label());
        }
    }
}

/// `call`, or a timeout error after `timeout`.
async fn bounded<T>(
    timeout: std::time::Duration,
    call: impl std::future::Future<Output = Result<T, CallError>>,
) -> Result<T, CallError> {
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or(Err(CallError::Timeout(timeout)))
}

/// Asks the executor for its health; updates the head it holds and its thread count.
async fn health_check(remote: &Remote) -> bool {
    let timeout = remote.settings.timeout;
    let answer = bounded(timeout, remote.client.get::<Health>(path::HEALTH)).await;
    match answer {
        Ok(health) => {
            remote
                .threads
                .store(health.threads.max(1), Ordering::Relaxed);
            remote.synced.send_replace(health.head);
            if !remote.healthy.swap(true, Ordering::Relaxed) {
                info!(pool = remote.id, addr = %remote.addr, head = ?health.head, "remote pool is up");
            }
            remote.succeeded();
            true
        }
        Err(error) => {
            remote.healthy.store(false, Ordering::Relaxed);
            remote.failed(&error, "health");
            false
        }
    }
}

/// Brings the replica to the gateway's head: diffs while they chain on, else a snapshot.
async fn catch_up(remote: &Remote, feed: &SyncFeed, chain: &Chain) -> Result<(), CallError> {
    let timeout = remote.settings.timeout;
    loop {
        let target = head_ref(chain);
        let held = *remote.synced.borrow();
        if held.is_some_and(|h| h.number >= target.number) {
            return Ok(());
        }
        let next = held.and_then(|h| feed.after(h));
        let by_diff = next.is_some();
        let ack: SyncAck = match next {
            Some(diff) => {
                let sent = bounded(timeout, remote.client.post(path::DIFF, diff.as_ref())).await;
                match sent {
                    Err(CallError::Refused(e)) if e.needs_sync() => {
                        // The replica is not where it said: start over from a snapshot.
                        remote.synced.send_replace(None);
                        continue;
                    }
                    other => other?,
                }
            }
            None => {
                let head = chain.head();
                let snapshot = Snapshot {
                    head: BlockRef {
                        number: head.block.number(),
                        hash: head.block.hash,
                    },
                    state: (*head.state).clone(),
                };
                let ack = bounded(timeout, remote.client.post(path::SNAPSHOT, &snapshot)).await?;
                remote.metrics.synced("snapshot");
                info!(pool = remote.id, head = %snapshot.head, "sent a state snapshot");
                ack
            }
        };
        if by_diff {
            remote.metrics.synced("diff");
        }
        debug!(pool = remote.id, head = %ack.head, "replica advanced");
        remote.succeeded();
        remote.synced.send_replace(Some(ack.head));
    }
}
