//! `switchyard replay`: execute real blocks sequentially and across pools, in the same run, and
//! check both against the chain (gasUsed, receiptsRoot) and against each other.

use crate::progress;
use anyhow::{Context as _, bail};
use serde::Serialize;
use std::{io::Write, path::PathBuf, sync::Arc, time::Duration};
use switchyard_executors::{
    Block, BlockFixture, State,
    block::find_block_dirs,
    check,
    cost::{Fallback, estimated_cost},
    dag::{DagShape, Projection, SimulationCosts, simulate},
    execute_sequential,
    parallel::{ParallelExecutor, ParallelRun},
    router::{self, OracleFacts, RouteInput, Router},
    sequential::SequentialRun,
    system,
};
use switchyard_model::{BlockRecord, Model, ModelRouter, TrafficLogWriter, TxExec};

/// Arguments of `switchyard replay`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// Block folders (each holding block.json and prestate.json) or folders of them.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Print one JSON summary object as the last line of stdout.
    #[arg(long)]
    pub json: bool,
    /// Timed runs of each side per block, after an untimed reference and warm-up; reported
    /// times are medians. A block runs more pairs while its timed sequential runs total under
    /// 2 ms (up to 1,000), so that microsecond blocks are not timed at the clock's resolution.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub repeat: u32,
    /// Executor pools for the parallel run (0: sequential only). Defaults to one per core.
    #[arg(long, default_value_t = default_pools())]
    pub pools: usize,
    /// Router for the parallel run.
    #[arg(long, default_value = "contract", value_parser = parse_router)]
    pub router: String,
    /// Also run these routers on every block, in the same process, each timed run beside
    /// `--router`'s in every repetition, so that a comparison of routers is not a comparison
    /// of moments of the host. Reported under `compared`.
    #[arg(long, value_delimiter = ',', value_name = "ROUTER,...", value_parser = parse_router)]
    pub compare: Vec<String>,
    /// Project the makespan onto these pool counts, e.g. 4,8,16,32.
    #[arg(long, value_delimiter = ',', value_name = "N,...")]
    pub simulate_pools: Vec<usize>,
    /// Add this overhead per transaction, in nanoseconds, to each projected block: the
    /// measured cost of remote pools over the network (docs/benchmarks.md).
    #[arg(long, value_name = "NANOS", default_value_t = 0)]
    pub network_overhead_per_tx: u64,
    /// Never fall back to sequential: every block goes through pools and the commit.
    #[arg(long)]
    pub no_fallback: bool,
    /// Give the commit no head start: by default it executes each routed block from its first
    /// transaction while the router works, and the pools take up the block where it stopped.
    #[arg(long)]
    pub no_head_start: bool,
    /// Model file for the router `model` (written by `switchyard train`).
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Write a traffic-log record of every block into this folder (see docs/traffic-log.md).
    #[arg(long, value_name = "DIR")]
    pub log: Option<PathBuf>,
}

fn default_pools() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// The name of the model router (in the model crate, so not among the built-in names).
const MODEL_ROUTER: &str = "model";

fn parse_router(name: &str) -> Result<String, String> {
    match router::by_name(name) {
        Some(_) => Ok(name.to_owned()),
        None if name == MODEL_ROUTER => Ok(name.to_owned()),
        None => Err(format!(
            "unknown router; expected one of {}, {MODEL_ROUTER}",
            router::ROUTER_NAMES.join(", ")
        )),
    }
}

