//! `switchyard bench`: every whole-program measurement side by side, written as a JSON file of
//! all figures, SVG plots and a markdown report.
//!
//! - this file: the command line, the plan of a quick or full run, and the figures' shape.
//! - [`blocks`]: sections 1 to 3, real and synthetic blocks through every router, sequential
//!   and parallel in the same run, and the `--simulate-pools` projection.
//! - [`gateway`]: section 4, the load generator against a `switchyard serve` child process.
//! - [`plots`]: the SVG plots (plotters).
//! - [`markdown`]: the report, and splicing it into `docs/benchmarks.md` between markers.

pub mod blocks;
pub mod gateway;
pub mod markdown;
pub mod plots;

use anyhow::{Context as _, bail};
use serde::Serialize;
use std::{
    io::Write,
    path::{Path, PathBuf},
};

/// Arguments of `switchyard bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// CI smoke: small blocks, a few mainnet blocks, short load runs. Needs `--out`, and
    /// writes no docs unless `--doc` is given.
    #[arg(long)]
    pub quick: bool,
    /// Folder for figures.json, the SVG plots and report.md [default: docs/bench].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Markdown file whose generated section (between the bench markers) is replaced by the
    /// report [default without --quick: docs/benchmarks.md].
    #[arg(long, value_name = "FILE")]
    pub doc: Option<PathBuf>,
    /// Mainnet block folders [default: $SWITCHYARD_MAINNET_DIR or ../shared/data/mainnet].
    #[arg(long, value_name = "DIR")]
    pub mainnet: Option<PathBuf>,
    /// A model file for the `model` router; without it one is trained on the traffic logs of
    /// this run's mainnet replay (so it is evaluated on the blocks it learned from).
    #[arg(long, value_name = "FILE")]
    pub model: Option<PathBuf>,
    /// Offered rates for the gateway section, transactions per second.
    #[arg(long, value_delimiter = ',', value_name = "TPS,...", value_parser = crate::loadgen::parse_rate)]
    pub rates: Vec<f64>,
    /// Sections to run (all by default).
    #[arg(long, value_delimiter = ',', value_name = "SECTION,...", value_parser = parse_section)]
    pub only: Vec<Section>,
}

/// A part of the benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    /// Real mainnet blocks (with the projection).
    Mainnet,
    /// Synthetic blocks.
    Synthetic,
    /// The gateway end to end.
    Gateway,
}

fn parse_section(s: &str) -> Result<Section, String> {
    match s {
        "mainnet" => Ok(Section::Mainnet),
        "synthetic" => Ok(Section::Synthetic),
        "gateway" => Ok(Section::Gateway),
        _ => Err(format!(
            "unknown section {s:?}; expected mainnet, synthetic or gateway"
        )),
    }
}

/// Sizes of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// `quick` or `full`.
    pub mode: &'static str,
    /// Mainnet blocks replayed (all when `None`).
    pub mainnet_blocks: Option<usize>,
    /// Runs of each block; times are medians.
    pub repeat: u32,
    /// Pool counts actually run.
    pub pools: Vec<usize>,
    /// Pool counts projected.
    pub simulate_pools: Vec<usize>,
    /// Transactions per synthetic block.
    pub synthetic_txs: usize,
    /// Account counts of the synthetic blocks.
    pub synthetic_accounts: Vec<usize>,
    /// Hot ratio of the synthetic blocks and of the load.
    pub hot_ratio: f64,
    /// Offered rates of the gateway section.
    pub rates: Vec<f64>,
    /// Seconds of load per rate.
    pub load_seconds: f64,
    /// Accounts sending load.
    pub load_accounts: u32,
}

impl Plan {
    fn new(args: &BenchArgs) -> Self {
        let quick = args.quick;
        let default_rates = if quick {
            vec![100.0, 300.0]
        } else {
            vec![250.0, 500.0, 1_000.0, 2_000.0, 4_000.0, 8_000.0]
        };
        Self {
            mode: if quick { "quick" } else { "full" },
            mainnet_blocks: quick.then_some(4),
            repeat: if quick { 1 } else { 5 },
            pools: vec![1, 2],
            simulate_pools: vec![2, 4, 8, 16, 32],
            synthetic_txs: if quick { 200 } else { 5_000 },
            synthetic_accounts: vec![2, 10, 100, 1_000, 10_000],
            hot_ratio: 0.1,
            rates: if args.rates.is_empty() {
                default_rates
            } else {
                args.rates.clone()
            },
            load_seconds: if quick { 2.0 } else { 10.0 },
            load_accounts: if quick { 10 } else { 100 },
        }
    }
}

/// The machine and the conditions of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Logical cores.
    pub cores: usize,
    /// Memory, GiB.
    pub memory_gib: f64,
    /// Kernel release.
    pub kernel: String,
    /// Scheduling policy of this process (`SCHED_FIFO` under `chrt -f`).
    pub scheduling: String,
    /// Build profile of this binary.
    pub profile: &'static str,
}

impl Machine {
    fn describe() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let field = |text: &str, key: &str| {
            text.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        };
        let memory_kib: f64 = field(&read("/proc/meminfo"), "MemTotal")
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap_or(0.0);
        let policy = field(&read("/proc/self/sched"), "policy");
        Self {
            cpu: field(&read("/proc/cpuinfo"), "model name"),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: (memory_kib / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            scheduling: match policy.as_str() {
                "1" => "SCHED_FIFO".into(),
                "2" => "SCHED_RR".into(),
                "0" => "SCHED_OTHER".into(),
                other => format!("policy {other:?}"),
            },
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
        }
    }
}

