//! The `switchyard serve` command line: flags that override the config file.

use super::{
    config::{Config, ConfigError, Overrides, Settings},
    model_loader::LoadedModel,
};
use clap::Args;
use std::{path::PathBuf, sync::Arc};

/// `switchyard serve` flags; each overrides the same setting of `--config`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// TOML config file (see docs/config.md).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// JSON-RPC listen address [default: 127.0.0.1:8545].
    #[arg(long, value_name = "ADDR")]
    pub rpc: Option<String>,
    /// Prometheus listen address; "" switches it off [default: 127.0.0.1:9545].
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<String>,
    /// In-process executor pools; 0 runs none (remote pools only) [default: one per core].
    #[arg(long, value_name = "N")]
    pub pools: Option<usize>,
    /// A remote executor (`switchyard executor`) at host:port; repeatable, added to the
    /// config's `[[executor.remote]]`.
    #[arg(long = "remote-pool", value_name = "ADDR")]
    pub remote_pools: Vec<String>,
    /// Trained model file for the `model` router.
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Data directory [default: ./switchyard-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Block time in milliseconds [default: 250].
    #[arg(long, value_name = "MS")]
    pub block_time: Option<u64>,
    /// Chain id [default: 1337].
    #[arg(long, value_name = "ID")]
    pub chain_id: Option<u64>,
    /// Prefunded dev accounts [default: 10].
    #[arg(long, value_name = "N")]
    pub dev_accounts: Option<usize>,
}

impl ServeArgs {
    /// The file (if any) with the flags applied, checked; the model file, if any, is read and
    /// checked too, so a bad one is a config error (exit 64).
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        config.apply(&Overrides {
            rpc: self.rpc.clone(),
            metrics: self.metrics.clone(),
            pools: self.pools,
            remote_pools: self.remote_pools.clone(),
            model: self.model.clone(),
            data_dir: self.data_dir.clone(),
            block_time_ms: self.block_time,
            chain_id: self.chain_id,
            dev_accounts: self.dev_accounts,
        });
        let mut settings = config.check()?;
        if let Some(path) = &settings.model {
            let loaded = LoadedModel::load(path)
                .map_err(|e| ConfigError(format!("model = {}: {e}", path.display())))?;
            settings.initial_model = Some(Arc::new(loaded));
        }
        Ok(settings)
    }
}
