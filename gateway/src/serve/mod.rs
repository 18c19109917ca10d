//! `switchyard serve`: a JSON-RPC gateway that admits transactions, sequences them into blocks
//! and executes every block across executor pools with an exact ordered commit.
//!
//! # Layout
//! - [`config`] and [`cli`]: the TOML file, the flags, and the checked [`Settings`].
//! - [`genesis`]: dev accounts from the test mnemonic, the genesis state.
//! - [`error`]: JSON-RPC errors with geth's codes and texts; admission rejections.
//! - [`admission`]: decode, recover and the stateless checks.
//! - [`txpool`]: pending transactions per sender and the block ordering rule.
//! - [`chain`]: head, pool and storage under one lock; the base fee rule.
//! - [`block`]: block environments and sealing.
//! - [`sequencer`]: cut, execute, seal, store, publish.
//! - [`pools`]: the executor pools, in process and remote (protocol client, circuit breaker,
//!   health checks, state sync), mixed under one balancer.
//! - [`tuning`]: the model threshold and the fallback, tuned from measured waste and speed.
//! - [`storage`]: the block store trait and its in-memory implementation.
//! - [`hooks`]: the router slot, the block observer and the model reload hook.
//! - [`traffic_log`]: the block observer writing the traffic log `switchyard train` reads.
//! - [`model_loader`]: the model in service; reload on RPC, SIGHUP and file change.
//! - [`metrics`]: Prometheus metrics.
//! - [`rpc`]: JSON-RPC framing and methods.
//! - [`layers`]: the tower stack (refusals, rate limit, load shed, concurrency, timeout, body).
//! - [`http`]: accept loops and graceful shutdown.
//! - [`node`]: the state handlers and the sequencer share.

pub mod admission;
pub mod block;
pub mod chain;
pub mod cli;
pub mod config;
pub mod error;
pub mod genesis;
pub mod hooks;
pub mod http;
pub mod layers;
pub mod metrics;
pub mod model_loader;
pub mod node;
pub mod pools;
pub mod rpc;
pub mod sequencer;
pub mod storage;
pub mod traffic_log;
pub mod tuning;
pub mod txpool;

pub use config::Settings;
pub use error::{Result, ServeError};
pub use hooks::{BlockObserver, CommittedBlock, Hooks, ReloadHook, RouterSlot};

