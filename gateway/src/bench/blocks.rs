//! Sections 1 to 3: blocks through every router, sequential and parallel in the same run
//! (the replay machinery of `switchyard replay`), and the projection onto more pools.

use super::Plan;
use crate::{
    replay::{self, ReplayArgs, ReplaySummary},
    train::{self, TrainArgs},
};
use anyhow::Context as _;
use serde::Serialize;
use std::{
    io::Write,
    path::{Path, PathBuf},
};
use switchyard_executors::{
    BlockFixture,
    block::find_block_dirs,
    cost::Fallback,
    synthetic::{Workload, workload_block},
};

/// The heuristic routers, in report order.
pub const HEURISTICS: [&str; 3] = ["round-robin", "sender", "contract"];
/// The learned router.
pub const MODEL: &str = "model";
/// The upper bound of the grouping scheme.
pub const ORACLE: &str = "oracle";

/// Every router compared: the heuristics, the model (when there is one) and the oracle.
pub fn routers(with_model: bool) -> Vec<&'static str> {
    let mut routers = HEURISTICS.to_vec();
    if with_model {
        routers.push(MODEL);
    }
    routers.push(ORACLE);
    routers
}

/// One router at one pool count over a set of blocks.
#[derive(Debug, Clone, Serialize)]
pub struct RouterRun {
    /// Router.
    pub router: String,
    /// Pools run.
    pub pools: usize,
    /// Whether the fallback could run blocks sequentially (off: every block went through the
    /// pools and the commit, which is what compares routers).
    pub fallback: bool,
    /// Total sequential ÷ total parallel time (medians per block).
    pub speedup: f64,
    /// Sum of per-block median sequential times.
    pub sequential_seconds: f64,
    /// Sum of per-block median parallel times.
    pub parallel_seconds: f64,
    /// Re-executed gas ÷ all gas.
    pub reexecuted_gas_share: f64,
    /// Aggregate dependency-DAG bound at this pool count.
    pub dag_bound: f64,
    /// Speedup ÷ DAG bound.
    pub efficiency: f64,
    /// Blocks the fallback ran sequentially.
    pub fallback_blocks: usize,
    /// Blocks that mismatched (must be 0).
    pub mismatches: usize,
    /// Projections onto more pools (section 3), when asked.
    pub projected: Vec<Projected>,
}

/// One projected pool count.
#[derive(Debug, Clone, Serialize)]
pub struct Projected {
    /// Pools.
    pub pools: usize,
    /// Projected speedup over sequential.
    pub speedup: f64,
    /// Projected re-executed gas ÷ all gas.
    pub reexecuted_gas_share: f64,
}

impl RouterRun {
    fn of(summary: &ReplaySummary, args: &ReplayArgs) -> Self {
        Self {
            router: args.router.clone(),
            pools: args.pools,
            fallback: !args.no_fallback,
            speedup: summary.parallel.speedup,
            sequential_seconds: summary.sequential_seconds,
            parallel_seconds: summary.parallel.parallel_seconds,
            reexecuted_gas_share: summary.parallel.reexecuted_gas_share,
            dag_bound: summary.dag_bound,
            efficiency: summary.parallel.efficiency,
            fallback_blocks: summary.parallel.fallback_blocks,
            mismatches: summary.mismatches,
            projected: summary
                .simulated
                .iter()
                .map(|p| Projected {
                    pools: p.pools,
                    speedup: p.speedup,
                    reexecuted_gas_share: p.reexecuted_gas as f64 / summary.gas.max(1) as f64,
                })
                .collect(),
        }
    }
}

/// Sections 1 and 3.
#[derive(Debug, Clone, Serialize)]
pub struct MainnetFigures {
    /// Blocks replayed (their folder names).
    pub blocks: Vec<String>,
    /// Transactions in them.
    pub txs: usize,
    /// Gas in them.
    pub gas: u64,
    /// Every router at every pool count; the 2-pool runs carry the projections.
    pub runs: Vec<RouterRun>,
    /// Where the `model` router's model came from, and its pair quality.
    pub model: Option<ModelSource>,
    /// The model file (in the run's scratch folder when trained here).
    #[serde(skip)]
    pub model_file: Option<PathBuf>,
    /// What could not be measured, and why.
    #[serde(skip)]
    pub notes: Vec<String>,
}

