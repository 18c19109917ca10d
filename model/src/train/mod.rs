//! Training: from traffic logs to a model file and a report on held-out blocks.
//!
//! 1. Read the records; every record becomes candidate pairs with labels
//!    ([`crate::dataset`]).
//! 2. Split by **block number** (never by pair): a stable hash of the number orders the blocks
//!    and the first `holdout_fraction` of them are held out, so eras mix on both sides and
//!    reruns pick the same blocks.
//! 3. Fit on the training blocks, with out-of-fold conflict rates as features.
//! 4. Choose the threshold on the training rows ([`crate::eval::ThresholdRule`]).
//! 5. Score the held-out pairs with the full rate table; report the model and the heuristics.
//! 6. Fit the cost predictor on the training blocks' timed transactions and judge it on the
//!    held-out blocks' ([`crate::costs`]).
//!
//! - `fit`: the linfa fits.

mod fit;

use crate::{
    classifier::Classifier,
    costs::{self, CostReport},
    dataset::{self, BlockPairs},
    error::{Error, Result},
    eval::{self, PairMetrics, ThresholdRule},
    features::{FEATURE_NAMES, Features, schema_hash},
    model::{Model, TrainingSummary},
    rates::DEFAULT_RATE_CAP,
    traffic::{BlockRecord, TrafficLogReader},
};
use alloy_primitives::keccak256;
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, path::PathBuf, str::FromStr, time::Instant};

/// The classifier to fit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algo {
    /// Logistic regression (deterministic; the default).
    #[default]
    Logistic,
    /// A decision tree.
    Tree,
}

impl FromStr for Algo {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "logistic" => Ok(Self::Logistic),
            "tree" => Ok(Self::Tree),
            other => Err(Error::Training(format!(
                "unknown algorithm {other:?}, expected \"logistic\" or \"tree\""
            ))),
        }
    }
}

impl std::fmt::Display for Algo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Logistic => "logistic",
            Self::Tree => "tree",
        })
    }
}

/// What to train on and how. Check with [`TrainOptions::check`] (done by [`train`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainOptions {
    /// Traffic-log folder (or one log file).
    pub logs: PathBuf,
    /// Where to write the model file; `None` trains and reports only.
    pub out: Option<PathBuf>,
    /// The classifier.
    pub algo: Algo,
    /// Share of blocks held out for evaluation, in (0, 1).
    pub holdout_fraction: f64,
    /// How the threshold is chosen.
    pub threshold_rule: ThresholdRule,
    /// Most (contract, selector) keys kept in the rate table.
    pub rate_cap: usize,
    /// Folds for out-of-fold rate features (1 turns them off).
    pub rate_folds: usize,
    /// L2 penalty of the logistic regression.
    pub logistic_alpha: f64,
    /// L-BFGS iterations of the logistic regression.
    pub logistic_iterations: u64,
    /// Stop L-BFGS when the norm of the mean gradient falls below this.
    pub logistic_tolerance: f64,
    /// Depth limit of the tree.
    pub tree_max_depth: usize,
    /// Fewest training pairs in a tree leaf.
    pub tree_min_leaf: usize,
    /// Most rows the tree is fitted on (linfa's tree is quadratic-ish in depth × rows).
    pub tree_max_rows: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            logs: PathBuf::new(),
            out: None,
            algo: Algo::Logistic,
            holdout_fraction: 0.25,
            threshold_rule: ThresholdRule::default(),
            rate_cap: DEFAULT_RATE_CAP,
            rate_folds: 5,
            logistic_alpha: 1.0,
            logistic_iterations: 200,
            logistic_tolerance: 1e-5,
            tree_max_depth: 10,
            tree_min_leaf: 20,
            tree_max_rows: 200_000,
        }
    }
}

impl TrainOptions {
    /// Rejects options that cannot train.
    pub fn check(&self) -> Result<()> {
        let bad = |what: String| Err(Error::Training(what));
        if !(self.holdout_fraction > 0.0 && self.holdout_fraction < 1.0) {
            return bad(format!(
                "holdout fraction must be in (0, 1), got {}",
                self.holdout_fraction
            ));
        }
        if self.rate_cap == 0 || self.tree_max_depth == 0 || self.tree_max_rows == 0 {
            return bad("rate cap, tree depth and tree rows must be positive".into());
        }
        Ok(())
    }
}

