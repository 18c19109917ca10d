//! `switchyard bench --quick`, as CI runs it: every section runs (the mainnet ones when the
//! shared blocks are there), nothing mismatches, and the output folder holds parseable JSON,
//! SVG plots and a report naming each section. Bad flags are refused with the reason.

use serde_json::Value;
use switchyard_tests::{mainnet_dir, run_switchyard};

#[test]
fn quick_bench_writes_figures_plots_and_report() {
    let out = tempfile::tempdir().unwrap();
    let output = run_switchyard(&["bench", "--quick", "--out", out.path().to_str().unwrap()]);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");

    let figures: Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("figures.json")).unwrap())
            .expect("figures.json is JSON");
    assert_eq!(figures["plan"]["mode"], "quick");
    assert_eq!(figures["mismatches"], 0);
    assert!(figures["machine"]["cores"].as_u64().unwrap() >= 1);
    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();

    let has_mainnet = mainnet_dir().is_some();
    let routers = if has_mainnet {
        let runs = figures["mainnet"]["runs"].as_array().expect("mainnet runs");
        for (router, pools, fallback) in ["round-robin", "sender", "contract", "oracle"]
            .into_iter()
            .flat_map(|r| [(r, 1, true), (r, 2, true), (r, 1, false), (r, 2, false)])
        {
            let run = runs
                .iter()
                .find(|r| r["router"] == router && r["pools"] == pools && r["fallback"] == fallback)
                .unwrap_or_else(|| panic!("{router} on {pools} pools, fallback {fallback}"));
            assert!(run["speedup"].as_f64().unwrap() > 0.0);
            assert_eq!(run["mismatches"], 0);
            let projected = run["projected"].as_array().unwrap();
            assert_eq!(projected.len(), if pools == 2 { 5 } else { 0 });
        }
        assert!(report.contains("### 1. Real blocks"), "{report}");
        assert!(report.contains("### 3. Projected scaling"), "{report}");
        runs.iter()
            .filter(|r| r["pools"] == 2 && r["fallback"] == true)
            .count()
    } else {
        assert!(figures["mainnet"].is_null());
        assert!(report.contains("mainnet section skipped"), "{report}");
        4
    };

    let cells = figures["synthetic"]["cells"].as_array().expect("synthetic");
    assert_eq!(
        cells.len(),
        4 * 5 * routers * 2,
        "workloads × accounts × routers × fallback on and off"
    );
    for workload in ["p2p", "erc20", "amm", "mixed"] {
        assert!(cells.iter().any(|c| c["workload"] == workload));
    }
    assert!(report.contains("### 2. Synthetic blocks"), "{report}");

    let points = figures["gateway"]["points"].as_array().expect("gateway");
    assert_eq!(points.len(), 2);
    for point in points {
        assert!(point["sent"].as_u64().unwrap() > 0, "{point}");
        assert_eq!(point["receipts"], point["accepted"], "{point}");
        assert!(point["inclusion_p99_ms"].as_f64().unwrap() > 0.0);
    }
    assert!(report.contains("### 4. The gateway end to end"), "{report}");

    let mut plots = vec![
        "wasted_work.svg",
        "latency_vs_load.svg",
        "throughput_vs_load.svg",
    ];
    if has_mainnet {
        plots.push("speedup_vs_pools.svg");
    }
    for plot in plots {
        let svg = std::fs::read_to_string(out.path().join(plot)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{plot}"
        );
        assert!(svg.contains("<text"), "{plot} has labels");
        assert!(
            report.contains(&format!("]({plot})")),
            "report links {plot}"
        );
    }
}

#[test]
fn bad_bench_flags_are_refused_with_the_reason() {
    let output = run_switchyard(&["bench", "--quick"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--quick needs --out DIR"));
    let output = run_switchyard(&["bench", "--only", "everything"]);
    assert_eq!(output.status.code(), Some(2), "clap usage error");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("expected mainnet, synthetic or gateway")
    );
}
