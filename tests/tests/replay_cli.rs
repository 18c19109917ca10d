//! `switchyard replay`, run as a user runs it, on the shared mainnet blocks.

use std::{fs, path::Path};
use switchyard_executors::{BlockFixture, block::find_block_dirs};
use switchyard_tests::{json_summary, mainnet_dir, run_switchyard};

fn data() -> Option<String> {
    let dir = mainnet_dir();
    if dir.is_none() {
        eprintln!(
            "SKIPPED: no mainnet data; set SWITCHYARD_MAINNET_DIR or place it at ../shared/data/mainnet"
        );
    }
    dir.map(|d| d.display().to_string())
}

#[test]
fn replays_all_shared_blocks_exactly_in_parallel() {
    let Some(dir) = data() else { return };
    let output = run_switchyard(&[
        "replay",
        "--json",
        "--pools",
        "2",
        "--router",
        "contract",
        "--simulate-pools",
        "4,8",
        &dir,
    ]);
    assert!(
        output.status.success(),
        "exit {:?}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = json_summary(&output);
    // The totals of the blocks as the chain has them: transactions, and gas from the headers.
    let (mut blocks, mut txs, mut gas) = (0, 0, 0);
    for path in find_block_dirs(Path::new(&dir)).expect("block folders") {
        let block = BlockFixture::load(&path).expect("fixture").block;
        blocks += 1;
        txs += block.txs.len();
        gas += block.header.expect("the fixture's header").gas_used;
    }
    assert_eq!(summary["blocks"], blocks);
    assert_eq!(summary["txs"], txs);
    assert_eq!(summary["gas"], gas);
    assert_eq!(summary["mismatches"], 0);
    assert_eq!(summary["pools"], 2);
    assert_eq!(summary["router"], "contract");
    for key in [
        "sequential_seconds",
        "parallel_seconds",
        "speedup",
        "reexecuted_txs",
        "reexecuted_gas",
        "dag_bound",
        "fallback_blocks",
    ] {
        assert!(summary.get(key).is_some(), "summary lacks {key}: {summary}");
    }
    assert!(summary["sequential_seconds"].as_f64().unwrap() > 0.0);
    // A block that went through the pools was let through by a prediction, reported beside
    // the speedup it got.
    let per_block = summary["per_block"].as_array().expect("per-block reports");
    let mut predicted = 0;
    for block in per_block {
        assert!(block.get("predicted_speedup").is_some(), "{block}");
        if block["fallback"].is_null() && block["txs"].as_u64().unwrap() >= 2 {
            let speedup = block["predicted_speedup"].as_f64();
            assert!(speedup.is_some_and(|s| s > 0.0), "{block}");
            predicted += 1;
        }
    }
    assert!(predicted > 0, "no block went through the pools");
    let projected: Vec<u64> = summary["simulated"]
        .as_array()
        .expect("projections")
        .iter()
        .map(|p| p["pools"].as_u64().unwrap())
        .collect();
    assert_eq!(projected, [4, 8]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("block ")).count(),
        blocks
    );
}

#[test]
fn sequential_only_replay_reports_the_issue_two_keys() {
    let Some(dir) = data() else { return };
    let block = Path::new(&dir).join("19932703");
    let output = run_switchyard(&[
        "replay",
        "--json",
        "--pools",
        "0",
        "--repeat",
        "2",
        block.to_str().unwrap(),
    ]);
    assert!(output.status.success());
    let summary = json_summary(&output);
    assert_eq!(summary["blocks"], 1);
    assert_eq!(summary["txs"], 143);
    assert_eq!(summary["gas"], 10_421_765);
    assert_eq!(summary["mismatches"], 0);
}

#[test]
fn a_block_whose_header_disagrees_fails_with_the_detail() {
    let Some(dir) = data() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let copy = tmp.path().join("19933122");
    fs::create_dir(&copy).unwrap();
    for file in ["prestate.json", "block.json"] {
        fs::copy(Path::new(&dir).join("19933122").join(file), copy.join(file)).unwrap();
    }
    // Claim one more gas than the chain used.
    let mut block: serde_json::Value =
        serde_json::from_slice(&fs::read(copy.join("block.json")).unwrap()).unwrap();
    block["gasUsed"] = "0x1f6276".into(); // 2,056,822
    fs::write(copy.join("block.json"), serde_json::to_vec(&block).unwrap()).unwrap();

    let output = run_switchyard(&["replay", "--json", "--pools", "2", copy.to_str().unwrap()]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a mismatch must fail the run"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("MISMATCH") && stdout.contains("gasUsed: expected 2056822, got 2056821"),
        "{stdout}"
    );
    assert_eq!(json_summary(&output)["mismatches"], 1);
}

#[test]
fn a_missing_path_is_a_clear_error() {
    let output = run_switchyard(&["replay", "/nonexistent/switchyard-blocks"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/nonexistent/switchyard-blocks: no such file or directory"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_router_is_a_usage_error() {
    let output = run_switchyard(&["replay", "--router", "magic", "."]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown router"));
}

#[test]
fn a_bad_comparison_is_a_usage_error() {
    for (args, expected) in [
        (&["--compare", "contract,magic"][..], "unknown router"),
        (
            &["--router", "sender", "--compare", "oracle,sender"],
            "router sender is named twice",
        ),
        (
            &["--pools", "0", "--compare", "oracle"],
            "needs --pools of at least 1",
        ),
    ] {
        let output = run_switchyard(&[&["replay"], args, &["."]].concat());
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