impl MainnetFigures {
    /// Runs that mismatched.
    pub fn mismatches(&self) -> usize {
        self.runs.iter().map(|r| r.mismatches).sum()
    }
}

/// The model used by the `model` router.
#[derive(Debug, Clone, Serialize)]
pub struct ModelSource {
    /// `trained in this run` or the file passed.
    pub origin: String,
    /// Held-out pair precision, recall and AUC from training (absent for a given file).
    pub held_out: Option<[f64; 3]>,
    /// Blocks it was trained on and held out.
    pub blocks: Option<[usize; 2]>,
}

fn replay_args(
    router: &str,
    pools: usize,
    fallback: bool,
    plan: &Plan,
    model: Option<&Path>,
) -> ReplayArgs {
    ReplayArgs {
        paths: Vec::new(),
        json: false,
        repeat: plan.repeat,
        pools,
        router: router.to_owned(),
        compare: Vec::new(),
        simulate_pools: if pools == 2 {
            plan.simulate_pools.clone()
        } else {
            Vec::new()
        },
        no_fallback: !fallback,
        no_head_start: false,
        model: (router == MODEL)
            .then(|| model.map(Path::to_owned))
            .flatten(),
        log: None,
        network_overhead_per_tx: 0,
    }
}

/// Sections 1 and 3: the mainnet blocks of `dir` through every router at every pool count of
/// the plan. Without `model`, one is trained on the logs of the first run (`contract`).
pub fn mainnet(
    plan: &Plan,
    dir: &Path,
    model: Option<&Path>,
    scratch: &Path,
    log: &mut impl Write,
) -> anyhow::Result<MainnetFigures> {
    let mut dirs = find_block_dirs(dir).with_context(|| format!("{}", dir.display()))?;
    if let Some(n) = plan.mainnet_blocks.filter(|&n| n > 0 && n < dirs.len()) {
        // Spread over the eras (the folders sort by block number), the newest included.
        let step = dirs.len() as f64 / n as f64;
        dirs = (1..=n)
            .map(|i| dirs[((i as f64 * step).ceil() as usize).min(dirs.len()) - 1].clone())
            .collect();
    }
    let mut figures = MainnetFigures {
        blocks: dirs
            .iter()
            .map(|d| d.file_name().unwrap_or_default().to_string_lossy().into())
            .collect(),
        txs: 0,
        gas: 0,
        runs: Vec::new(),
        model: model.map(|m| ModelSource {
            origin: m.display().to_string(),
            held_out: None,
            blocks: None,
        }),
        model_file: model.map(Path::to_owned),
        notes: Vec::new(),
    };
    let replay = |args: ReplayArgs| {
        replay::run(
            &ReplayArgs {
                paths: dirs.clone(),
                ..args
            },
            &mut std::io::sink(),
        )
    };

    // The first run writes the traffic log the model learns from.
    let logs = scratch.join("traffic");
    let first = replay(ReplayArgs {
        log: model.is_none().then(|| logs.clone()),
        ..replay_args("contract", 2, true, plan, None)
    })?;
    (figures.txs, figures.gas) = (first.txs, first.gas);
    if model.is_none() {
        let out = scratch.join("model.json");
        let trained = train::run(
            &TrainArgs {
                logs,
                out: out.clone(),
                algo: switchyard_model::train::Algo::Logistic,
                holdout_fraction: 0.25,
                json: false,
            },
            &mut std::io::sink(),
        );
        let trained = match trained {
            Ok(trained) => trained,
            Err(e) => {
                // Too few blocks (a quick run) can leave nothing to learn from: say so and
                // compare the other routers.
                let note = format!("no `model` router: training on this run's logs failed: {e:#}");
                writeln!(log, "{note}")?;
                figures.notes.push(note);
                return finish(figures, plan, &dirs, first, None, log);
            }
        };
        writeln!(
            log,
            "model trained on {} blocks: held-out precision {:.3}, recall {:.3}",
            trained.train_blocks, trained.precision, trained.recall
        )?;
        figures.model = Some(ModelSource {
            origin: "trained in this run on all its blocks' traffic logs".into(),
            held_out: Some([trained.precision, trained.recall, trained.auc]),
            blocks: Some([trained.train_blocks, trained.test_blocks]),
        });
        figures.model_file = Some(out);
    }
    let model = figures.model_file.clone();
    finish(figures, plan, &dirs, first, model.as_deref(), log)
}

