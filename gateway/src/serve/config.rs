//! Configuration of `switchyard serve`: the TOML file, the flags that override it, and the
//! checked [`Settings`] that the server runs with.
//!
//! Every field has a default, so an empty file (or none) is a working dev chain. `[executor]`
//! lives with the pools ([`super::pools::config`]). Each field is documented in
//! `docs/config.md`; keep the two in step.

pub use super::pools::config::{ExecutorConfig, RemotePoolConfig, RemoteSettings};
use alloy_primitives::Address;
use serde::Deserialize;
use std::{
    net::SocketAddr,
    num::NonZeroU32,
    path::{Path, PathBuf},
    time::Duration,
};

/// The well-known test mnemonic (anvil, hardhat); its accounts are the dev accounts.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// One gwei, in wei.
pub const GWEI: u128 = 1_000_000_000;

/// The `switchyard serve` config file, as written (TOML). Unknown keys are errors.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the gateway keeps its files (traffic logs; block storage once it is durable).
    pub data_dir: Option<PathBuf>,
    /// A trained model file; when set, the `model` router replaces `contract`.
    pub model: Option<PathBuf>,
    /// The JSON-RPC endpoint.
    pub rpc: RpcConfig,
    /// The Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// The chain: id, block time, gas limit, fees, dev accounts.
    pub chain: ChainConfig,
    /// The pending-transaction pool.
    pub pool: PoolConfig,
    /// Executor pools and routing.
    pub executor: ExecutorConfig,
    /// The traffic log, the training data of the model.
    pub traffic_log: TrafficLogConfig,
    /// Run-time tuning of the model threshold and the small-block fallback.
    pub tuning: super::tuning::TuningConfig,
}

/// `[traffic_log]`: one record per committed block, for `switchyard train`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TrafficLogConfig {
    /// Whether every committed block is logged.
    pub enabled: bool,
    /// The log folder; defaults to `traffic` in the data directory.
    pub dir: Option<PathBuf>,
}

impl Default for TrafficLogConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: None,
        }
    }
}

/// `[rpc]`: the JSON-RPC endpoint and its tower stack.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RpcConfig {
    /// Listen address.
    pub addr: String,
    /// Largest accepted request body, in bytes (HTTP 413 beyond).
    pub max_body_bytes: usize,
    /// Requests served at once; more are shed at once (HTTP 503, JSON-RPC -32005).
    pub max_concurrency: usize,
    /// Time allowed per HTTP request, in milliseconds (JSON-RPC -32002 beyond).
    pub timeout_ms: u64,
    /// Most calls in one batch.
    pub max_batch: usize,
    /// Per-client (IP address) request rate, per second; 0 switches rate limiting off.
    pub rate_limit_per_second: u32,
    /// Requests a client may burst above its rate; defaults to one second's worth.
    pub rate_limit_burst: Option<u32>,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8545".into(),
            max_body_bytes: 5 * 1024 * 1024,
            max_concurrency: 512,
            timeout_ms: 30_000,
            max_batch: 1_000,
            rate_limit_per_second: 0,
            rate_limit_burst: None,
        }
    }
}

/// `[metrics]`: the Prometheus endpoint.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Listen address of `/metrics`; an empty string switches the endpoint off.
    pub addr: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:9545".into(),
        }
    }
}

/// `[chain]`: the dev chain the gateway sequences.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ChainConfig {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Longest time between blocks while transactions are pending, in milliseconds.
    pub block_time_ms: u64,
    /// Block gas limit.
    pub block_gas_limit: u64,
    /// Fee recipient of every block.
    pub beneficiary: Address,
    /// Base fee of the first block, and the floor it never goes below, in wei.
    pub base_fee_wei: u128,
    /// Whether the base fee follows EIP-1559 (up when blocks are over half full, down to the
    /// floor when under); `false` keeps it fixed.
    pub base_fee_adjust: bool,
    /// Number of prefunded dev accounts.
    pub dev_accounts: usize,
    /// Balance of each dev account, in ether.
    pub dev_balance_eth: u64,
    /// BIP-39 mnemonic of the dev accounts (path m/44'/60'/0'/0/i).
    pub mnemonic: String,
}

impl Default for ChainConfig {
    fn default() -> Self {
        Self {
            chain_id: 1337,
            block_time_ms: 250,
            block_gas_limit: 30_000_000,
            // Not a dev account: a user's balance changes only by what they spend.
            beneficiary: Address::with_last_byte(0xfe),
            base_fee_wei: GWEI,
            base_fee_adjust: true,
            dev_accounts: 10,
            dev_balance_eth: 10_000,
            mnemonic: DEV_MNEMONIC.into(),
        }
    }
}

