//! The gateway's Prometheus metrics, registered under `switchyard_`.
//!
//! Names use base units (`_seconds`, `_wei`, gas), counters end in `_total`, and labels are
//! closed sets (method, outcome, reason, pool index, mode). Every metric here is listed in
//! `docs/metrics.md`.

use super::hooks::RouterSlot;
use prometheus::{
    CounterVec, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, IntGaugeVec, Opts, Registry,
};
use std::time::UNIX_EPOCH;

/// Every metric the gateway exports.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// `switchyard_build_info{version}`
    pub build_info: IntGaugeVec,
    /// `switchyard_rpc_requests_total{method,outcome}`
    pub rpc_requests: IntCounterVec,
    /// `switchyard_rpc_errors_total{method,code}`
    pub rpc_errors: IntCounterVec,
    /// `switchyard_rpc_request_duration_seconds{method}`
    pub rpc_duration: HistogramVec,
    /// `switchyard_rpc_refused_total{reason}`
    pub rpc_refused: IntCounterVec,
    /// `switchyard_rpc_in_flight_requests`
    pub rpc_in_flight: IntGauge,
    /// `switchyard_txs_admitted_total`
    pub txs_admitted: IntCounter,
    /// `switchyard_txs_rejected_total{reason}`
    pub txs_rejected: IntCounterVec,
    /// `switchyard_txs_dropped_total{reason}`
    pub txs_dropped: IntCounterVec,
    /// `switchyard_txpool_transactions{state}`
    pub txpool: IntGaugeVec,
    /// `switchyard_txpool_senders`
    pub txpool_senders: IntGauge,
    /// `switchyard_blocks_total{mode}`
    pub blocks: IntCounterVec,
    /// `switchyard_block_fallbacks_total{reason}`
    pub fallbacks: IntCounterVec,
    /// `switchyard_block_number`
    pub block_number: IntGauge,
    /// `switchyard_block_base_fee_wei`
    pub base_fee: Gauge,
    /// `switchyard_block_gas_used`
    pub block_gas: Histogram,
    /// `switchyard_block_gas_used_total`
    pub gas_total: IntCounter,
    /// `switchyard_block_transactions`
    pub block_txs: Histogram,
    /// `switchyard_block_transactions_total`
    pub txs_included: IntCounter,
    /// `switchyard_block_build_seconds`
    pub build_seconds: Histogram,
    /// `switchyard_block_execute_seconds`
    pub execute_seconds: Histogram,
    /// `switchyard_block_commit_seconds`
    pub commit_seconds: Histogram,
    /// `switchyard_pool_busy_seconds_total{pool}`
    pub pool_busy: CounterVec,
    /// `switchyard_pool_assigned_txs_total{pool}`
    pub pool_txs: IntCounterVec,
    /// `switchyard_pool_throughput_ratio{pool}`
    pub pool_throughput: GaugeVec,
    /// `switchyard_pool_info{pool,kind}`
    pub pool_info: IntGaugeVec,
    /// `switchyard_pool_up{pool}`
    pub pool_up: IntGaugeVec,
    /// `switchyard_pool_in_flight{pool}`
    pub pool_in_flight: IntGaugeVec,
    /// `switchyard_pool_latency_ewma_seconds{pool}`
    pub pool_latency: GaugeVec,
    /// `switchyard_pool_failures_total{pool,reason}`
    pub pool_failures: IntCounterVec,
    /// `switchyard_pool_circuit_state{pool}`
    pub pool_circuit: IntGaugeVec,
    /// `switchyard_pool_sync_lag_blocks{pool}`
    pub pool_sync_lag: IntGaugeVec,
    /// `switchyard_pool_state_syncs_total{pool,kind}`
    pub pool_syncs: IntCounterVec,
    /// `switchyard_routing_groups`
    pub routing_groups: Histogram,
    /// `switchyard_routing_group_size`
    pub group_size: Histogram,
    /// `switchyard_routing_grouped_pairs_total`
    pub grouped_pairs: IntCounter,
    /// `switchyard_routing_validation_misses_total`
    pub validation_misses: IntCounter,
    /// `switchyard_routing_reexecuted_txs_total`
    pub reexecuted_txs: IntCounter,
    /// `switchyard_routing_reexecuted_gas_total`
    pub reexecuted_gas: IntCounter,
    /// `switchyard_commit_head_txs_total`
    pub head_txs: IntCounter,
    /// `switchyard_routing_seconds`
    pub routing_seconds: Histogram,
    /// `switchyard_routing_predicted_speedup`
    pub predicted_speedup: Gauge,
    /// `switchyard_routing_dag_bound`
    pub dag_bound: Gauge,
    /// `switchyard_fallback_min_speedup`
    pub min_speedup: Gauge,
    /// `switchyard_model_info{version,router}`
    pub model_info: IntGaugeVec,
    /// `switchyard_model_loaded_timestamp_seconds`
    pub model_loaded: Gauge,
    /// `switchyard_model_threshold`
    pub model_threshold: Gauge,
    /// `switchyard_model_reloads_total`
    pub model_reloads: IntCounter,
    /// `switchyard_model_reload_failures_total`
    pub model_reload_failures: IntCounter,
    /// `switchyard_traffic_log_records_total`
    pub traffic_records: IntCounter,
    /// `switchyard_traffic_log_failures_total{reason}`
    pub traffic_failures: IntCounterVec,
    /// `switchyard_tuning_*`
    pub tuning: super::tuning::TuningMetrics,
}

