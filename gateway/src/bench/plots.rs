//! The SVG plots: speedup against pools per router, wasted work per router, and latency and
//! throughput against offered load.

use super::{
    Figures,
    blocks::{RouterRun, routers},
};
use anyhow::anyhow;
use plotters::{coord::Shift, prelude::*};
use std::path::{Path, PathBuf};
use switchyard_executors::synthetic::Workload;

/// A plot written to the output folder.
#[derive(Debug, Clone)]
pub struct Plot {
    /// File name inside the output folder.
    pub file: String,
    /// What it shows.
    pub title: String,
}

const SIZE: (u32, u32) = (820, 500);
const FONT: &str = "sans-serif";

/// Draws every plot the figures allow; returns them in report order.
pub fn draw_all(figures: &Figures, out: &Path) -> anyhow::Result<Vec<Plot>> {
    let mut plots = Vec::new();
    if let Some(mainnet) = &figures.mainnet {
        let title =
            "Mainnet blocks, fallback off: speedup against pools (1-2 measured, 2-32 projected)";
        draw(out, "speedup_vs_pools.svg", |area| {
            speedup_vs_pools(area, title, &mainnet.runs)
        })?;
        plots.push(plot("speedup_vs_pools.svg", title));
    }
    if figures.mainnet.is_some() || figures.synthetic.is_some() {
        let title = "Wasted work: re-executed share of gas per router, 2 pools, fallback off";
        draw(out, "wasted_work.svg", |area| {
            wasted_work(area, title, figures)
        })?;
        plots.push(plot("wasted_work.svg", title));
    }
    if let Some(gateway) = figures.gateway.as_ref().filter(|g| !g.points.is_empty()) {
        let points: Vec<[f64; 5]> = gateway
            .points
            .iter()
            .map(|r| {
                [
                    r.offered_tps,
                    r.inclusion_p50_ms,
                    r.inclusion_p99_ms,
                    r.accepted_tps,
                    r.achieved_tps,
                ]
            })
            .collect();
        let title = "Gateway: inclusion latency against offered load";
        draw(out, "latency_vs_load.svg", |area| {
            let series = [("p50", 1), ("p99", 2)].map(|(name, at)| {
                (
                    format!("inclusion {name}"),
                    points.iter().map(|p| (p[0], p[at])).collect(),
                )
            });
            lines_against_load(area, title, "latency, ms", &series, false)
        })?;
        plots.push(plot("latency_vs_load.svg", title));
        let title = "Gateway: accepted and included transactions per second against offered load";
        draw(out, "throughput_vs_load.svg", |area| {
            let series = [
                (
                    "offered".to_owned(),
                    points.iter().map(|p| (p[0], p[0])).collect(),
                ),
                (
                    "accepted".to_owned(),
                    points.iter().map(|p| (p[0], p[3])).collect(),
                ),
                (
                    "included".to_owned(),
                    points.iter().map(|p| (p[0], p[4])).collect(),
                ),
            ];
            lines_against_load(area, title, "transactions per second", &series, true)
        })?;
        plots.push(plot("throughput_vs_load.svg", title));
    }
    Ok(plots)
}

fn plot(file: &str, title: &str) -> Plot {
    Plot {
        file: file.to_owned(),
        title: title.to_owned(),
    }
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), Box<dyn std::error::Error + 'static>>;

fn draw(out: &Path, file: &str, paint: impl FnOnce(&Area) -> DrawResult) -> anyhow::Result<()> {
    let path: PathBuf = out.join(file);
    let area = SVGBackend::new(&path, SIZE).into_drawing_area();
    area.fill(&WHITE).map_err(|e| anyhow!("{file}: {e}"))?;
    paint(&area).map_err(|e| anyhow!("{file}: {e}"))?;
    area.present().map_err(|e| anyhow!("{file}: {e}"))?;
    Ok(())
}

fn color(i: usize) -> RGBColor {
    const COLORS: [RGBColor; 6] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
    ];
    COLORS[i % COLORS.len()]
}

