//! The gateway's traffic log: one [`BlockRecord`] per committed block, in the format
//! `switchyard train` reads, written by a [`TrafficObserver`] under `<data-dir>/traffic/`.
//!
//! The record (hashed read and write sets) is built on the sequencer's task, where the block's
//! outcomes are at hand; the file I/O happens on a writer thread, so a slow disk never holds a
//! block back. Nothing here can stop the sequencer: a record that cannot be built, queued or
//! written is logged with `warn!` and counted in `switchyard_traffic_log_failures_total`, and
//! the gateway carries on. Records are flushed when the log is idle for a second and on
//! shutdown.

use super::hooks::{BlockObserver, CommittedBlock};
use prometheus::{IntCounter, IntCounterVec};
use std::{
    path::{Path, PathBuf},
    sync::{
        Mutex,
        mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError},
    },
    thread::JoinHandle,
    time::Duration,
};
use switchyard_executors::parallel::ParallelRun;
use switchyard_model::{BlockRecord, TrafficLogWriter, TxExec};
use tracing::{debug, warn};

/// Records queued for the writer thread before new ones are dropped (and counted).
const BACKLOG: usize = 4_096;
/// Buffered records are flushed once no record arrived for this long.
const IDLE_FLUSH: Duration = Duration::from_secs(1);

/// The counters a [`TrafficObserver`] updates (clones of the gateway's metrics).
#[derive(Debug, Clone)]
pub struct TrafficMetrics {
    /// `switchyard_traffic_log_records_total`
    pub records: IntCounter,
    /// `switchyard_traffic_log_failures_total{reason}`
    pub failures: IntCounterVec,
}

impl TrafficMetrics {
    fn fail(&self, reason: &'static str) {
        self.failures.with_label_values(&[reason]).inc();
    }
}

/// Writes a traffic-log record for every committed block (a [`BlockObserver`]).
#[derive(Debug)]
pub struct TrafficObserver {
    dir: PathBuf,
    /// `None` once shut down.
    queue: Mutex<Option<SyncSender<Box<BlockRecord>>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    metrics: TrafficMetrics,
}

impl TrafficObserver {
    /// Opens (creating if needed) the log folder `dir` and starts the writer thread. New files
    /// continue after those already there, so restarts never overwrite a log.
    pub fn start(dir: &Path, metrics: TrafficMetrics) -> std::io::Result<Self> {
        let log = TrafficLogWriter::create(dir).map_err(std::io::Error::other)?;
        let (queue, records) = std::sync::mpsc::sync_channel(BACKLOG);
        let thread_metrics = metrics.clone();
        let writer = std::thread::Builder::new()
            .name("traffic-log".into())
            .spawn(move || write_loop(log, records, thread_metrics))?;
        Ok(Self {
            dir: dir.to_owned(),
            queue: Mutex::new(Some(queue)),
            writer: Mutex::new(Some(writer)),
            metrics,
        })
    }

    /// The log folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// How each transaction of `run` executed, in block order: its pool, whether the commit
/// re-executed it, and its speculative time. A block that fell back to sequential execution ran
/// whole in one place: pool 0, nothing re-executed.
pub fn tx_execs(run: &ParallelRun) -> Vec<TxExec> {
    let commit = &run.commit;
    let fallback = run.fallback.is_some();
    (0..run.result.outcomes.len())
        .map(|i| TxExec {
            pool: if fallback {
                0
            } else {
                commit.pools.get(i).copied().flatten().unwrap_or(0)
            },
            reexecuted: !fallback && commit.reexecuted.get(i).copied().unwrap_or(false),
            nanos: commit.speculative_nanos.get(i).copied().unwrap_or(0),
        })
        .collect()
}

impl BlockObserver for TrafficObserver {
    fn on_block(&self, committed: CommittedBlock<'_>) {
        let number = committed.block.number();
        let exec = tx_execs(committed.run);
        let mut record = match BlockRecord::from_execution(
            committed.block,
            &committed.run.result.outcomes,
            &exec,
            Some(committed.pre_state.as_ref()),
        ) {
            Ok(record) => record,
            Err(err) => {
                warn!(block = number, cause = %err, "cannot build the traffic record; block not logged");
                self.metrics.fail("build");
                return;
            }
        };
        record.hash = Some(committed.hash);
        let queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let Some(queue) = queue.as_ref() else {
            return;
        };
        match queue.try_send(Box::new(record)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                warn!(
                    block = number,
                    backlog = BACKLOG,
                    "traffic log writer is behind; block not logged"
                );
                self.metrics.fail("backlog");
            }
            Err(TrySendError::Disconnected(_)) => {
                warn!(
                    block = number,
                    "traffic log writer stopped; block not logged"
                );
                self.metrics.fail("write");
            }
        }
    }

