//! The learning loop on real blocks, as a user runs it: replay writes traffic logs, `train`
//! fits a model on them, and replay routes with that model, still exactly.

use std::fs;
use switchyard_tests::{json_summary, mainnet_dir, run_switchyard};

#[test]
fn replay_logs_train_and_route_with_the_model() {
    let Some(dir) = mainnet_dir() else {
        eprintln!(
            "SKIPPED: no mainnet data; set SWITCHYARD_MAINNET_DIR or place it at ../shared/data/mainnet"
        );
        return;
    };
    let dir = dir.display().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    let model = tmp.path().join("model.json");

    let replay = run_switchyard(&[
        "replay",
        "--pools",
        "2",
        "--log",
        logs.to_str().unwrap(),
        "--json",
        &dir,
    ]);
    assert!(
        replay.status.success(),
        "{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    let logged: usize = fs::read_dir(&logs)
        .unwrap()
        .map(|f| {
            fs::read_to_string(f.unwrap().path())
                .unwrap()
                .lines()
                .count()
        })
        .sum();
    let blocks = switchyard_executors::block::find_block_dirs(std::path::Path::new(&dir))
        .expect("block folders")
        .len();
    assert_eq!(logged, blocks, "one traffic record per block");

    let train = run_switchyard(&[
        "train",
        "--logs",
        logs.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
        "--json",
    ]);
    assert!(
        train.status.success(),
        "{}",
        String::from_utf8_lossy(&train.stderr)
    );
    let report = json_summary(&train);
    for key in ["pairs", "precision", "recall", "auc", "threshold"] {
        assert!(report[key].is_number(), "report lacks {key}: {report}");
    }
    let baselines = report["baselines"].as_object().expect("baselines");
    for heuristic in ["never", "same_contract", "same_contract_selector"] {
        assert!(baselines.contains_key(heuristic), "no {heuristic} baseline");
    }
    // Measured on this data: recall 0.9999, precision 0.988; the bounds leave room.
    assert!(report["recall"].as_f64().unwrap() >= 0.9, "{report}");
    assert!(report["precision"].as_f64().unwrap() >= 0.8, "{report}");
    // Logs written by this build carry calldata sizes, so a cost predictor is learned; the
    // figures are measured times, so only their ranges are checked.
    let costs = &report["costs"];
    assert_eq!(costs["status"], "learned", "{report}");
    assert!(costs["rows"].as_u64().unwrap() >= 50, "{costs}");
    for share in ["holdout_share_error", "estimate_share_error"] {
        let share = costs[share].as_f64().expect(share);
        assert!((0.0..=1.0).contains(&share), "{costs}");
    }
    let stdout = String::from_utf8_lossy(&train.stdout);
    assert!(
        stdout.contains("costs: execution times learned from"),
        "{stdout}"
    );
    assert!(model.exists());
    let stored: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&model).unwrap()).unwrap();
    assert_eq!(stored["format_version"], 3);
    assert_eq!(stored["costs"]["rows"], costs["rows"]);

    let routed = run_switchyard(&[
        "replay",
        "--pools",
        "2",
        "--router",
        "model",
        "--model",
        model.to_str().unwrap(),
        "--compare",
        "contract,oracle",
        "--json",
        &dir,
    ]);
    assert!(
        routed.status.success(),
        "{}",
        String::from_utf8_lossy(&routed.stderr)
    );
    // Every router's runs are checked against the chain and the reference: one mismatch of
    // any would count its block.
    let summary = json_summary(&routed);
    assert_eq!(summary["router"], "model");
    assert_eq!(summary["mismatches"], 0);
    assert_eq!(summary["blocks"], blocks);
    assert_compared(&summary, &["contract", "oracle"]);
    let stdout = String::from_utf8_lossy(&routed.stdout);
    assert!(
        stdout.contains("compared, router contract:")
            && stdout.contains("compared, router oracle:"),
        "{stdout}"
    );
}

/// `--compare`'s routers appear in its order on every block, and their totals are the sums
/// of their blocks.
fn assert_compared(summary: &serde_json::Value, routers: &[&str]) {
    let totals = summary["compared"].as_array().expect("compared totals");
    let names: Vec<&str> = totals
        .iter()
        .map(|t| t["router"].as_str().unwrap())
        .collect();
    assert_eq!(names, routers, "{summary}");
    let per_block = summary["per_block"].as_array().expect("per-block reports");
    for (k, total) in totals.iter().enumerate() {
        let (mut seconds, mut gas, mut fallbacks) = (0.0, 0, 0);
        for block in per_block {
            let run = &block["compared"][k];
            assert_eq!(run["router"], routers[k], "{block}");
            let parallel = run["parallel_seconds"].as_f64().unwrap();
            assert!(parallel > 0.0, "{block}");
            seconds += parallel;
            gas += run["reexecuted_gas"].as_u64().unwrap();
            fallbacks += u64::from(!run["fallback"].is_null());
        }
        let reported = total["parallel_seconds"].as_f64().unwrap();
        assert!((reported - seconds).abs() <= 1e-9 * seconds, "{total}");
        assert_eq!(total["reexecuted_gas"], gas, "{total}");
        assert_eq!(total["fallback_blocks"], fallbacks, "{total}");
        let speedup = summary["sequential_seconds"].as_f64().unwrap() / seconds;
        assert!(
            (total["speedup"].as_f64().unwrap() - speedup).abs() < 1e-9,
            "{total}"
        );
    }
}

#[test]
fn a_corrupt_model_file_is_refused_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("model.json");
    fs::write(
        &model,
        b"{\"format\": \"switchyard-conflict-model\", \"truncated",
    )
    .unwrap();
    let output = run_switchyard(&[
        "replay",
        "--router",
        "model",
        "--model",
        model.to_str().unwrap(),
        ".",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("loading") && stderr.contains("model.json"),
        "{stderr}"
    );
}

#[test]
fn the_model_router_needs_a_model_file() {
    for args in [
        &["replay", "--router", "model", "."][..],
        &[
            "replay",
            "--router",
            "contract",
            "--compare",
            "oracle,model",
            ".",
        ],
    ] {
        let output = run_switchyard(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("router model needs --model FILE"),
            "{stderr}"
        );
    }
}
