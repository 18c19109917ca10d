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
    assert!(model.exists());

    let routed = run_switchyard(&[
        "replay",
        "--pools",
        "2",
        "--router",
        "model",
        "--model",
        model.to_str().unwrap(),
        "--json",
        &dir,
    ]);
    assert!(
        routed.status.success(),
        "{}",
        String::from_utf8_lossy(&routed.stderr)
    );
    let summary = json_summary(&routed);
    assert_eq!(summary["router"], "model");
    assert_eq!(summary["mismatches"], 0);
    assert_eq!(summary["blocks"], blocks);
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
    let output = run_switchyard(&["replay", "--router", "model", "."]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--router model needs --model FILE"));
}