/// `[pool]`: pending transactions.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PoolConfig {
    /// How far a nonce may run ahead of the sender's next nonce and still be queued.
    pub max_nonce_gap: u64,
    /// Transactions held at once (pending and queued, all senders).
    pub max_transactions: usize,
    /// Transactions held at once for one sender.
    pub max_per_sender: usize,
    /// Largest accepted transaction, in bytes (geth: 128 KiB).
    pub max_tx_bytes: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_nonce_gap: 64,
            max_transactions: 200_000,
            max_per_sender: 4_096,
            max_tx_bytes: 128 * 1024,
        }
    }
}

/// Command-line values that override the file (each `None` when not given).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `--rpc`
    pub rpc: Option<String>,
    /// `--metrics`
    pub metrics: Option<String>,
    /// `--pools`
    pub pools: Option<usize>,
    /// `--remote-pool` (repeatable; added to `[[executor.remote]]`)
    pub remote_pools: Vec<String>,
    /// `--model`
    pub model: Option<PathBuf>,
    /// `--data-dir`
    pub data_dir: Option<PathBuf>,
    /// `--block-time` (milliseconds)
    pub block_time_ms: Option<u64>,
    /// `--chain-id`
    pub chain_id: Option<u64>,
    /// `--dev-accounts`
    pub dev_accounts: Option<usize>,
}

/// A config that failed [`Config::check`], or a file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The checked configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// JSON-RPC listen address.
    pub rpc_addr: SocketAddr,
    /// Prometheus listen address, if enabled.
    pub metrics_addr: Option<SocketAddr>,
    /// The data directory.
    pub data_dir: PathBuf,
    /// Model file, if any.
    pub model: Option<PathBuf>,
    /// The model file as read when the flags were checked (see
    /// [`super::cli::ServeArgs::settings`]), so a bad file is a config error and `serve` does
    /// not read it twice; `serve` loads [`Settings::model`] itself when this is `None`.
    pub initial_model: Option<std::sync::Arc<super::model_loader::LoadedModel>>,
    /// The traffic-log folder, or `None` when traffic logging is off.
    pub traffic_log: Option<PathBuf>,
    /// Run-time tuning of the routing knobs (checked).
    pub tuning: super::tuning::TuningConfig,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Concurrent requests before shedding.
    pub max_concurrency: usize,
    /// Per-request time limit.
    pub request_timeout: Duration,
    /// Most calls per batch.
    pub max_batch: usize,
    /// Per-client rate limit: (per second, burst).
    pub rate_limit: Option<(NonZeroU32, NonZeroU32)>,
    /// Chain id.
    pub chain_id: u64,
    /// Block time.
    pub block_time: Duration,
    /// Block gas limit.
    pub block_gas_limit: u64,
    /// Fee recipient.
    pub beneficiary: Address,
    /// Initial base fee and floor.
    pub base_fee: u128,
    /// EIP-1559 base fee updates.
    pub base_fee_adjust: bool,
    /// Dev accounts.
    pub dev_accounts: usize,
    /// Balance of each dev account, in wei.
    pub dev_balance_wei: alloy_primitives::U256,
    /// Dev mnemonic.
    pub mnemonic: String,
    /// Nonce gap bound.
    pub max_nonce_gap: u64,
    /// Pool capacity.
    pub max_transactions: usize,
    /// Per-sender capacity.
    pub max_per_sender: usize,
    /// Largest transaction.
    pub max_tx_bytes: usize,
    /// In-process executor pools (resolved: 0 only with remote pools).
    pub pools: usize,
    /// Remote executor pools and the balancer's settings.
    pub remote: RemoteSettings,
    /// Whether the cost model may run blocks sequentially instead.
    pub fallback: bool,
}