/// Every figure of a run; written as `figures.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    /// The command line, as run.
    pub command: String,
    /// Where it ran.
    pub machine: Machine,
    /// Sizes.
    pub plan: Plan,
    /// Sections 1 and 3 (absent when skipped, with the reason in `notes`).
    pub mainnet: Option<blocks::MainnetFigures>,
    /// Section 2.
    pub synthetic: Option<blocks::SyntheticFigures>,
    /// Section 4.
    pub gateway: Option<gateway::GatewayFigures>,
    /// Sections skipped and why.
    pub notes: Vec<String>,
    /// Mismatches against sequential execution or the chain, anywhere: must be 0.
    pub mismatches: usize,
}

/// Runs the benchmark; progress to `log`. Fails when any run mismatched.
pub fn run(args: &BenchArgs, log: &mut impl Write) -> anyhow::Result<Figures> {
    let out = match (&args.out, args.quick) {
        (Some(out), _) => out.clone(),
        (None, false) => PathBuf::from("docs/bench"),
        (None, true) => bail!("--quick needs --out DIR (a quick run never writes into docs/)"),
    };
    let doc = match (&args.doc, args.quick) {
        (Some(doc), _) => Some(doc.clone()),
        (None, false) => Some(PathBuf::from("docs/benchmarks.md")),
        (None, true) => None,
    };
    if let Some(model) = &args.model
        && !model.is_file()
    {
        bail!("--model {}: no such file", model.display());
    }
    if let Some(doc) = &doc
        && !doc.is_file()
    {
        bail!(
            "--doc {}: no such file (run from the repository root, or pass --doc)",
            doc.display()
        );
    }
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let plan = Plan::new(args);
    let wanted = |s: Section| args.only.is_empty() || args.only.contains(&s);
    let mut figures = Figures {
        command: command_line(),
        machine: Machine::describe(),
        plan: plan.clone(),
        mainnet: None,
        synthetic: None,
        gateway: None,
        notes: Vec::new(),
        mismatches: 0,
    };
    let scratch = Scratch::new()?;
    let mut model = args.model.clone();

    if wanted(Section::Mainnet) {
        let dir = args
            .mainnet
            .clone()
            .or_else(switchyard_executors::fixtures::mainnet_dir);
        match dir {
            Some(dir) => {
                writeln!(log, "== mainnet blocks in {}", dir.display())?;
                let mainnet = blocks::mainnet(&plan, &dir, model.as_deref(), &scratch.0, log)?;
                model = model.or_else(|| mainnet.model_file.clone());
                figures.mismatches += mainnet.mismatches();
                figures.notes.extend(mainnet.notes.iter().cloned());
                figures.mainnet = Some(mainnet);
            }
            None => figures.notes.push(
                "mainnet section skipped: no blocks (set SWITCHYARD_MAINNET_DIR or pass --mainnet)"
                    .into(),
            ),
        }
    }
    if wanted(Section::Synthetic) {
        writeln!(log, "== synthetic blocks")?;
        let synthetic = blocks::synthetic(&plan, model.as_deref(), log)?;
        figures.mismatches += synthetic.mismatches();
        figures.synthetic = Some(synthetic);
    }
    if wanted(Section::Gateway) {
        writeln!(log, "== gateway end to end")?;
        figures.gateway = Some(gateway::measure(&plan, &scratch.0, log)?);
    }

    let json = serde_json::to_string_pretty(&figures)?;
    std::fs::write(out.join("figures.json"), json + "\n")?;
    let svgs = plots::draw_all(&figures, &out)?;
    std::fs::write(out.join("report.md"), markdown::report(&figures, "", &svgs))?;
    if let Some(doc) = &doc {
        let base = doc.parent().unwrap_or(Path::new(""));
        let link_base = out.strip_prefix(base).unwrap_or(&out).display().to_string();
        markdown::splice(doc, &markdown::report(&figures, &link_base, &svgs))?;
        writeln!(log, "wrote the generated section of {}", doc.display())?;
    }
    writeln!(
        log,
        "wrote {} ({} plots, figures.json, report.md)",
        out.display(),
        svgs.len()
    )?;
    if figures.mismatches > 0 {
        bail!(
            "{} runs did not match sequential execution or the chain: see figures.json",
            figures.mismatches
        );
    }
    Ok(figures)
}

/// This process's command line, prefixed with the `chrt` that gives its real-time policy, so
/// the report names what was really run.
fn command_line() -> String {
    let args = std::env::args().collect::<Vec<_>>().join(" ");
    let sched = std::fs::read_to_string("/proc/self/sched").unwrap_or_default();
    let field = |key: &str| {
        sched
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_once(':'))
            .and_then(|(_, v)| v.trim().parse::<i64>().ok())
    };
    // The kernel shows a real-time priority p as prio 99 - p.
    match (field("policy"), field("prio")) {
        (Some(1), Some(prio)) => format!("chrt -f {} {args}", 99 - prio),
        (Some(2), Some(prio)) => format!("chrt -r {} {args}", 99 - prio),
        _ => args,
    }
}

/// A scratch folder for traffic logs, the trained model and the gateway's data, removed when
/// the run ends.
#[derive(Debug)]
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> anyhow::Result<Self> {
        let dir = std::env::temp_dir().join(format!("switchyard-bench-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