/// Where training is, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrainProgress {
    /// Records read so far.
    Reading {
        /// Blocks read.
        blocks: usize,
    },
    /// Candidate pairs built for `done` of `total` blocks.
    Pairing {
        /// Blocks done.
        done: usize,
        /// Blocks in all.
        total: usize,
    },
    /// The classifier is being fitted.
    Fitting {
        /// The algorithm.
        algo: Algo,
        /// Training rows.
        rows: usize,
    },
    /// Scoring the held-out pairs.
    Evaluating {
        /// Held-out pairs.
        pairs: usize,
    },
    /// Finished.
    Done,
}

/// The outcome of training: held-out quality of the model and of the heuristics.
///
/// `pairs`, `precision`, `recall`, `f1` and `auc` are over the held-out blocks' candidate
/// pairs at the stored `threshold`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// The algorithm fitted.
    pub algo: Algo,
    /// Held-out candidate pairs.
    pub pairs: u64,
    /// Conflicting held-out pairs.
    pub positives: u64,
    /// Held-out precision.
    pub precision: f64,
    /// Held-out recall.
    pub recall: f64,
    /// Held-out F1.
    pub f1: f64,
    /// Held-out AUC.
    pub auc: f64,
    /// The stored threshold.
    pub threshold: f32,
    /// The rule that chose it.
    pub threshold_rule: ThresholdRule,
    /// Whether the rule's precision floor was out of reach on the training rows.
    pub threshold_fell_back: bool,
    /// Held-out metrics of each heuristic: `never`, `same_contract`, `same_contract_selector`.
    pub baselines: BTreeMap<String, PairMetrics>,
    /// The cost predictor: fitted and judged on held-out blocks, or why not.
    pub costs: CostReport,
    /// Training blocks.
    pub train_blocks: usize,
    /// Held-out blocks.
    pub test_blocks: usize,
    /// Training pairs.
    pub train_pairs: u64,
    /// Keys in the stored rate table.
    pub rate_keys: usize,
    /// The feature-schema hash of the model.
    pub schema_hash: String,
    /// Seconds spent fitting the classifier.
    pub fit_seconds: f64,
    /// The model file written, if any.
    pub model_path: Option<PathBuf>,
}

/// Trains on the logs of `opts.logs`, writes the model to `opts.out` (if set) and reports.
pub fn train(opts: &TrainOptions, progress: &mut dyn FnMut(TrainProgress)) -> Result<TrainReport> {
    opts.check()?;
    let mut records = Vec::new();
    for record in TrafficLogReader::open(&opts.logs)? {
        records.push(record?);
        if records.len() % 8 == 0 {
            progress(TrainProgress::Reading {
                blocks: records.len(),
            });
        }
    }
    let (model, mut report) = train_records(&records, opts, progress)?;
    if let Some(out) = &opts.out {
        model.save(out)?;
        report.model_path = Some(out.clone());
    }
    Ok(report)
}