/// The routers named on the command line, `--router` first, then `--compare`'s; `model`
/// loads `--model` (once, shared).
pub fn build_routers(args: &ReplayArgs) -> anyhow::Result<Vec<Box<dyn Router>>> {
    if args.pools == 0 && !args.compare.is_empty() {
        bail!("--compare compares parallel runs: it needs --pools of at least 1");
    }
    let names: Vec<&str> = std::iter::once(args.router.as_str())
        .chain(args.compare.iter().map(String::as_str))
        .collect();
    if let Some((i, name)) = names
        .iter()
        .enumerate()
        .find(|(i, name)| names[..*i].contains(name))
    {
        bail!("router {name} is named twice (position {})", i + 1);
    }
    let model = match (&args.model, names.contains(&MODEL_ROUTER)) {
        (Some(path), true) => Some(Arc::new(
            Model::load(path).with_context(|| format!("loading {}", path.display()))?,
        )),
        (None, true) => bail!("router model needs --model FILE (see `switchyard train`)"),
        (Some(_), false) => bail!("--model is used only with router model (--router or --compare)"),
        (None, false) => None,
    };
    names
        .into_iter()
        .map(|name| match &model {
            Some(model) if name == MODEL_ROUTER => {
                Ok(Box::new(ModelRouter::shared(model.clone())) as Box<dyn Router>)
            }
            _ => router::by_name(name).with_context(|| format!("unknown router {name}")),
        })
        .collect()
}

/// One block's figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BlockReport {
    /// Block number (0 when the block could not be loaded).
    pub number: u64,
    /// The folder it came from.
    pub path: PathBuf,
    /// Transactions.
    pub txs: usize,
    /// Gas used.
    pub gas: u64,
    /// Median sequential time.
    pub sequential_seconds: f64,
    /// The dependency-DAG bound for the pool count.
    pub dag_bound: f64,
    /// The parallel run with `--router`.
    #[serde(flatten)]
    pub parallel: ParallelFigures,
    /// The parallel runs with `--compare`'s routers, in its order.
    pub compared: Vec<ComparedBlock>,
    /// Everything that did not match, as text.
    pub mismatches: Vec<String>,
    /// Projections for `--simulate-pools`.
    pub simulated: Vec<Projection>,
    #[serde(skip)]
    shape: Option<DagShape>,
}

/// A router's parallel run of one block: the median of its timed runs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ParallelFigures {
    /// Median parallel time (0 without pools).
    pub parallel_seconds: f64,
    /// Sequential ÷ parallel.
    pub speedup: f64,
    /// Of the parallel time: routing.
    pub routing_seconds: f64,
    /// Of the parallel time: until every pool had answered (routing included).
    pub pools_seconds: f64,
    /// Of the parallel time: the ordered commit (validation, re-execution, receipts).
    pub commit_seconds: f64,
    /// Transactions re-executed at commit (median run).
    pub reexecuted_txs: usize,
    /// Gas re-executed at commit (median run).
    pub reexecuted_gas: u64,
    /// The block's first transactions the commit executed while the router worked (median
    /// run); the pools took up the block after them.
    pub head_txs: usize,
    /// Speedup ÷ DAG bound.
    pub efficiency: f64,
    /// Set when the block fell back to sequential execution.
    pub fallback: Option<Fallback>,
    /// The cost model's predicted speedup for the routed block (median run), which the
    /// fallback compared with its bar; absent when no rate was measured yet, or when the block
    /// was declined before routing (its `fallback` then carries the best case predicted).
    pub predicted_speedup: Option<f64>,
}

impl ParallelFigures {
    /// The figures of the median of `runs` (by wall time; none without runs), and its index.
    fn of(runs: &[ParallelSummary], sequential_seconds: f64, dag_bound: f64) -> (Self, usize) {
        let walls: Vec<u64> = runs.iter().map(|r| r.wall_nanos).collect();
        if walls.is_empty() {
            return (Self::default(), 0);
        }
        let index = median_index(&walls);
        let median = &runs[index];
        let parallel_seconds = secs(median.wall_nanos);
        let speedup = sequential_seconds / parallel_seconds.max(1e-12);
        let figures = Self {
            parallel_seconds,
            speedup,
            routing_seconds: secs(median.routing_nanos),
            pools_seconds: secs(median.dispatch_nanos),
            commit_seconds: secs(median.wall_nanos - median.dispatch_nanos),
            reexecuted_txs: median.reexecuted_txs,
            reexecuted_gas: median.reexecuted_gas,
            head_txs: median.head_txs,
            efficiency: speedup / dag_bound,
            fallback: median.fallback,
            predicted_speedup: median.predicted_speedup,
        };
        (figures, index)
    }
}