use admission::Rules;
use block::BlockParams;
use chain::{Chain, FeePolicy, Head};
use prometheus::Registry;
use std::{
    future::Future,
    net::SocketAddr,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use storage::{BlockStore, MemoryStore, StoredBlock};
use tokio::task::JoinHandle;
use tokio::{net::TcpListener, sync::watch};
use tracing::info;
use traffic_log::{TrafficMetrics, TrafficObserver};
use txpool::{PoolLimits, TxPool};

/// The sockets `serve` answers on.
#[derive(Debug)]
pub struct Listeners {
    /// JSON-RPC.
    pub rpc: TcpListener,
    /// Prometheus `/metrics`, if enabled.
    pub metrics: Option<TcpListener>,
}

impl Listeners {
    /// Binds the addresses in `settings`.
    pub async fn bind(settings: &Settings) -> Result<Self> {
        let bind = |addr: SocketAddr, what: &'static str| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|e| ServeError::io(format!("cannot listen for {what} on {addr}"), e))
        };
        let rpc = bind(settings.rpc_addr, "JSON-RPC").await?;
        let metrics = match settings.metrics_addr {
            Some(addr) => Some(bind(addr, "metrics").await?),
            None => None,
        };
        Ok(Self { rpc, metrics })
    }

    /// The bound addresses (JSON-RPC, metrics), useful with port 0.
    pub fn local_addrs(&self) -> Result<(SocketAddr, Option<SocketAddr>)> {
        let addr = |l: &TcpListener| {
            l.local_addr()
                .map_err(|e| ServeError::io("cannot read the bound address", e))
        };
        Ok((
            addr(&self.rpc)?,
            self.metrics.as_ref().map(addr).transpose()?,
        ))
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// Builds the dev chain at genesis.
pub async fn dev_chain(settings: &Settings) -> Result<Chain> {
    let (mnemonic, n) = (settings.mnemonic.clone(), settings.dev_accounts);
    let accounts = tokio::task::spawn_blocking(move || genesis::dev_addresses(&mnemonic, n))
        .await
        .map_err(|e| ServeError::Genesis(e.to_string()))??;
    let mut state = genesis::dev_state(&accounts, settings.dev_balance_wei);
    let base_fee = u64::try_from(settings.base_fee).unwrap_or(u64::MAX);
    let params = BlockParams {
        number: 0,
        parent_hash: Default::default(),
        timestamp: unix_now(),
        base_fee,
        gas_limit: settings.block_gas_limit,
        beneficiary: settings.beneficiary,
        chain_id: settings.chain_id,
    };
    let header = block::genesis_header(&params);
    let genesis = Arc::new(StoredBlock {
        hash: header.hash_slow(),
        size: alloy_rlp::Encodable::length(&header) as u64 + 4,
        header,
        txs: Vec::new(),
        receipts: Vec::new(),
    });
    state.insert_block_hash(0, genesis.hash);
    let store: Arc<dyn BlockStore> = Arc::new(MemoryStore::new());
    store
        .append(genesis.clone())
        .map_err(|e| ServeError::Genesis(e.to_string()))?;
    let rules = Rules {
        chain_id: settings.chain_id,
        spec: block::SPEC,
        block_gas_limit: settings.block_gas_limit,
        max_tx_bytes: settings.max_tx_bytes,
    };
    let fees = FeePolicy {
        floor: settings.base_fee,
        adjust: settings.base_fee_adjust,
    };
    let pool = TxPool::new(PoolLimits {
        max_nonce_gap: settings.max_nonce_gap,
        max_transactions: settings.max_transactions,
        max_per_sender: settings.max_per_sender,
    });
    let head = Head {
        state: Arc::new(state),
        block: genesis,
        next_base_fee: settings.base_fee,
    };
    Ok(Chain::new(rules, fees, store, pool, head))
}

/// Calls every observer in turn (the caller's and the traffic log, when both are set).
#[derive(Debug)]
struct Observers(Vec<Arc<dyn BlockObserver>>);

impl BlockObserver for Observers {
    fn on_block(&self, block: CommittedBlock<'_>) {
        self.0.iter().for_each(|o| o.on_block(block));
    }

    fn on_shutdown(&self) {
        self.0.iter().for_each(|o| o.on_shutdown());
    }
}

/// Adds `observer` to those of `hooks`.
fn add_observer(hooks: &mut Hooks, observer: Arc<dyn BlockObserver>) {
    hooks.observer = Some(match hooks.observer.take() {
        Some(other) => Arc::new(Observers(vec![other, observer])),
        None => observer,
    });
}

/// Adds the learning loop to `hooks`: the traffic log (unless switched off) and, with a model
/// file, the model in service with its reload hook and reload triggers (returned, to abort).
fn learning(
    settings: &Settings,
    mut hooks: Hooks,
    metrics: &metrics::Metrics,
) -> Result<(Hooks, Vec<JoinHandle<()>>)> {
    if let Some(dir) = &settings.traffic_log {
        let log = TrafficObserver::start(
            dir,
            TrafficMetrics {
                records: metrics.traffic_records.clone(),
                failures: metrics.traffic_failures.clone(),
            },
        )
        .map_err(|e| ServeError::io(format!("cannot open traffic log {}", dir.display()), e))?;
        info!(dir = %dir.display(), "writing the traffic log");
        add_observer(&mut hooks, Arc::new(log));
    }
    let mut triggers = Vec::new();
    if let Some(path) = &settings.model
        && hooks.reload.is_none()
    {
        let loaded = match &settings.initial_model {
            Some(loaded) => loaded.clone(),
            None => Arc::new(model_loader::LoadedModel::load(path)?),
        };
        let loader = Arc::new(model_loader::ModelLoader::install(
            path.clone(),
            hooks.router.clone(),
            &loaded,
        ));
        triggers = loader.spawn_triggers();
        hooks.reload = Some(loader);
    } else {
        // SIGHUP's default action ends the process: an operator's habitual reload must not.
        triggers.extend(model_loader::ignore_sighup());
    }
    Ok((hooks, triggers))
}

/// Runs the gateway on `listeners` until `shutdown` completes, then stops gracefully: intake
/// closes, requests in progress finish, the sequencer commits one last block with what was
/// accepted, the block observer is flushed, and `serve` returns.
///
/// The learning loop is wired here from `settings`: the traffic log under
/// [`Settings::traffic_log`] joins `hooks.observer`, and a [`Settings::model`] goes into
/// `hooks.router` with its reload hook, SIGHUP and a watch on the file (unless `hooks` already
/// has a reload hook).
///
/// Metrics are registered in `registry`, which the `/metrics` endpoint serves; register
/// anything else there before calling.
pub async fn serve(
    listeners: Listeners,
    registry: Registry,
    settings: Settings,
    hooks: Hooks,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let metrics = metrics::Metrics::register(&registry)?;
    std::fs::create_dir_all(&settings.data_dir).map_err(|e| {
        ServeError::io(
            format!("cannot create data dir {}", settings.data_dir.display()),
            e,
        )
    })?;
    let (mut hooks, reload_triggers) = learning(&settings, hooks, &metrics)?;
    let chain = Arc::new(dev_chain(&settings).await?);
    let pools::Pools {
        executor,
        feed,
        tasks: pool_tasks,
    } = pools::start(&settings, &metrics, &chain)
        .map_err(|e| ServeError::io("cannot start executor pools", e))?;
    if let Some(feed) = feed {
        add_observer(&mut hooks, feed);
        // Remote replicas hold only the chain's state, not the calibration's synthetic
        // blocks: calibrate as many in-process pools and start from their costs; real blocks
        // refine them.
        let probe = switchyard_executors::parallel::ParallelExecutor::in_process(executor.pools())
            .map_err(|e| ServeError::io("cannot start calibration pools", e))?;
        probe.calibrate_for(block::SPEC).await?;
        executor.set_cost_model(probe.cost_model());
    } else {
        executor.calibrate_for(block::SPEC).await?;
    }
    let pools = executor.pools();
    metrics.init_pools(pools);
    let node = Arc::new(node::Node::new(
        chain.clone(),
        settings.clone(),
        metrics,
        hooks,
        pools,
    ));
    node.refresh_gauges();
    node.metrics.base_fee.set(settings.base_fee as f64);

    let (stop_intake, intake_stopped) = watch::channel(false);
    let (stop_blocks, blocks_stopped) = watch::channel(false);
    let rate_limit = http::RateLimitLayer::new(settings.rate_limit);
    let pruner = {
        let rate_limit = rate_limit.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                rate_limit.prune();
            }
        })
    };
    let (rpc_addr, metrics_addr) = listeners.local_addrs()?;
    let sequencer = tokio::spawn(sequencer::run(node.clone(), executor, blocks_stopped));
    let rpc = tokio::spawn(http::serve_rpc(
        listeners.rpc,
        layers::stack(node.clone(), rate_limit),
        intake_stopped.clone(),
        settings.request_timeout + Duration::from_secs(1),
    ));
    let metrics_server = listeners.metrics.map(|l| {
        tokio::spawn(http::serve_metrics(
            l,
            registry.clone(),
            node.clone(),
            intake_stopped,
        ))
    });
    info!(rpc = %rpc_addr, metrics = ?metrics_addr, pools, remote = settings.remote.addrs.len(), chain_id = settings.chain_id, "serving");

    shutdown.await;
    info!("shutting down: intake closed, finishing the block in progress");
    chain.close_intake();
    let _ = stop_intake.send(true);
    let _ = rpc.await;
    // Only now: a transaction admitted by a request that was still running is in this block.
    let _ = stop_blocks.send(true);
    let _ = sequencer.await;
    if let Some(m) = metrics_server {
        let _ = m.await;
    }
    pruner.abort();
    pool_tasks.iter().for_each(JoinHandle::abort);
    reload_triggers.iter().for_each(JoinHandle::abort);
    info!(head = chain.head().block.number(), "stopped");
    Ok(())
}