/// Seconds buckets from 100 µs to 10 s.
const SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The RPC methods, the only values of the `method` label besides `other`.
pub const METHODS: &[&str] = &[
    "eth_chainId",
    "net_version",
    "web3_clientVersion",
    "eth_blockNumber",
    "eth_sendRawTransaction",
    "eth_getTransactionReceipt",
    "eth_getTransactionByHash",
    "eth_getBlockByNumber",
    "eth_getBlockByHash",
    "eth_getBalance",
    "eth_getTransactionCount",
    "eth_getCode",
    "eth_getStorageAt",
    "eth_call",
    "eth_estimateGas",
    "eth_gasPrice",
    "eth_maxPriorityFeePerGas",
    "eth_feeHistory",
    "switchyard_status",
    "switchyard_reloadModel",
];

/// The values of the `reason` label of `switchyard_pool_failures_total`: the executor could
/// not be reached, a call timed out, it did not hold the parent state, it refused the message,
/// or a health check failed.
pub const POOL_FAILURES: [&str; 5] = ["transport", "timeout", "stale", "refused", "health"];

/// The values of the `reason` label of `switchyard_traffic_log_failures_total`: the record could
/// not be built, the writer thread was too far behind, or the file write (or flush) failed.
pub const TRAFFIC_FAILURES: [&str; 3] = ["build", "backlog", "write"];