/// A compared router's run of one block (`--compare`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ComparedBlock {
    /// The router.
    pub router: String,
    /// Its figures, timed in the same repetitions as the block's own.
    #[serde(flatten)]
    pub parallel: ParallelFigures,
}

/// A router's totals over the replay.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RouterTotals {
    /// The router.
    pub router: String,
    /// Total parallel time (sum of per-block medians).
    pub parallel_seconds: f64,
    /// Aggregate speedup: total sequential ÷ total parallel time.
    pub speedup: f64,
    /// Total routing time (of the median runs).
    pub routing_seconds: f64,
    /// Transactions re-executed at commit.
    pub reexecuted_txs: usize,
    /// Gas re-executed at commit.
    pub reexecuted_gas: u64,
    /// Re-executed gas ÷ all gas.
    pub reexecuted_gas_share: f64,
    /// Aggregate speedup ÷ aggregate DAG bound.
    pub efficiency: f64,
    /// Blocks that ran sequentially by the fallback.
    pub fallback_blocks: usize,
}

impl RouterTotals {
    /// The totals of `router`'s figures, one per block (`blocks` gives the sequential time and
    /// gas each is measured against), over an aggregate DAG bound of `dag_bound`.
    fn of<'a>(
        router: &str,
        blocks: impl Iterator<Item = (&'a BlockReport, &'a ParallelFigures)>,
        dag_bound: f64,
    ) -> Self {
        let mut t = Self {
            router: router.to_owned(),
            ..Self::default()
        };
        let (mut sequential, mut gas) = (0.0, 0);
        for (b, p) in blocks {
            sequential += b.sequential_seconds;
            gas += b.gas;
            t.parallel_seconds += p.parallel_seconds;
            t.routing_seconds += p.routing_seconds;
            t.reexecuted_txs += p.reexecuted_txs;
            t.reexecuted_gas += p.reexecuted_gas;
            t.fallback_blocks += usize::from(p.fallback.is_some());
        }
        if t.parallel_seconds > 0.0 {
            t.speedup = sequential / t.parallel_seconds;
            t.efficiency = t.speedup / dag_bound;
        }
        if gas > 0 {
            t.reexecuted_gas_share = t.reexecuted_gas as f64 / gas as f64;
        }
        t
    }
}

/// The aggregate of a replay; printed as the JSON summary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplaySummary {
    /// Blocks replayed.
    pub blocks: usize,
    /// Transactions replayed.
    pub txs: usize,
    /// Gas replayed.
    pub gas: u64,
    /// Blocks with at least one mismatch or error.
    pub mismatches: usize,
    /// Total sequential time (sum of per-block medians).
    pub sequential_seconds: f64,
    /// Pools used for the parallel run.
    pub pools: usize,
    /// The totals of `--router` (`none` without pools).
    #[serde(flatten)]
    pub parallel: RouterTotals,
    /// Aggregate DAG bound: total work ÷ Σ max(work ÷ pools, critical path).
    pub dag_bound: f64,
    /// Aggregate projections for `--simulate-pools`.
    pub simulated: Vec<Projection>,
    /// The totals of `--compare`'s routers, in its order.
    pub compared: Vec<RouterTotals>,
    /// Per-block figures.
    pub per_block: Vec<BlockReport>,
}