/// Runs every router (the model's when `model` is given) at every pool count, with the
/// fallback on and off; `first` is the `contract` run on 2 pools with the fallback, already
/// done.
fn finish(
    mut figures: MainnetFigures,
    plan: &Plan,
    dirs: &[PathBuf],
    first: ReplaySummary,
    model: Option<&Path>,
    log: &mut impl Write,
) -> anyhow::Result<MainnetFigures> {
    let replay = |args: ReplayArgs| {
        replay::run(
            &ReplayArgs {
                paths: dirs.to_vec(),
                ..args
            },
            &mut std::io::sink(),
        )
    };
    for fallback in [true, false] {
        for router in routers(model.is_some()) {
            for &pools in &plan.pools {
                let args = replay_args(router, pools, fallback, plan, model);
                let summary = if (router, pools, fallback) == ("contract", 2, true) {
                    first.clone()
                } else {
                    replay(args.clone())?
                };
                let run = RouterRun::of(&summary, &args);
                writeln!(
                    log,
                    "{router:>12} {pools} pools, fallback {}: {:.2}x, re-executed {:.2}% of gas, \
                     {} fell back, {} mismatching",
                    if fallback { "on " } else { "off" },
                    run.speedup,
                    100.0 * run.reexecuted_gas_share,
                    run.fallback_blocks,
                    run.mismatches
                )?;
                figures.runs.push(run);
            }
        }
    }
    Ok(figures)
}

/// Section 2: one cell per workload, account count and router.
#[derive(Debug, Clone, Serialize)]
pub struct SyntheticFigures {
    /// Every cell.
    pub cells: Vec<SyntheticCell>,
}

impl SyntheticFigures {
    /// Cells that mismatched.
    pub fn mismatches(&self) -> usize {
        self.cells.iter().filter(|c| c.mismatches > 0).count()
    }
}

/// One synthetic block through one router on 2 pools.
#[derive(Debug, Clone, Serialize)]
pub struct SyntheticCell {
    /// Workload.
    pub workload: Workload,
    /// Accounts.
    pub accounts: usize,
    /// Router.
    pub router: String,
    /// Whether the fallback could run the block sequentially.
    pub fallback: bool,
    /// Sequential ÷ parallel (medians).
    pub speedup: f64,
    /// Re-executed gas ÷ all gas.
    pub reexecuted_gas_share: f64,
    /// DAG bound on 2 pools.
    pub dag_bound: f64,
    /// Speedup ÷ DAG bound.
    pub efficiency: f64,
    /// Why the block ran sequentially, if it did.
    pub fell_back: Option<Fallback>,
    /// Mismatches against the sequential reference (must be 0).
    pub mismatches: usize,
}

/// Section 2: every workload × account count × router, on 2 pools, with the fallback on and
/// off.
pub fn synthetic(
    plan: &Plan,
    model: Option<&Path>,
    log: &mut impl Write,
) -> anyhow::Result<SyntheticFigures> {
    let mut cells = Vec::new();
    for workload in Workload::ALL {
        for router in routers(model.is_some()) {
            for fallback in [true, false] {
                let blocks = plan.synthetic_accounts.iter().map(|&accounts| {
                    let (block, state) =
                        workload_block(workload, accounts, plan.synthetic_txs, plan.hot_ratio, 42);
                    let path = PathBuf::from(format!("{workload}-{accounts}"));
                    let fixture = BlockFixture {
                        path: path.clone(),
                        block,
                        state,
                    };
                    (path, Ok(fixture))
                });
                let args = ReplayArgs {
                    simulate_pools: Vec::new(),
                    ..replay_args(router, 2, fallback, plan, model)
                };
                let summary = replay::replay_blocks(&args, blocks, &mut std::io::sink())?;
                for (b, &accounts) in summary.per_block.iter().zip(&plan.synthetic_accounts) {
                    cells.push(SyntheticCell {
                        workload,
                        accounts,
                        router: router.to_owned(),
                        fallback,
                        speedup: b.parallel.speedup,
                        reexecuted_gas_share: b.parallel.reexecuted_gas as f64
                            / b.gas.max(1) as f64,
                        dag_bound: b.dag_bound,
                        efficiency: b.parallel.efficiency,
                        fell_back: b.parallel.fallback,
                        mismatches: b.mismatches.len(),
                    });
                }
            }
            writeln!(log, "{workload:>6} {router:>12}: done")?;
        }
    }
    Ok(SyntheticFigures { cells })
}
