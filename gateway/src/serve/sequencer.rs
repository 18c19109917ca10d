//! The sequencer: cuts a block every block time (or sooner when the pool holds a full block),
//! executes it across the pools with the router in service, seals, stores and publishes it.
//!
//! A block in progress always completes: shutdown is only looked at between blocks, and after
//! it one last block is cut so that transactions accepted before intake closed are included.
//!
//! Admission keeps invalid transactions out, but the sequencer does not rely on it: if
//! execution still finds one invalid (an EIP-7702 delegate drained its balance, say), that
//! transaction is dropped with a warning and a metric, the rest return to the pool, and the
//! block is cut again.

use super::{
    block::{self, BlockParams},
    chain::Head,
    hooks::{ActiveRouter, CommittedBlock},
    node::{BlockSummary, Node},
    pools::Executor,
    tuning::{BlockMeasure, Tuner},
};
use std::{
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use switchyard_executors::{
    Error, dag::DagShape, parallel::ParallelRun, router::true_dependencies,
};
use tokio::sync::watch;
use tracing::{debug, error, info, instrument, warn};

/// Runs until `shutdown` turns `true`, then cuts one last block and returns.
pub async fn run(node: Arc<Node>, executor: Executor, mut shutdown: watch::Receiver<bool>) {
    let block_time = node.settings.block_time;
    let mut tuner = Tuner::new(node.settings.tuning.clone());
    let mut last_cut = Instant::now();
    loop {
        let stopping = tokio::select! {
            _ = tokio::time::sleep_until((last_cut + block_time).into()) => false,
            _ = node.chain.full() => false,
            _ = super::http::stopped(&mut shutdown) => true,
        };
        last_cut = Instant::now();
        // A full pool may hold more than one block: keep cutting while blocks come out full.
        loop {
            match produce(&node, &executor, &mut tuner).await {
                Some(used) if used + 21_000 > node.settings.block_gas_limit => continue,
                _ => break,
            }
        }
        if stopping {
            info!("sequencer stopped");
            break;
        }
    }
    if let Some(observer) = &node.hooks.observer {
        observer.on_shutdown();
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// Cuts, executes and commits one block; returns the gas limit it reserved, or `None` when
/// there was nothing to do or the block failed.
#[instrument(skip_all)]
async fn produce(node: &Node, executor: &Executor, tuner: &mut Tuner) -> Option<u64> {
    let m = &node.metrics;
    let gas_limit = node.settings.block_gas_limit;
    // Each retry drops at least one transaction, so this ends.
    loop {
        let started = Instant::now();
        let (txs, head) = node.chain.cut(gas_limit);
        if txs.is_empty() {
            return None;
        }
        let reserved: u64 = txs.iter().map(|t| t.gas_limit).sum();
        let params = BlockParams {
            number: head.block.number() + 1,
            parent_hash: head.block.hash,
            timestamp: unix_now().max(head.block.header.timestamp),
            base_fee: u64::try_from(head.next_base_fee).unwrap_or(u64::MAX),
            gas_limit,
            beneficiary: node.settings.beneficiary,
            chain_id: node.settings.chain_id,
        };
        let block = Arc::new(block::build(&params, &txs));
        m.build_seconds.observe(started.elapsed().as_secs_f64());

        let active = node.hooks.router.current();
        let executing = Instant::now();
        let run = match executor
            .execute(&block, head.state.clone(), active.router.as_ref(), None)
            .await
        {
            Ok(run) => run,
            Err(Error::InvalidTransaction {
                index,
                hash,
                reason,
            }) => {
                warn!(block = params.number, index, %hash, %reason, "dropping a transaction invalid at execution");
                m.txs_dropped
                    .with_label_values(&["invalid_at_execution"])
                    .inc();
                node.chain.abandon(&[hash]);
                continue;
            }
            Err(e) => {
                error!(block = params.number, cause = %e, "block execution failed; its transactions wait for the next block");
                node.chain.abandon(&[]);
                return None;
            }
        };
        m.execute_seconds.observe(executing.elapsed().as_secs_f64());

        let committing = Instant::now();
        let sealed = Arc::new(block::seal(&params, &txs, &run.result));
        let mut state = (*head.state).clone();
        state.apply(&run.result.post_state);
        state.insert_block_hash(params.number, sealed.hash);
        if let Err(e) = node.chain.store().append(sealed.clone()) {
            error!(block = params.number, cause = %e, "cannot store block; its transactions wait again");
            node.chain.abandon(&[]);
            return None;
        }
        let next_base_fee =
            node.chain
                .fees()
                .next(head.next_base_fee, run.result.gas_used, gas_limit);
        let pre_state = head.state.clone();
        let stale = node.chain.commit(Head {
            state: Arc::new(state),
            block: sealed.clone(),
            next_base_fee,
        });
        if !stale.is_empty() {
            m.txs_dropped
                .with_label_values(&["stale"])
                .inc_by(stale.len() as u64);
        }
        m.commit_seconds.observe(committing.elapsed().as_secs_f64());

        tune(node, executor, tuner, &run, &active);
        record(node, executor, &block, &run, &sealed, next_base_fee);
        if let Some(observer) = &node.hooks.observer {
            observer.on_block(CommittedBlock {
                block: &block,
                hash: sealed.hash,
                run: &run,
                pre_state: &pre_state,
                router_version: &active.version,
            });
        }
        debug!(
            block = params.number,
            txs = txs.len(),
            gas = run.result.gas_used,
            "block committed"
        );
        return Some(reserved);
    }
}

/// Feeds the block to the tuner and applies what it decides from the next block on.
fn tune(
    node: &Node,
    executor: &Executor,
    tuner: &mut Tuner,
    run: &ParallelRun,
    active: &ActiveRouter,
) {
    tuner.follow_router(node.hooks.router.generation());
    let busy: u64 = run.pool_busy_nanos.iter().sum();
    let busiest = run.pool_busy_nanos.iter().copied().max().unwrap_or(0);
    let measure = BlockMeasure {
        parallel: run.fallback.is_none(),
        gas_used: run.result.gas_used,
        reexecuted_gas: run.commit.reexecuted_gas,
        predicted_nanos: run.prediction.map(|p| p.parallel_nanos),
        wall_nanos: run.wall_nanos,
        busiest_share: busiest as f64 / busy.max(1) as f64,
        pools: executor.pools(),
    };
    let threshold = active.threshold_now();
    let min_speedup = executor.cost_model().min_speedup;
    let adjustment = tuner.observe(&measure, threshold, min_speedup);
    if let (Some(knob), Some(next)) = (&active.threshold, adjustment.threshold) {
        info!(
            from = threshold,
            to = next,
            waste = tuner.waste(),
            "tuning: model threshold"
        );
        knob.set(next as f32);
    }
    if let Some(next) = adjustment.min_speedup {
        info!(
            from = min_speedup,
            to = next,
            accuracy = tuner.accuracy(),
            "tuning: fallback threshold"
        );
        executor.set_min_speedup(next);
    }
    node.metrics
        .tuning
        .record(tuner, &adjustment, threshold, min_speedup);
}

/// Metrics and the status summary of a committed block.
fn record(
    node: &Node,
    executor: &Executor,
    block: &switchyard_executors::Block,
    run: &switchyard_executors::parallel::ParallelRun,
    sealed: &super::storage::StoredBlock,
    next_base_fee: u128,
) {
    let m = &node.metrics;
    let pools = executor.pools();
    let mode = if run.fallback.is_some() {
        "sequential"
    } else {
        "parallel"
    };
    m.blocks.with_label_values(&[mode]).inc();
    if let Some(fallback) = &run.fallback {
        let reason = match fallback {
            switchyard_executors::cost::Fallback::Trivial => "trivial",
            switchyard_executors::cost::Fallback::Serial { .. } => "serial",
            switchyard_executors::cost::Fallback::NotWorthIt { .. } => "not_worth_it",
            switchyard_executors::cost::Fallback::Unmeasured => "unmeasured",
        };
        m.fallbacks.with_label_values(&[reason]).inc();
    }
    let txs = block.txs.len();
    m.block_number.set(sealed.number() as i64);
    m.base_fee.set(next_base_fee as f64);
    m.block_gas.observe(run.result.gas_used as f64);
    m.gas_total.inc_by(run.result.gas_used);
    m.block_txs.observe(txs as f64);
    m.txs_included.inc_by(txs as u64);
    for (pool, nanos) in run.pool_busy_nanos.iter().enumerate() {
        let label = pool.to_string();
        m.pool_busy
            .with_label_values(&[&label])
            .inc_by(*nanos as f64 / 1e9);
    }
    for (pool, batch) in run.routing.batches(pools).iter().enumerate() {
        m.pool_txs
            .with_label_values(&[&pool.to_string()])
            .inc_by(batch.len() as u64);
    }
    for (pool, weight) in executor.pool_weights().iter().enumerate() {
        m.pool_throughput
            .with_label_values(&[&pool.to_string()])
            .set(*weight);
    }
    m.routing_groups.observe(run.routing.groups.len() as f64);
    for group in &run.routing.groups {
        m.group_size.observe(group.txs.len() as f64);
    }
    let pairs: u64 = run
        .routing
        .groups
        .iter()
        .map(|g| (g.txs.len() as u64) * (g.txs.len() as u64).saturating_sub(1) / 2)
        .sum();
    m.grouped_pairs.inc_by(pairs);
    let reexecuted = run.commit.reexecuted_txs() as u64;
    m.validation_misses.inc_by(reexecuted);
    m.reexecuted_txs.inc_by(reexecuted);
    m.reexecuted_gas.inc_by(run.commit.reexecuted_gas);
    m.head_txs.inc_by(run.commit.head as u64);
    m.routing_seconds.observe(run.routing_nanos as f64 / 1e9);
    // A block that fell back before routing has no prediction: keep the last one.
    if let Some(p) = run.prediction {
        m.predicted_speedup.set(p.speedup());
    }
    m.min_speedup.set(executor.cost_model().min_speedup);
    let gas: Vec<u64> = run.result.outcomes.iter().map(|o| o.gas_used).collect();
    let outcomes = &run.result.outcomes;
    let dependencies = true_dependencies(block, outcomes);
    let dag_bound = DagShape::new(block, outcomes, &dependencies, &gas).bound(pools);
    m.dag_bound.set(dag_bound);
    m.refresh_model(&node.hooks.router);
    node.set_last_block(BlockSummary {
        number: sealed.number(),
        hash: sealed.hash,
        txs,
        gas_used: run.result.gas_used,
        mode,
        reexecuted_txs: reexecuted as usize,
        wall_seconds: run.wall_nanos as f64 / 1e9,
        dag_bound,
    });
}