/// Runs the replay, writing one line per block and a summary to `out`.
pub fn run(args: &ReplayArgs, out: &mut impl Write) -> anyhow::Result<ReplaySummary> {
    // The routers first: a bad `--router`/`--compare`/`--model` is reported before any path
    // is read.
    let routers = build_routers(args)?;
    let mut dirs = Vec::new();
    for path in &args.paths {
        if !path.exists() {
            bail!("{}: no such file or directory", path.display());
        }
        dirs.extend(find_block_dirs(path).with_context(|| format!("{}", path.display()))?);
    }
    let blocks = dirs.into_iter().map(|dir| {
        let fixture = BlockFixture::load(&dir).map_err(|e| format!("cannot load: {e}"));
        (dir, fixture)
    });
    replay_with(args, &routers, blocks, out)
}

/// Replays `blocks` (each named by a path, loaded lazily; a load error is reported as that
/// block's mismatch) as [`run`] does; `args.paths` is not read. `switchyard bench` feeds it
/// synthetic blocks this way.
pub fn replay_blocks(
    args: &ReplayArgs,
    blocks: impl ExactSizeIterator<Item = (PathBuf, Result<BlockFixture, String>)>,
    out: &mut impl Write,
) -> anyhow::Result<ReplaySummary> {
    let routers = build_routers(args)?;
    replay_with(args, &routers, blocks, out)
}

fn replay_with(
    args: &ReplayArgs,
    routers: &[Box<dyn Router>],
    blocks: impl ExactSizeIterator<Item = (PathBuf, Result<BlockFixture, String>)>,
    out: &mut impl Write,
) -> anyhow::Result<ReplaySummary> {
    let mut log = match &args.log {
        Some(dir) => Some(
            TrafficLogWriter::create(dir)
                .with_context(|| format!("opening traffic log {}", dir.display()))?,
        ),
        None => None,
    };
    switchyard_executors::execute::warm_up_precompiles();
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let executor = match args.pools {
        0 => None,
        pools => {
            let executor = ParallelExecutor::in_process(pools)?;
            let executor = if args.no_fallback {
                executor.without_fallback()
            } else {
                executor
            };
            let executor = if args.no_head_start {
                executor.without_head_start()
            } else {
                executor
            };
            runtime.block_on(executor.calibrate())?;
            Some(executor)
        }
    };

    let bar = progress::bar(blocks.len() as u64, "replay");
    let mut reports = Vec::with_capacity(blocks.len());
    for (path, fixture) in blocks {
        bar.set_message(
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let report = match fixture {
            Ok(fixture) => runtime.block_on(replay_block(
                args,
                fixture,
                executor.as_ref(),
                routers,
                log.as_mut(),
            ))?,
            Err(mismatch) => BlockReport {
                path,
                mismatches: vec![mismatch],
                ..Default::default()
            },
        };
        bar.suspend(|| writeln!(out, "{}", block_line(&report, args.pools)))?;
        bar.inc(1);
        reports.push(report);
    }
    bar.finish_and_clear();
    if let Some(log) = log.as_mut() {
        log.flush().context("flushing the traffic log")?;
    }

    let summary = summarize(args, reports);
    for line in summary_lines(&summary) {
        writeln!(out, "{line}")?;
    }
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&summary)?)?;
    }
    Ok(summary)
}

