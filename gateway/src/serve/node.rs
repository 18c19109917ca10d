//! The state every request handler and the sequencer share.

use super::{chain::Chain, config::Settings, hooks::Hooks, metrics::Metrics};
use alloy_primitives::B256;
use serde::Serialize;
use std::sync::{Arc, Mutex};

/// What `switchyard_status` reports of the latest block.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockSummary {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Transactions.
    pub txs: usize,
    /// Gas used.
    pub gas_used: u64,
    /// `parallel` or `sequential`.
    pub mode: &'static str,
    /// Transactions re-executed at commit.
    pub reexecuted_txs: usize,
    /// Execution wall time.
    pub wall_seconds: f64,
    /// Dependency-DAG bound on the configured pools.
    pub dag_bound: f64,
}

/// The shared server state.
#[derive(Debug)]
pub struct Node {
    /// Head, pool and storage.
    pub chain: Arc<Chain>,
    /// The checked configuration.
    pub settings: Settings,
    /// Metrics.
    pub metrics: Metrics,
    /// Router slot, observer and reload hook.
    pub hooks: Hooks,
    /// Executor pools in service.
    pub pools: usize,
    last_block: Mutex<Option<BlockSummary>>,
}

impl Node {
    /// Assembles the shared state.
    pub fn new(
        chain: Arc<Chain>,
        settings: Settings,
        metrics: Metrics,
        hooks: Hooks,
        pools: usize,
    ) -> Self {
        Self {
            chain,
            settings,
            metrics,
            hooks,
            pools,
            last_block: Mutex::new(None),
        }
    }

    /// Records the latest block's summary.
    pub fn set_last_block(&self, summary: BlockSummary) {
        *self.last_block.lock().unwrap_or_else(|e| e.into_inner()) = Some(summary);
    }

    /// The latest block's summary, once a block was produced.
    pub fn last_block(&self) -> Option<BlockSummary> {
        self.last_block
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Mirrors pool sizes into the gauges (called before each scrape).
    pub fn refresh_gauges(&self) {
        let counts = self.chain.pool_counts();
        let m = &self.metrics;
        m.txpool
            .with_label_values(&["waiting"])
            .set(counts.waiting as i64);
        m.txpool
            .with_label_values(&["in_flight"])
            .set(counts.in_flight as i64);
        m.txpool_senders.set(counts.senders as i64);
        m.refresh_model(&self.hooks.router);
    }
}