/// Trains on records already in memory; returns the model and the report (writes nothing).
pub fn train_records(
    records: &[BlockRecord],
    opts: &TrainOptions,
    progress: &mut dyn FnMut(TrainProgress),
) -> Result<(Model, TrainReport)> {
    opts.check()?;
    let (train_idx, test_idx) = split_by_block(records, opts.holdout_fraction)?;
    let total = records.len();
    let mut pairs = |idx: &[usize], done: &mut usize| -> Vec<BlockPairs> {
        idx.iter()
            .map(|i| {
                *done += 1;
                progress(TrainProgress::Pairing { done: *done, total });
                BlockPairs::from_record(&records[*i])
            })
            .collect()
    };
    let mut done = 0;
    let train_blocks = pairs(&train_idx, &mut done);
    let test_blocks = pairs(&test_idx, &mut done);

    let folds = if train_blocks.len() >= 2 * opts.rate_folds {
        opts.rate_folds
    } else {
        1
    };
    let rates = dataset::count_rates(&train_blocks).finish(opts.rate_cap);
    let train_rows = if folds > 1 {
        dataset::out_of_fold_features(&train_blocks, folds, opts.rate_cap)
    } else {
        dataset::features(&train_blocks, &rates)
    };
    let train_labels = dataset::labels(&train_blocks);

    progress(TrainProgress::Fitting {
        algo: opts.algo,
        rows: train_rows.len(),
    });
    let started = Instant::now();
    let classifier = match opts.algo {
        Algo::Logistic => fit::logistic(&train_rows, &train_labels, opts)?,
        Algo::Tree => fit::tree(&train_rows, &train_labels, opts)?,
    };
    let fit_seconds = started.elapsed().as_secs_f64();
    let train_scores = score_all(&classifier, &train_rows);
    let choice = eval::choose_threshold(&train_scores, &train_labels, opts.threshold_rule);

    let test_rows = dataset::features(&test_blocks, &rates);
    let test_labels = dataset::labels(&test_blocks);
    progress(TrainProgress::Evaluating {
        pairs: test_rows.len(),
    });
    let holdout = eval::metrics(
        &score_all(&classifier, &test_rows),
        &test_labels,
        choice.threshold,
    );
    let baselines = baselines(&test_rows, &test_labels);
    let side = |idx: &[usize]| idx.iter().map(|i| &records[*i]).collect::<Vec<_>>();
    let (cost_predictor, cost_report) = costs::fit_on_records(&side(&train_idx), &side(&test_idx));

    let numbers = |blocks: &[BlockPairs]| blocks.iter().map(|b| b.number).collect::<Vec<_>>();
    let summary = TrainingSummary {
        train_blocks: numbers(&train_blocks),
        test_blocks: numbers(&test_blocks),
        train_pairs: train_rows.len() as u64,
        train_positives: train_labels.iter().filter(|l| **l).count() as u64,
        holdout,
        baselines: baselines.clone(),
    };
    let report = TrainReport {
        algo: opts.algo,
        pairs: holdout.pairs,
        positives: holdout.positives,
        precision: holdout.precision,
        recall: holdout.recall,
        f1: holdout.f1,
        auc: holdout.auc,
        threshold: choice.threshold,
        threshold_rule: choice.rule,
        threshold_fell_back: choice.fell_back,
        baselines,
        costs: cost_report,
        train_blocks: train_blocks.len(),
        test_blocks: test_blocks.len(),
        train_pairs: summary.train_pairs,
        rate_keys: rates.len(),
        schema_hash: schema_hash(),
        fit_seconds,
        model_path: None,
    };
    let model = Model::new(classifier, rates, choice, cost_predictor, summary);
    progress(TrainProgress::Done);
    Ok((model, report))
}

fn score_all(classifier: &Classifier, rows: &[Features]) -> Vec<f32> {
    rows.iter().map(|r| classifier.probability(r)).collect()
}

/// Held-out metrics of the heuristics, read off the pair features.
fn baselines(rows: &[Features], labels: &[bool]) -> BTreeMap<String, PairMetrics> {
    let feature = |name: &str| {
        FEATURE_NAMES
            .iter()
            .position(|n| *n == name)
            .expect("feature")
    };
    let heuristic =
        |k: Option<usize>| -> Vec<f32> { rows.iter().map(|r| k.map_or(0.0, |k| r[k])).collect() };
    [
        ("never", None),
        ("same_contract", Some(feature("same_to"))),
        ("same_contract_selector", Some(feature("same_to_selector"))),
    ]
    .into_iter()
    .map(|(name, k)| (name.to_owned(), eval::metrics(&heuristic(k), labels, 0.5)))
    .collect()
}

/// Record indices of the training and held-out blocks. All records of one block number fall
/// on the same side.
pub fn split_by_block(
    records: &[BlockRecord],
    holdout_fraction: f64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let mut numbers: Vec<u64> = records.iter().map(|r| r.number).collect();
    numbers.sort_unstable();
    numbers.dedup();
    if numbers.len() < 2 {
        return Err(Error::Training(format!(
            "need at least 2 distinct blocks to hold some out, got {}",
            numbers.len()
        )));
    }
    let held =
        ((numbers.len() as f64 * holdout_fraction).round() as usize).clamp(1, numbers.len() - 1);
    numbers.sort_by_key(|n| (keccak256(n.to_be_bytes()), *n));
    let test: std::collections::BTreeSet<u64> = numbers[..held].iter().copied().collect();
    let (mut train, mut holdout) = (Vec::new(), Vec::new());
    for (i, record) in records.iter().enumerate() {
        if test.contains(&record.number) {
            holdout.push(i);
        } else {
            train.push(i);
        }
    }
    Ok((train, holdout))
}