async fn replay_block(
    args: &ReplayArgs,
    fixture: BlockFixture,
    executor: Option<&ParallelExecutor>,
    routers: &[Box<dyn Router>],
    log: Option<&mut TrafficLogWriter>,
) -> anyhow::Result<BlockReport> {
    let mut report = BlockReport {
        number: fixture.block.number(),
        path: fixture.path.clone(),
        txs: fixture.block.txs.len(),
        ..Default::default()
    };
    let mut state = fixture.state;
    system::apply_pre_block(&mut state, &fixture.block);
    let base = Arc::new(state);
    let block = Arc::new(fixture.block);

    // The first sequential run is the reference (oracle, DAG, log), untimed: it also warms the
    // sequential path. Two untimed parallel runs warm the parallel one (its first runs of a
    // block are slower, as the first sequential ones are), checked like the others: the first
    // goes across the pools whatever the fallback would say, and teaches the cost model
    // nothing (it is cold); the second decides and learns as the timed runs do. Without the
    // first, a block the fallback could not yet judge (the first of a fork) warmed up
    // sequentially, and its timed parallel run found the pools asleep since the previous block
    // (on this VM an idle core wakes 0.5-3 ms late) while the sequential side was warm;
    // without the second, a declined block's timed fallback ran cold after the pools'
    // warm-up.
    // Timed runs then come in pairs whose order alternates (P S, S P; below), so neither side
    // always runs first; each run is dropped as soon as it is checked, so neither side runs
    // with the other's results still occupying memory.
    let reference = match execute_sequential(&block, base.clone()) {
        Ok(run) => run,
        Err(e) => {
            report
                .mismatches
                .push(format!("sequential execution failed: {e}"));
            return Ok(report);
        }
    };
    let oracle = OracleFacts::from_run(&block, &reference.result.outcomes, &reference.tx_nanos);
    // A mismatch names the router when several run.
    let label = |k: usize| match k {
        0 if routers.len() == 1 => "parallel".to_owned(),
        _ => format!("parallel ({})", routers[k].name()),
    };
    let run_parallel = async |executor: &ParallelExecutor,
                              k: usize,
                              forced: bool,
                              mismatches: &mut Vec<String>| {
        let router = routers[k].as_ref();
        let run = if forced {
            executor
                .warm_up(&block, base.clone(), router, Some(&oracle))
                .await
        } else {
            executor
                .execute(&block, base.clone(), router, Some(&oracle))
                .await
        };
        match run {
            Ok(run) => {
                let found = check::against_header(&block, &run.result)
                    .into_iter()
                    .chain(check::against_reference(&reference.result, &run.result));
                mismatches.extend(found.map(|m| format!("{}: {m}", label(k))));
                Some(ParallelSummary::of(run))
            }
            Err(e) => {
                mismatches.push(format!("{} execution failed: {e}", label(k)));
                None
            }
        }
    };
    let mut seq_walls = Vec::new();
    // Each router's checked runs, in `routers`' order.
    let mut parallel: Vec<Vec<ParallelSummary>> = routers.iter().map(|_| Vec::new()).collect();
    if let Some(executor) = executor {
        for k in 0..routers.len() {
            for forced in [true, false] {
                if run_parallel(executor, k, forced, &mut report.mismatches)
                    .await
                    .is_none()
                {
                    return Ok(report);
                }
            }
        }
    }
    // A block of a few microseconds is timed near the clock's resolution and one cache miss
    // off: it repeats until its sequential side has run `MIN_TIMED_NANOS` in all. Each router
    // in turn times two pairs, P S S P, before the next router's: for one router, the
    // alternating pairs above. With several, each router's runs meet the same neighbours: its
    // first parallel run follows another's (the pools awake), its second a sequential run (the
    // pools idle). A pair left over runs S P, so that it meets the same for every router.
    // (Pairs rotated one router at a time gave the first place to some routers more often
    // than to others.)
    let (mut repeat, mut round) = (0, 0);
    while repeat < args.repeat
        || (seq_walls.iter().sum::<u64>() < MIN_TIMED_NANOS && repeat < MAX_REPEAT)
    {
        let pairs = if repeat + 1 < args.repeat { 2 } else { 1 };
        for turn in 0..routers.len() {
            let k = (turn + round) % routers.len();
            for pair in 0..pairs {
                let parallel_first = pairs == 2 && pair == 0;
                if !parallel_first {
                    seq_walls.push(time_sequential(&block, &base)?);
                }
                if let Some(executor) = executor {
                    match run_parallel(executor, k, false, &mut report.mismatches).await {
                        Some(run) => parallel[k].push(run),
                        None => return Ok(report),
                    }
                }
                if parallel_first {
                    seq_walls.push(time_sequential(&block, &base)?);
                }
            }
        }
        repeat += pairs;
        round += 1;
    }
    let median_seq = median_index(&seq_walls);
    report.gas = reference.result.gas_used;
    report.sequential_seconds = secs(seq_walls[median_seq]);
    for mismatch in check::against_header(&block, &reference.result) {
        report
            .mismatches
            .push(format!("sequential vs chain: {mismatch}"));
    }

    let pools = args.pools.max(1);
    let shape = DagShape::new(
        &block,
        &reference.result.outcomes,
        &oracle.dependencies,
        &reference.tx_nanos,
    );
    report.dag_bound = shape.bound(pools);
    report.shape = Some(shape);

    let mut median_parallel = 0;
    for (k, runs) in parallel.iter().enumerate() {
        let (figures, median) =
            ParallelFigures::of(runs, report.sequential_seconds, report.dag_bound);
        match k {
            0 => (report.parallel, median_parallel) = (figures, median),
            _ => report.compared.push(ComparedBlock {
                router: routers[k].name().to_owned(),
                parallel: figures,
            }),
        }
    }

    if let Some(log) = log {
        let record = traffic_record(&block, &base, &reference, parallel[0].get(median_parallel))?;
        log.append(&record).context("writing the traffic log")?;
    }

    if !args.simulate_pools.is_empty() {
        let costs = executor
            .map(|e| e.cost_model())
            .map_or(SimulationCosts::default(), |m| SimulationCosts {
                dispatch_nanos: m.overhead() as u64
                    + args.network_overhead_per_tx * block.txs.len() as u64,
                validate_nanos_per_tx: m.validate_ns_per_tx.get().unwrap_or(0.0) as u64,
            });
        report.simulated = project(
            &block,
            &base,
            &reference,
            &oracle,
            routers[0].as_ref(),
            &args.simulate_pools,
            costs,
        );
    }
    Ok(report)
}