fn speedup_vs_pools(area: &Area, title: &str, runs: &[RouterRun]) -> DrawResult {
    let top = runs
        .iter()
        .flat_map(|r| std::iter::once(r.speedup).chain(r.projected.iter().map(|p| p.speedup)))
        .fold(1.0f64, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((1f64..32f64).log_scale(), 0f64..top * 1.15)?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc("pools")
        .y_desc("speedup over sequential")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    let names: Vec<&str> = routers(true);
    for (i, name) in names.iter().enumerate() {
        let mine: Vec<&RouterRun> = runs
            .iter()
            .filter(|r| r.router == *name && !r.fallback)
            .collect();
        if mine.is_empty() {
            continue;
        }
        let c = color(i);
        let measured: Vec<(f64, f64)> = mine.iter().map(|r| (r.pools as f64, r.speedup)).collect();
        chart
            .draw_series(LineSeries::new(measured, c.stroke_width(3)))?
            .label(format!("{name} (measured)"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3)));
        let projected: Vec<(f64, f64)> = mine
            .iter()
            .flat_map(|r| r.projected.iter().map(|p| (p.pools as f64, p.speedup)))
            .collect();
        if !projected.is_empty() {
            chart
                .draw_series(LineSeries::new(projected, c.mix(0.6).stroke_width(1)))?
                .label(format!("{name} (projected)"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.mix(0.6)));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Grouped bars: one group per router, one bar per block set (mainnet, then each synthetic
/// workload at 100 accounts).
fn wasted_work(area: &Area, title: &str, figures: &Figures) -> DrawResult {
    const ACCOUNTS: usize = 100;
    let names = routers(true);
    let mut sets: Vec<(String, Vec<Option<f64>>)> = Vec::new();
    if let Some(mainnet) = &figures.mainnet {
        let shares = names
            .iter()
            .map(|n| {
                mainnet
                    .runs
                    .iter()
                    .find(|r| r.router == *n && r.pools == 2 && !r.fallback)
                    .map(|r| r.reexecuted_gas_share)
            })
            .collect();
        sets.push(("mainnet".into(), shares));
    }
    if let Some(synthetic) = &figures.synthetic {
        for workload in Workload::ALL {
            let shares = names
                .iter()
                .map(|n| {
                    synthetic
                        .cells
                        .iter()
                        .find(|c| {
                            c.router == *n && c.workload == workload && c.accounts == ACCOUNTS
                        })
                        .map(|c| c.reexecuted_gas_share)
                })
                .collect();
            sets.push((format!("{workload}, {ACCOUNTS} accounts"), shares));
        }
    }
    let top = sets
        .iter()
        .flat_map(|(_, s)| s.iter().flatten().copied())
        .fold(0.05f64, f64::max)
        * 100.0;
    let n = names.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(-0.5f64..n - 0.5, 0f64..top * 1.15)?;
    let label = |x: &f64| {
        let at = x.round();
        if (x - at).abs() < 1e-6 && at >= 0.0 {
            names
                .get(at as usize)
                .map_or(String::new(), |s| s.to_string())
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .disable_x_mesh()
        .x_labels(names.len())
        .x_label_formatter(&label)
        .y_desc("re-executed gas, % of all gas")
        .draw()?;
    let width = 0.8 / sets.len().max(1) as f64;
    for (s, (set, shares)) in sets.iter().enumerate() {
        let c = color(s);
        let bars = shares.iter().enumerate().filter_map(|(r, share)| {
            let x0 = r as f64 - 0.4 + s as f64 * width;
            share.map(|v| Rectangle::new([(x0, 0.0), (x0 + width * 0.9, v * 100.0)], c.filled()))
        });
        chart
            .draw_series(bars)?
            .label(set.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], c.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn lines_against_load(
    area: &Area,
    title: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
    from_zero: bool,
) -> DrawResult {
    // The offered rates are evenly spaced on the axis (they usually double), labelled by value.
    let mut rates: Vec<f64> = series
        .iter()
        .flat_map(|(_, s)| s.iter().map(|p| p.0))
        .collect();
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    let at = |rate: f64| rates.iter().position(|&r| r == rate).unwrap_or(0) as f64;
    let top = series
        .iter()
        .flat_map(|(_, s)| s.iter().map(|p| p.1))
        .fold(1f64, f64::max);
    let bottom = if from_zero { 0.0 } else { 0.0f64.min(top) };
    let n = rates.len() as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 16))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..n - 0.5, bottom..top * 1.15)?;
    let label = |x: &f64| {
        let i = x.round();
        match rates.get(i as usize) {
            Some(rate) if (x - i).abs() < 1e-6 && i >= 0.0 => format!("{rate:.0}"),
            _ => String::new(),
        }
    };
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .disable_x_mesh()
        .x_labels(rates.len())
        .x_label_formatter(&label)
        .x_desc("offered load, transactions per second")
        .y_desc(y_desc)
        .draw()?;
    for (i, (name, points)) in series.iter().enumerate() {
        let c = color(i);
        let points: Vec<(f64, f64)> = points.iter().map(|&(x, y)| (at(x), y)).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}