impl Config {
    /// Reads a TOML file; unknown keys and wrong types are errors naming the key.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))
    }

    /// Applies command-line overrides.
    pub fn apply(&mut self, o: &Overrides) {
        if let Some(v) = &o.rpc {
            self.rpc.addr = v.clone();
        }
        if let Some(v) = &o.metrics {
            self.metrics.addr = v.clone();
        }
        if let Some(v) = o.pools {
            self.executor.pools = Some(v);
        }
        self.executor.remote.extend(
            o.remote_pools
                .iter()
                .map(|addr| RemotePoolConfig { addr: addr.clone() }),
        );
        if let Some(v) = &o.model {
            self.model = Some(v.clone());
        }
        if let Some(v) = &o.data_dir {
            self.data_dir = Some(v.clone());
        }
        if let Some(v) = o.block_time_ms {
            self.chain.block_time_ms = v;
        }
        if let Some(v) = o.chain_id {
            self.chain.chain_id = v;
        }
        if let Some(v) = o.dev_accounts {
            self.chain.dev_accounts = v;
        }
    }

    /// Validates every field and resolves defaults that depend on the machine.
    pub fn check(&self) -> Result<Settings, ConfigError> {
        let err = |m: String| Err(ConfigError(m));
        let addr = |key: &str, value: &str| -> Result<SocketAddr, ConfigError> {
            value
                .parse()
                .map_err(|e| ConfigError(format!("{key} = {value:?} is not a socket address: {e}")))
        };
        let rpc_addr = addr("rpc.addr", &self.rpc.addr)?;
        let metrics_addr = match self.metrics.addr.as_str() {
            "" => None,
            a => Some(addr("metrics.addr", a)?),
        };
        if metrics_addr.is_some_and(|m| m == rpc_addr && m.port() != 0) {
            return err(format!("metrics.addr and rpc.addr are both {rpc_addr}"));
        }
        let rpc = &self.rpc;
        if rpc.max_body_bytes < 1024 {
            return err(format!(
                "rpc.max_body_bytes = {} is too small (at least 1024)",
                rpc.max_body_bytes
            ));
        }
        if rpc.max_concurrency == 0 {
            return err("rpc.max_concurrency must be at least 1".into());
        }
        if rpc.timeout_ms == 0 {
            return err("rpc.timeout_ms must be at least 1".into());
        }
        if rpc.max_batch == 0 {
            return err("rpc.max_batch must be at least 1".into());
        }
        let rate_limit = match NonZeroU32::new(rpc.rate_limit_per_second) {
            None => None,
            Some(rate) => {
                let burst = rpc.rate_limit_burst.unwrap_or(rate.get());
                let Some(burst) = NonZeroU32::new(burst) else {
                    return err("rpc.rate_limit_burst must be at least 1".into());
                };
                Some((rate, burst))
            }
        };
        let chain = &self.chain;
        if chain.chain_id == 0 {
            return err("chain.chain_id must not be 0".into());
        }
        if chain.block_time_ms == 0 || chain.block_time_ms > 60_000 {
            return err(format!(
                "chain.block_time_ms = {} must be between 1 and 60000",
                chain.block_time_ms
            ));
        }
        if chain.block_gas_limit < 21_000 {
            return err(format!(
                "chain.block_gas_limit = {} cannot fit one transfer (21000)",
                chain.block_gas_limit
            ));
        }
        if chain.base_fee_wei == 0 {
            return err("chain.base_fee_wei must be at least 1".into());
        }
        if chain.base_fee_wei > u128::from(u64::MAX) {
            return err(format!(
                "chain.base_fee_wei = {} exceeds the largest base fee ({})",
                chain.base_fee_wei,
                u64::MAX
            ));
        }
        if chain.dev_accounts > 1_000_000 {
            return err(format!(
                "chain.dev_accounts = {} exceeds 1000000",
                chain.dev_accounts
            ));
        }
        let words = chain.mnemonic.split_whitespace().count();
        if ![12, 15, 18, 21, 24].contains(&words) {
            return err(format!(
                "chain.mnemonic has {words} words; BIP-39 uses 12, 15, 18, 21 or 24"
            ));
        }
        let pool = &self.pool;
        if pool.max_transactions == 0 || pool.max_per_sender == 0 {
            return err("pool.max_transactions and pool.max_per_sender must be at least 1".into());
        }
        if pool.max_tx_bytes < 1024 {
            return err(format!(
                "pool.max_tx_bytes = {} is too small (at least 1024)",
                pool.max_tx_bytes
            ));
        }
        let remote = self.executor.check()?;
        let pools = match self.executor.pools {
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
            Some(n) => n,
        };
        if pools + remote.addrs.len() > 256 {
            return err(format!(
                "executor.pools = {pools} and {} remote pools exceed 256 pools",
                remote.addrs.len()
            ));
        }
        if pools == 0 && remote.addrs.is_empty() {
            return err(
                "executor.pools = 0 needs at least one remote pool ([[executor.remote]] or --remote-pool)"
                    .into(),
            );
        }
        let data_dir = self
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("switchyard-data"));
        let tuning = self.tuning.check().map_err(ConfigError)?;
        let traffic_log = self.traffic_log.enabled.then(|| {
            self.traffic_log
                .dir
                .clone()
                .unwrap_or_else(|| data_dir.join("traffic"))
        });
        Ok(Settings {
            rpc_addr,
            metrics_addr,
            data_dir,
            model: self.model.clone(),
            initial_model: None,
            traffic_log,
            tuning,
            max_body_bytes: rpc.max_body_bytes,
            max_concurrency: rpc.max_concurrency,
            request_timeout: Duration::from_millis(rpc.timeout_ms),
            max_batch: rpc.max_batch,
            rate_limit,
            chain_id: chain.chain_id,
            block_time: Duration::from_millis(chain.block_time_ms),
            block_gas_limit: chain.block_gas_limit,
            beneficiary: chain.beneficiary,
            base_fee: chain.base_fee_wei,
            base_fee_adjust: chain.base_fee_adjust,
            dev_accounts: chain.dev_accounts,
            dev_balance_wei: alloy_primitives::U256::from(chain.dev_balance_eth)
                * alloy_primitives::U256::from(10u64).pow(alloy_primitives::U256::from(18)),
            mnemonic: chain.mnemonic.clone(),
            max_nonce_gap: pool.max_nonce_gap,
            max_transactions: pool.max_transactions,
            max_per_sender: pool.max_per_sender,
            max_tx_bytes: pool.max_tx_bytes,
            pools,
            remote,
            fallback: self.executor.fallback,
        })
    }
}