/// The traffic-log record of a block: the parallel run's pools, re-executions and times when
/// there was one, else the sequential run's (every transaction in pool 0).
fn traffic_record(
    block: &Block,
    base: &State,
    reference: &SequentialRun,
    parallel: Option<&ParallelSummary>,
) -> anyhow::Result<BlockRecord> {
    let exec: Vec<TxExec> = match parallel {
        Some(run) if run.fallback.is_none() => run.exec.clone(),
        _ => TxExec::sequential(&reference.tx_nanos),
    };
    Ok(BlockRecord::from_execution(
        block,
        &reference.result.outcomes,
        &exec,
        Some(base),
    )?)
}

/// What replay keeps of a parallel run once it is checked.
#[derive(Debug)]
struct ParallelSummary {
    wall_nanos: u64,
    routing_nanos: u64,
    dispatch_nanos: u64,
    reexecuted_txs: usize,
    reexecuted_gas: u64,
    head_txs: usize,
    fallback: Option<Fallback>,
    predicted_speedup: Option<f64>,
    exec: Vec<TxExec>,
}

impl ParallelSummary {
    fn of(run: ParallelRun) -> Self {
        let commit = &run.commit;
        let exec = (0..run.result.outcomes.len())
            .map(|i| TxExec {
                pool: commit.pools.get(i).copied().flatten().unwrap_or(0),
                reexecuted: commit.reexecuted.get(i).copied().unwrap_or(false),
                nanos: commit.speculative_nanos.get(i).copied().unwrap_or(0),
            })
            .collect();
        Self {
            wall_nanos: run.wall_nanos,
            routing_nanos: run.routing_nanos,
            dispatch_nanos: run.dispatch_nanos,
            reexecuted_txs: commit.reexecuted_txs(),
            reexecuted_gas: commit.reexecuted_gas,
            head_txs: commit.head,
            fallback: run.fallback,
            predicted_speedup: run.prediction.map(|p| p.speedup()),
            exec,
        }
    }
}

/// Timed sequential time a block gathers at least, in nanoseconds, by running more than
/// `--repeat` pairs when it is small.
const MIN_TIMED_NANOS: u64 = 2_000_000;

