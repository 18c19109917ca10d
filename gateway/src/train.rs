//! `switchyard train`: fit the conflict model on traffic logs and write a model file.

use crate::progress;
use anyhow::Context as _;
use std::{io::Write, path::PathBuf};
use switchyard_model::{TrainOptions, TrainProgress, TrainReport, costs::CostReport, train::Algo};

/// Arguments of `switchyard train`.
#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Traffic-log folder written by `switchyard replay --log` or the gateway.
    #[arg(long, value_name = "DIR")]
    pub logs: PathBuf,
    /// Where to write the model file.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// The classifier: logistic (deterministic) or tree.
    #[arg(long, default_value = "logistic", value_parser = parse_algo)]
    pub algo: Algo,
    /// Share of blocks held out for evaluation (split by block, never by pair).
    #[arg(long, default_value_t = 0.25)]
    pub holdout_fraction: f64,
    /// Print one JSON report object as the last line of stdout.
    #[arg(long)]
    pub json: bool,
}

fn parse_algo(s: &str) -> Result<Algo, String> {
    s.parse()
        .map_err(|e: switchyard_model::Error| e.to_string())
}

/// Trains, writes the model file and prints the held-out report.
pub fn run(args: &TrainArgs, out: &mut impl Write) -> anyhow::Result<TrainReport> {
    let options = TrainOptions {
        logs: args.logs.clone(),
        out: Some(args.out.clone()),
        algo: args.algo,
        holdout_fraction: args.holdout_fraction,
        ..TrainOptions::default()
    };
    let bar = progress::bar(0, "train");
    let report = switchyard_model::train(&options, &mut |step| match step {
        TrainProgress::Reading { blocks } => bar.set_message(format!("read {blocks} blocks")),
        TrainProgress::Pairing { done, total } => {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message("pairing");
        }
        TrainProgress::Fitting { algo, rows } => {
            bar.set_message(format!("fitting {algo} on {rows} pairs"))
        }
        TrainProgress::Evaluating { pairs } => bar.set_message(format!("evaluating {pairs} pairs")),
        _ => {}
    })
    .with_context(|| format!("training on {}", args.logs.display()))?;
    bar.finish_and_clear();

    writeln!(
        out,
        "{} model: {} train blocks ({} pairs), {} held-out blocks",
        report.algo, report.train_blocks, report.train_pairs, report.test_blocks
    )?;
    writeln!(
        out,
        "{:<24} {:>9} {:>9} {:>9} {:>9}",
        "held-out pairs", "precision", "recall", "f1", "auc"
    )?;
    writeln!(
        out,
        "{:<24} {:>9.4} {:>9.4} {:>9.4} {:>9.4}",
        format!("model ({} pairs)", report.pairs),
        report.precision,
        report.recall,
        report.f1,
        report.auc
    )?;
    for (name, m) in &report.baselines {
        writeln!(
            out,
            "{name:<24} {:>9.4} {:>9.4} {:>9.4} {:>9.4}",
            m.precision, m.recall, m.f1, m.auc
        )?;
    }
    match &report.costs {
        CostReport::Learned {
            rows,
            r2,
            holdout_r2,
            holdout_share_error,
            estimate_share_error,
        } => {
            let figure = |x: &Option<f64>| x.map_or("-".to_owned(), |x| format!("{x:.3}"));
            writeln!(
                out,
                "costs: execution times learned from {rows} transactions (R² {r2:.3}, held-out {}); \
                 held-out blocks' time shares off by {} against {} for the executor's estimates",
                figure(holdout_r2),
                figure(holdout_share_error),
                figure(estimate_share_error),
            )?;
        }
        CostReport::Skipped { reason } => {
            writeln!(
                out,
                "costs: not learned, packing uses the executor's estimates: {reason}"
            )?;
        }
    }
    writeln!(
        out,
        "threshold {} written to {}",
        report.threshold,
        args.out.display()
    )?;
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    }
    Ok(report)
}