    /// Closes the queue and waits for the writer thread to write and sync what is left.
    fn on_shutdown(&self) {
        drop(self.queue.lock().unwrap_or_else(|e| e.into_inner()).take());
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(writer) = writer
            && writer.join().is_err()
        {
            warn!(dir = %self.dir.display(), "traffic log writer panicked; records may be lost");
            self.metrics.fail("write");
        }
    }
}

/// The writer thread: appends records as they come, flushes when idle and when the queue
/// closes, then returns.
fn write_loop(mut log: TrafficLogWriter, records: Receiver<Box<BlockRecord>>, m: TrafficMetrics) {
    let mut dirty = false;
    loop {
        match records.recv_timeout(IDLE_FLUSH) {
            Ok(record) => match log.append(&record) {
                Ok(()) => {
                    m.records.inc();
                    dirty = true;
                }
                Err(err) => {
                    warn!(block = record.number, cause = %err, "cannot write the traffic record");
                    m.fail("write");
                }
            },
            Err(RecvTimeoutError::Timeout) => {
                if dirty {
                    flush(&mut log, &m);
                    dirty = false;
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                flush(&mut log, &m);
                debug!(dir = %log.dir().display(), "traffic log closed");
                return;
            }
        }
    }
}

fn flush(log: &mut TrafficLogWriter, m: &TrafficMetrics) {
    if let Err(err) = log.flush() {
        warn!(dir = %log.dir().display(), cause = %err, "cannot flush the traffic log");
        m.fail("write");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics() -> TrafficMetrics {
        let registry = prometheus::Registry::new();
        let m = super::super::metrics::Metrics::register(&registry).unwrap();
        TrafficMetrics {
            records: m.traffic_records,
            failures: m.traffic_failures,
        }
    }

    #[test]
    fn observer_crosses_tasks() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<TrafficObserver>();
    }

    #[test]
    fn unwritable_folder_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-folder");
        std::fs::write(&file, b"x").unwrap();
        assert!(TrafficObserver::start(&file, metrics()).is_err());
    }

    #[test]
    fn writer_thread_writes_and_flushes_when_the_queue_closes() {
        let scratch = tempfile::tempdir().unwrap();
        let dir = scratch.path();
        let m = metrics();
        let (queue, records) = std::sync::mpsc::sync_channel(4);
        let log = TrafficLogWriter::create(dir).unwrap();
        let thread_metrics = m.clone();
        let writer = std::thread::spawn(move || write_loop(log, records, thread_metrics));
        for number in 1..=3 {
            queue
                .send(Box::new(BlockRecord {
                    version: switchyard_model::traffic::FORMAT_VERSION,
                    number,
                    hash: None,
                    beneficiary: Default::default(),
                    txs: Vec::new(),
                }))
                .unwrap();
        }
        drop(queue);
        writer.join().unwrap();
        let read = switchyard_model::TrafficLogReader::read_all(dir).unwrap();
        assert_eq!(read.iter().map(|r| r.number).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(m.records.get(), 3);
    }
}
