//! `[executor]` of the `switchyard serve` config: the pools, in process and remote, and the
//! balancer's timeouts, breaker and PeakEWMA settings (documented in `docs/config.md`).

use crate::serve::config::ConfigError;
use serde::Deserialize;
use std::time::Duration;

/// `[executor]`: executor pools, in process and remote, and how work is balanced over them.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutorConfig {
    /// In-process pools; unset means one per core, 0 means none (remote pools only).
    pub pools: Option<usize>,
    /// Whether small or serial blocks may run sequentially instead (the cost model decides);
    /// `false` sends every block of two or more transactions through the pools.
    pub fallback: bool,
    /// Remote executors (`switchyard executor`), one `[[executor.remote]]` table each.
    pub remote: Vec<RemotePoolConfig>,
    /// Time allowed for every call to a remote executor, in milliseconds.
    pub timeout_ms: u64,
    /// Interval of the active health checks of remote executors, in milliseconds.
    pub health_interval_ms: u64,
    /// Consecutive failures that open a remote pool's circuit.
    pub failures_to_open: u32,
    /// Wait before the first probe of an open circuit, in milliseconds; doubles per failed
    /// probe up to `backoff_max_ms`.
    pub backoff_ms: u64,
    /// Longest wait between probes of an open circuit, in milliseconds.
    pub backoff_max_ms: u64,
    /// PeakEWMA decay of a pool's latency estimate, in milliseconds (linkerd2-proxy: 10 s).
    pub ewma_decay_ms: u64,
    /// PeakEWMA latency assumed before a pool is measured, in milliseconds (linkerd2-proxy:
    /// 30 ms).
    pub ewma_default_rtt_ms: u64,
    /// Largest protocol message to or from a remote executor, in bytes.
    pub max_message_bytes: usize,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            pools: None,
            fallback: true,
            remote: Vec::new(),
            timeout_ms: 5_000,
            health_interval_ms: 1_000,
            failures_to_open: 3,
            backoff_ms: 1_000,
            backoff_max_ms: 30_000,
            ewma_decay_ms: 10_000,
            ewma_default_rtt_ms: 30,
            max_message_bytes: switchyard_executors::protocol::DEFAULT_MAX_MESSAGE_BYTES,
        }
    }
}

/// `[[executor.remote]]`: one remote executor.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RemotePoolConfig {
    /// `host:port` of a `switchyard executor`; a DNS name is resolved again on every new
    /// connection, so a moved executor is found again.
    pub addr: String,
}

/// Checked settings of the remote pools and the balancer.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSettings {
    /// `host:port` of each remote executor, in pool order (after the in-process pools).
    pub addrs: Vec<String>,
    /// Time allowed per call.
    pub timeout: Duration,
    /// Health check interval.
    pub health_interval: Duration,
    /// Consecutive failures that open a circuit.
    pub failures_to_open: u32,
    /// First probe delay of an open circuit.
    pub backoff: Duration,
    /// Longest probe delay.
    pub backoff_max: Duration,
    /// PeakEWMA decay.
    pub ewma_decay: Duration,
    /// PeakEWMA default latency.
    pub ewma_default_rtt: Duration,
    /// Largest protocol message.
    pub max_message_bytes: usize,
}

impl ExecutorConfig {
    /// Checks the remote pools and the balancer's settings.
    pub(crate) fn check(&self) -> Result<RemoteSettings, ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        for (i, remote) in self.remote.iter().enumerate() {
            let valid = remote
                .addr
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !valid {
                return err(format!(
                    "executor.remote[{i}].addr = {:?} is not host:port",
                    remote.addr
                ));
            }
        }
        for (key, value) in [
            ("timeout_ms", self.timeout_ms),
            ("health_interval_ms", self.health_interval_ms),
            ("backoff_ms", self.backoff_ms),
            ("ewma_decay_ms", self.ewma_decay_ms),
            ("ewma_default_rtt_ms", self.ewma_default_rtt_ms),
            ("failures_to_open", u64::from(self.failures_to_open)),
        ] {
            if value == 0 {
                return err(format!("executor.{key} must be at least 1"));
            }
        }
        if self.backoff_max_ms < self.backoff_ms {
            return err(format!(
                "executor.backoff_max_ms = {} is below executor.backoff_ms = {}",
                self.backoff_max_ms, self.backoff_ms
            ));
        }
        if self.max_message_bytes < 1024 {
            return err(format!(
                "executor.max_message_bytes = {} is too small (at least 1024)",
                self.max_message_bytes
            ));
        }
        let ms = Duration::from_millis;
        Ok(RemoteSettings {
            addrs: self.remote.iter().map(|r| r.addr.clone()).collect(),
            timeout: ms(self.timeout_ms),
            health_interval: ms(self.health_interval_ms),
            failures_to_open: self.failures_to_open,
            backoff: ms(self.backoff_ms),
            backoff_max: ms(self.backoff_max_ms),
            ewma_decay: ms(self.ewma_decay_ms),
            ewma_default_rtt: ms(self.ewma_default_rtt_ms),
            max_message_bytes: self.max_message_bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::serve::config::{Config, Overrides};
    use std::time::Duration;

    #[test]
    fn remote_pools_mix_with_in_process_ones_and_flags_add_more() {
        let mut c: Config = toml::from_str(
            "[executor]\npools = 0\ntimeout_ms = 250\n[[executor.remote]]\naddr = \"executor-0.executors:9600\"\n",
        )
        .unwrap();
        c.apply(&Overrides {
            remote_pools: vec!["127.0.0.1:9601".into()],
            ..Default::default()
        });
        let s = c.check().unwrap();
        assert_eq!(s.pools, 0);
        assert_eq!(
            s.remote.addrs,
            ["executor-0.executors:9600", "127.0.0.1:9601"]
        );
        assert_eq!(s.remote.timeout, Duration::from_millis(250));
        // linkerd2-proxy's PeakEWMA defaults.
        assert_eq!(s.remote.ewma_decay, Duration::from_secs(10));
        assert_eq!(s.remote.ewma_default_rtt, Duration::from_millis(30));
        assert!(s.fallback);
    }
}