/// Timed pairs of runs a block never exceeds (the cap of `--repeat`).
const MAX_REPEAT: u32 = 1_000;

/// Times one sequential run and drops its result.
fn time_sequential(block: &Block, base: &Arc<State>) -> anyhow::Result<u64> {
    let started = std::time::Instant::now();
    let run = execute_sequential(block, base.clone())?;
    let nanos = started.elapsed().as_nanos() as u64;
    drop(run);
    Ok(nanos)
}

/// Projections of one block onto each pool count in `pool_counts`.
fn project(
    block: &Block,
    state: &State,
    reference: &SequentialRun,
    oracle: &OracleFacts,
    router: &dyn Router,
    pool_counts: &[usize],
    costs: SimulationCosts,
) -> Vec<Projection> {
    // The executor's estimates, so that routers cost the projection as they cost a run.
    let estimates: Vec<u64> = block
        .txs
        .iter()
        .map(|tx| estimated_cost(tx, state))
        .collect();
    let tx_costs = router
        .known_costs(block, &estimates, Some(oracle))
        .unwrap_or(estimates);
    pool_counts
        .iter()
        .map(|&pools| {
            let weights = vec![1.0; pools.max(1)];
            let routing = router.route(&RouteInput {
                block,
                costs: &tx_costs,
                pool_weights: &weights,
                state: Some(state),
                oracle: Some(oracle),
            });
            simulate(
                block,
                &reference.result.outcomes,
                &oracle.dependencies,
                &reference.tx_nanos,
                &routing,
                pools,
                costs,
            )
        })
        .collect()
}

fn summarize(args: &ReplayArgs, per_block: Vec<BlockReport>) -> ReplaySummary {
    let pools = args.pools.max(1);
    let mut s = ReplaySummary {
        blocks: per_block.len(),
        pools: args.pools,
        ..Default::default()
    };
    let (mut work, mut dag_time) = (0f64, 0f64);
    for b in &per_block {
        s.txs += b.txs;
        s.gas += b.gas;
        s.mismatches += usize::from(!b.mismatches.is_empty());
        s.sequential_seconds += b.sequential_seconds;
        if let Some(shape) = b.shape {
            let total = shape.total_nanos as f64;
            work += total;
            dag_time += (total / pools as f64).max(shape.critical_nanos as f64);
        }
    }
    s.dag_bound = if dag_time > 0.0 { work / dag_time } else { 1.0 };
    let router = if args.pools == 0 {
        "none"
    } else {
        &args.router
    };
    s.parallel = RouterTotals::of(
        router,
        per_block.iter().map(|b| (b, &b.parallel)),
        s.dag_bound,
    );
    // `--compare` needs pools (`build_routers`).
    s.compared = args
        .compare
        .iter()
        .enumerate()
        .map(|(k, router)| {
            let figures = per_block
                .iter()
                .filter_map(|b| Some((b, &b.compared.get(k)?.parallel)));
            RouterTotals::of(router, figures, s.dag_bound)
        })
        .collect();
    s.simulated = args
        .simulate_pools
        .iter()
        .enumerate()
        .map(|(i, &pools)| {
            let (mut makespan, mut total, mut reexecuted_gas) = (0u64, 0u64, 0u64);
            for b in &per_block {
                if let (Some(p), Some(shape)) = (b.simulated.get(i), b.shape) {
                    makespan += p.makespan_nanos;
                    total += shape.total_nanos;
                    reexecuted_gas += p.reexecuted_gas;
                }
            }
            Projection {
                pools,
                makespan_nanos: makespan,
                speedup: if makespan > 0 {
                    total as f64 / makespan as f64
                } else {
                    1.0
                },
                reexecuted_gas,
            }
        })
        .collect();
    s.per_block = per_block;
    s
}