impl Settings {
    /// Defaults with both endpoints on ephemeral loopback ports: for tests and benches.
    pub fn ephemeral() -> Self {
        let mut config = Config::default();
        config.rpc.addr = "127.0.0.1:0".into();
        config.metrics.addr = "127.0.0.1:0".into();
        config.check().expect("defaults are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        toml::from_str::<Config>(text)
            .map_err(|e| ConfigError(e.to_string()))?
            .check()
    }

    #[test]
    fn empty_file_gives_documented_defaults() {
        let s = parse("").unwrap();
        assert_eq!(s.rpc_addr.to_string(), "127.0.0.1:8545");
        assert_eq!(s.metrics_addr.unwrap().to_string(), "127.0.0.1:9545");
        assert_eq!(s.chain_id, 1337);
        assert_eq!(s.block_time, Duration::from_millis(250));
        assert_eq!(s.block_gas_limit, 30_000_000);
        assert_eq!(s.dev_accounts, 10);
        assert!(s.pools >= 1);
        assert!(s.fallback);
        assert!(s.rate_limit.is_none());
    }

    #[test]
    fn fields_parse_and_flags_override() {
        let mut c: Config = toml::from_str(
            "data_dir = \"/tmp/x\"\n[rpc]\nrate_limit_per_second = 5\n[chain]\nchain_id = 7\n\
             block_time_ms = 100\n[executor]\npools = 3\nfallback = false\n",
        )
        .unwrap();
        c.apply(&Overrides {
            chain_id: Some(9),
            dev_accounts: Some(50),
            ..Default::default()
        });
        let s = c.check().unwrap();
        assert_eq!(s.chain_id, 9);
        assert_eq!(s.dev_accounts, 50);
        assert_eq!(s.pools, 3);
        assert!(!s.fallback);
        assert_eq!(s.block_time, Duration::from_millis(100));
        let (rate, burst) = s.rate_limit.unwrap();
        assert_eq!((rate.get(), burst.get()), (5, 5));
        assert_eq!(s.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(s.traffic_log, Some(PathBuf::from("/tmp/x/traffic")));
    }

    #[test]
    fn traffic_log_can_move_or_switch_off() {
        let s = parse("[traffic_log]\ndir = \"/logs\"").unwrap();
        assert_eq!(s.traffic_log, Some(PathBuf::from("/logs")));
        let s = parse("[traffic_log]\nenabled = false").unwrap();
        assert_eq!(s.traffic_log, None);
    }

    #[test]
    fn bad_values_name_the_key() {
        for (text, needle) in [
            ("[rpc]\naddr = \"nowhere\"", "rpc.addr"),
            ("[chain]\nchain_id = 0", "chain.chain_id"),
            ("[chain]\nblock_time_ms = 0", "chain.block_time_ms"),
            ("[chain]\nblock_gas_limit = 100", "chain.block_gas_limit"),
            ("[chain]\nmnemonic = \"one two\"", "chain.mnemonic"),
            ("[rpc]\nmax_concurrency = 0", "rpc.max_concurrency"),
            ("[rpc]\nbogus = 1", "bogus"),
            ("[chain]\nchain_id = \"x\"", "chain_id"),
            ("[executor]\npools = 0", "executor.pools = 0"),
            (
                "[[executor.remote]]\naddr = \"nowhere\"",
                "executor.remote[0].addr",
            ),
            ("[executor]\ntimeout_ms = 0", "executor.timeout_ms"),
            ("[executor]\nbackoff_max_ms = 1", "executor.backoff_max_ms"),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.0.contains(needle), "{text:?}: {e}");
        }
    }
}