/// The `method` label of a method name: itself when known, else `other`.
pub fn method_label(method: &str) -> &'static str {
    METHODS
        .iter()
        .find(|m| **m == method)
        .copied()
        .unwrap_or("other")
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        fn reg<C: prometheus::core::Collector + Clone + 'static>(
            r: &Registry,
            c: C,
        ) -> prometheus::Result<C> {
            r.register(Box::new(c.clone()))?;
            Ok(c)
        }
        let hist = |name: &str, help: &str, buckets: Vec<f64>| {
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        };
        let r = registry;
        let gas_buckets = prometheus::exponential_buckets(21_000.0, 4.0, 9)?;
        let tx_buckets = prometheus::exponential_buckets(1.0, 4.0, 9)?;
        let m = Self {
            build_info: reg(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "switchyard_build_info",
                        "Always 1; the version label names the build.",
                    ),
                    &["version"],
                )?,
            )?,
            rpc_requests: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "switchyard_rpc_requests_total",
                        "JSON-RPC calls by method and outcome (ok, error).",
                    ),
                    &["method", "outcome"],
                )?,
            )?,
            rpc_errors: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "switchyard_rpc_errors_total",
                        "JSON-RPC calls answered with an error, by method and JSON-RPC error code.",
                    ),
                    &["method", "code"],
                )?,
            )?,
            rpc_duration: reg(
                r,
                HistogramVec::new(
                    HistogramOpts::new(
                        "switchyard_rpc_request_duration_seconds",
                        "Time to answer one JSON-RPC call, by method.",
                    )
                    .buckets(SECONDS.to_vec()),
                    &["method"],
                )?,
            )?,
            rpc_refused: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "switchyard_rpc_refused_total",
                        "HTTP requests refused before dispatch, by reason (overloaded, timeout, body_too_large, rate_limited).",
                    ),
                    &["reason"],
                )?,
            )?,
            rpc_in_flight: reg(
                r,
                IntGauge::new(
                    "switchyard_rpc_in_flight_requests",
                    "HTTP requests being served now.",
                )?,
            )?,
            txs_admitted: reg(
                r,
                IntCounter::new(
                    "switchyard_txs_admitted_total",
                    "Transactions admitted to the pool.",
                )?,
            )?,
            txs_rejected: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "switchyard_txs_rejected_total",
                        "Transactions refused at admission, by reason.",
                    ),
                    &["reason"],
                )?,
            )?,
            txs_dropped: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "switchyard_txs_dropped_total",
                        "Admitted transactions later dropped, by reason (invalid_at_execution, stale).",
                    ),
                    &["reason"],
                )?,
            )?,
            txpool: reg(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "switchyard_txpool_transactions",
                        "Transactions in the pool, by state (waiting, in_flight).",
                    ),
                    &["state"],
                )?,
            )?,
            txpool_senders: reg(
                r,
                IntGauge::new(
                    "switchyard_txpool_senders",
                    "Senders with waiting or in-flight transactions.",
                )?,
            )?,
            blocks: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "switchyard_blocks_total",
                        "Blocks committed, by execution mode (parallel, sequential).",
                    ),
                    &["mode"],
                )?,
            )?,
            fallbacks: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "switchyard_block_fallbacks_total",
                        "Blocks run sequentially instead of across pools, by reason (trivial, serial, not_worth_it, unmeasured).",
                    ),
                    &["reason"],
                )?,
            )?,
            block_number: reg(
                r,
                IntGauge::new(
                    "switchyard_block_number",
                    "Number of the latest committed block.",
                )?,
            )?,
            base_fee: reg(
                r,
                Gauge::new(
                    "switchyard_block_base_fee_wei",
                    "Base fee of the next block, in wei.",
                )?,
            )?,
            block_gas: reg(
                r,
                hist(
                    "switchyard_block_gas_used",
                    "Gas used per committed block.",
                    gas_buckets,
                )?,
            )?,
            gas_total: reg(
                r,
                IntCounter::new(
                    "switchyard_block_gas_used_total",
                    "Gas used by all committed blocks.",
                )?,
            )?,
            block_txs: reg(
                r,
                hist(
                    "switchyard_block_transactions",
                    "Transactions per committed block.",
                    tx_buckets,
                )?,
            )?,
            txs_included: reg(
                r,
                IntCounter::new(
                    "switchyard_block_transactions_total",
                    "Transactions included in committed blocks.",
                )?,
            )?,
            build_seconds: reg(
                r,
                hist(
                    "switchyard_block_build_seconds",
                    "Time to cut a block from the pool and prepare it.",
                    SECONDS.to_vec(),
                )?,
            )?,
            execute_seconds: reg(
                r,
                hist(
                    "switchyard_block_execute_seconds",
                    "Time to execute a block (routing, pools and ordered commit).",
                    SECONDS.to_vec(),
                )?,
            )?,
            commit_seconds: reg(
                r,
                hist(
                    "switchyard_block_commit_seconds",
                    "Time to seal, store and publish an executed block.",
                    SECONDS.to_vec(),
                )?,
            )?,
            pool_busy: reg(
                r,
                CounterVec::new(
                    Opts::new(
                        "switchyard_pool_busy_seconds_total",
                        "Executor pool busy time executing batches, in seconds, by pool.",
                    ),
                    &["pool"],
                )?,
            )?,
            pool_txs: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "switchyard_pool_assigned_txs_total",
                        "Transactions routed to each executor pool.",
                    ),
                    &["pool"],
                )?,
            )?,
            pool_throughput: reg(
                r,
                GaugeVec::new(
                    Opts::new(
                        "switchyard_pool_throughput_ratio",
                        "Each pool's measured throughput (EWMA) relative to the mean of all pools.",
                    ),
                    &["pool"],
                )?,
            )?,
            pool_info: reg(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "switchyard_pool_info",
                        "Always 1; kind says whether the pool runs in process or is a remote executor.",
                    ),
                    &["pool", "kind"],
                )?,
            )?,
            pool_up: reg(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "switchyard_pool_up",
                        "1 while the pool takes work (in process: always; remote: healthy, circuit not open, state synced).",
                    ),
                    &["pool"],
                )?,
            )?,
            pool_in_flight: reg(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "switchyard_pool_in_flight",
                        "Transactions sent to each executor pool and not yet answered (an in-process pool also takes further units of the block itself, not counted here).",
                    ),
                    &["pool"],
                )?,
            )?,
            pool_latency: reg(
                r,
                GaugeVec::new(
                    Opts::new(
                        "switchyard_pool_latency_ewma_seconds",
                        "The pool's PeakEWMA batch latency, the balancer's estimate.",
                    ),
                    &["pool"],
                )?,
            )?,
            pool_failures: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "switchyard_pool_failures_total",
                        "Failed calls to a remote pool, by reason (transport, timeout, stale, refused, health).",
                    ),
                    &["pool", "reason"],
                )?,
            )?,
            pool_circuit: reg(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "switchyard_pool_circuit_state",
                        "The pool's circuit breaker: 0 closed, 1 half open (probing), 2 open.",
                    ),
                    &["pool"],
                )?,
            )?,
            pool_sync_lag: reg(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "switchyard_pool_sync_lag_blocks",
                        "Blocks the pool's state replica is behind the gateway's head (-1: no state).",
                    ),
                    &["pool"],
                )?,
            )?,
            pool_syncs: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "switchyard_pool_state_syncs_total",
                        "State sent to a remote pool's replica, by kind (snapshot, diff).",
                    ),
                    &["pool", "kind"],
                )?,
            )?,
            routing_groups: reg(
                r,
                hist(
                    "switchyard_routing_groups",
                    "Groups the router formed per block.",
                    prometheus::exponential_buckets(1.0, 4.0, 9)?,
                )?,
            )?,
            group_size: reg(
                r,
                hist(
                    "switchyard_routing_group_size",
                    "Transactions per group the router formed.",
                    prometheus::exponential_buckets(1.0, 2.0, 12)?,
                )?,
            )?,
            grouped_pairs: reg(
                r,
                IntCounter::new(
                    "switchyard_routing_grouped_pairs_total",
                    "Transaction pairs the router kept together (predicted to conflict, or same sender).",
                )?,
            )?,
            validation_misses: reg(
                r,
                IntCounter::new(
                    "switchyard_routing_validation_misses_total",
                    "Speculative results that failed validation at commit.",
                )?,
            )?,
            reexecuted_txs: reg(
                r,
                IntCounter::new(
                    "switchyard_routing_reexecuted_txs_total",
                    "Transactions re-executed at commit.",
                )?,
            )?,
            reexecuted_gas: reg(
                r,
                IntCounter::new(
                    "switchyard_routing_reexecuted_gas_total",
                    "Gas of the transactions re-executed at commit (wasted work).",
                )?,
            )?,
            head_txs: reg(
                r,
                IntCounter::new(
                    "switchyard_commit_head_txs_total",
                    "Transactions the commit executed itself while their block was routed (its head start).",
                )?,
            )?,
            routing_seconds: reg(
                r,
                hist(
                    "switchyard_routing_seconds",
                    "Time to route a block.",
                    SECONDS.to_vec(),
                )?,
            )?,
            predicted_speedup: reg(
                r,
                Gauge::new(
                    "switchyard_routing_predicted_speedup",
                    "The cost model's predicted speedup for the latest block's routing.",
                )?,
            )?,
            dag_bound: reg(
                r,
                Gauge::new(
                    "switchyard_routing_dag_bound",
                    "The latest block's dependency-DAG speedup bound on the configured pools (gas as work).",
                )?,
            )?,
            min_speedup: reg(
                r,
                Gauge::new(
                    "switchyard_fallback_min_speedup",
                    "Predicted speedup a block needs to run across pools.",
                )?,
            )?,
            model_info: reg(
                r,
                IntGaugeVec::new(
                    Opts::new(
                        "switchyard_model_info",
                        "Always 1; labels name the router and model version in service.",
                    ),
                    &["router", "version"],
                )?,
            )?,
            model_loaded: reg(
                r,
                Gauge::new(
                    "switchyard_model_loaded_timestamp_seconds",
                    "When the router in service was put in service (Unix time).",
                )?,
            )?,
            model_threshold: reg(
                r,
                Gauge::new(
                    "switchyard_model_threshold",
                    "The model's pair threshold in service (NaN without a model).",
                )?,
            )?,
            model_reloads: reg(
                r,
                IntCounter::new(
                    "switchyard_model_reloads_total",
                    "Routers put in service since start (model reloads).",
                )?,
            )?,
            model_reload_failures: reg(
                r,
                IntCounter::new(
                    "switchyard_model_reload_failures_total",
                    "Model reloads that failed; the old model stayed in service.",
                )?,
            )?,
            traffic_records: reg(
                r,
                IntCounter::new(
                    "switchyard_traffic_log_records_total",
                    "Block records written to the traffic log.",
                )?,
            )?,
            traffic_failures: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "switchyard_traffic_log_failures_total",
                        "Block records lost to the traffic log, by reason; the block itself is committed.",
                    ),
                    &["reason"],
                )?,
            )?,
            tuning: super::tuning::TuningMetrics::register(r)?,
        };
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for reason in super::error::RejectReason::ALL {
            m.txs_rejected.with_label_values(&[reason.label()]);
        }
        for reason in ["overloaded", "timeout", "body_too_large", "rate_limited"] {
            m.rpc_refused.with_label_values(&[reason]);
        }
        for state in ["waiting", "in_flight"] {
            m.txpool.with_label_values(&[state]);
        }
        for reason in TRAFFIC_FAILURES {
            m.traffic_failures.with_label_values(&[reason]);
        }
        // Every closed label set exists from the start, so rate() and the dashboards see zero
        // rather than no data before the first event.
        for mode in ["parallel", "sequential"] {
            m.blocks.with_label_values(&[mode]);
        }
        for reason in ["trivial", "serial", "not_worth_it", "unmeasured"] {
            m.fallbacks.with_label_values(&[reason]);
        }
        for reason in ["invalid_at_execution", "stale"] {
            m.txs_dropped.with_label_values(&[reason]);
        }
        Ok(m)
    }

    /// Creates the per-pool series of `pools` pools: no work yet, and equal throughput (the
    /// health and in-flight series are created with the pools, by [`super::pools`]).
    pub fn init_pools(&self, pools: usize) {
        for pool in 0..pools {
            let label = pool.to_string();
            self.pool_busy.with_label_values(&[&label]);
            self.pool_txs.with_label_values(&[&label]);
            self.pool_throughput.with_label_values(&[&label]).set(1.0);
        }
    }

    /// Records one JSON-RPC call, answered with the JSON-RPC error `error` if any.
    pub fn observe_call(&self, method: &str, error: Option<i64>, seconds: f64) {
        let method = method_label(method);
        let outcome = match error {
            None => "ok",
            Some(code) => {
                self.rpc_errors
                    .with_label_values(&[method, &code.to_string()])
                    .inc();
                "error"
            }
        };
        self.rpc_requests
            .with_label_values(&[method, outcome])
            .inc();
        self.rpc_duration
            .with_label_values(&[method])
            .observe(seconds);
    }

    /// Mirrors the router slot: version, threshold, load time, reloads and failures.
    pub fn refresh_model(&self, slot: &RouterSlot) {
        let active = slot.current();
        self.model_info.reset();
        self.model_info
            .with_label_values(&[active.router.name(), active.version.as_str()])
            .set(1);
        self.model_threshold
            .set(active.threshold_now().unwrap_or(f64::NAN));
        let since = active
            .since
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.model_loaded.set(since);
        catch_up(&self.model_reloads, slot.generation());
        catch_up(&self.model_reload_failures, slot.reload_failures());
    }
}

/// Advances a counter to `total` (counters mirrored from atomics never go back).
fn catch_up(counter: &IntCounter, total: u64) {
    let now = counter.get();
    if total > now {
        counter.inc_by(total - now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_once_and_encodes_with_the_prefix() {
        let registry = Registry::new();
        let metrics = Metrics::register(&registry).unwrap();
        assert!(Metrics::register(&registry).is_err(), "names are unique");
        metrics.observe_call("eth_chainId", None, 0.001);
        metrics.observe_call("eth_bogus", Some(-32601), 0.001);
        metrics.refresh_model(&RouterSlot::default());
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .unwrap();
        assert!(
            text.contains("switchyard_rpc_requests_total{method=\"other\",outcome=\"error\"} 1")
        );
        assert!(text.contains("switchyard_rpc_errors_total{code=\"-32601\",method=\"other\"} 1"));
        assert!(text.contains("switchyard_model_info{router=\"contract\",version=\"contract\"} 1"));
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("switchyard_"), "{line}");
        }
    }
}