fn block_line(b: &BlockReport, pools: usize) -> String {
    let status = if b.mismatches.is_empty() {
        "ok".to_owned()
    } else {
        format!("MISMATCH {}", b.mismatches.join("; "))
    };
    let mut line = format!(
        "block {:>9}  txs {:>5}  gas {:>10}  seq {:>9}",
        b.number,
        b.txs,
        b.gas,
        fmt_secs(b.sequential_seconds)
    );
    let p = &b.parallel;
    if pools > 0 && p.parallel_seconds > 0.0 {
        line += &format!(
            "  par {:>9}  {:>5.2}x  reexec {:>4} ({:>5.2}% gas)  dag {:>4.2}x  eff {:>3.0}%",
            fmt_secs(p.parallel_seconds),
            p.speedup,
            p.reexecuted_txs,
            100.0 * p.reexecuted_gas as f64 / b.gas.max(1) as f64,
            b.dag_bound,
            100.0 * p.efficiency,
        );
        if let Some(fallback) = &p.fallback {
            line += &format!("  fallback={}", fallback_name(fallback));
        }
        for c in &b.compared {
            line += &format!(
                "  | {} {:>9}  {:>5.2}x  reexec {:>4}",
                c.router,
                fmt_secs(c.parallel.parallel_seconds),
                c.parallel.speedup,
                c.parallel.reexecuted_txs
            );
            if c.parallel.fallback.is_some() {
                line += "  fallback";
            }
        }
    }
    format!("{line}  {status}")
}

fn fallback_name(f: &Fallback) -> String {
    match f {
        Fallback::Trivial => "trivial".into(),
        Fallback::Serial { busiest_share } => format!("serial({:.0}%)", busiest_share * 100.0),
        Fallback::NotWorthIt { predicted_speedup } => format!("predicted {predicted_speedup:.2}x"),
        Fallback::Unmeasured => "unmeasured".into(),
    }
}

fn summary_lines(s: &ReplaySummary) -> Vec<String> {
    let mut lines = vec![format!(
        "{} blocks, {} txs, {} gas: {} mismatching; sequential {}",
        s.blocks,
        s.txs,
        s.gas,
        s.mismatches,
        fmt_secs(s.sequential_seconds)
    )];
    if s.pools > 0 {
        let p = &s.parallel;
        lines.push(format!(
            "parallel ({} pools, router {}): {}  speedup {:.2}x  DAG bound {:.2}x  efficiency {:.0}%  \
             re-executed {} txs, {:.2}% of gas  fallback {} blocks",
            s.pools,
            p.router,
            fmt_secs(p.parallel_seconds),
            p.speedup,
            s.dag_bound,
            100.0 * p.efficiency,
            p.reexecuted_txs,
            100.0 * p.reexecuted_gas_share,
            p.fallback_blocks
        ));
        for c in &s.compared {
            lines.push(format!(
                "compared, router {}: {}  speedup {:.2}x ({:.3} of {}'s)  efficiency {:.0}%  \
                 re-executed {} txs, {:.2}% of gas  fallback {} blocks",
                c.router,
                fmt_secs(c.parallel_seconds),
                c.speedup,
                c.speedup / p.speedup.max(f64::EPSILON),
                p.router,
                100.0 * c.efficiency,
                c.reexecuted_txs,
                100.0 * c.reexecuted_gas_share,
                c.fallback_blocks
            ));
        }
    }
    for p in &s.simulated {
        lines.push(format!(
            "projected {:>2} pools: {:.2}x, re-executed {:.2}% of gas",
            p.pools,
            p.speedup,
            100.0 * p.reexecuted_gas as f64 / s.gas.max(1) as f64
        ));
    }
    lines
}

fn median_index(values: &[u64]) -> usize {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by_key(|i| values[*i]);
    order[order.len() / 2]
}

fn secs(nanos: u64) -> f64 {
    Duration::from_nanos(nanos).as_secs_f64()
}

fn fmt_secs(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.2}s")
    } else {
        format!("{:.2}ms", s * 1e3)
    }
}
