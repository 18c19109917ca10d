//! The traffic-log format: round trip, rotation, strict reading, sparsity of pairs.

use std::io::Write;
use switchyard_model::{
    Error, TrafficLogReader, TrafficLogWriter,
    dataset::BlockPairs,
    test_utils::{synthetic_records, unrelated_block},
    traffic::{FORMAT_VERSION, TrafficLogOptions},
};

#[test]
fn records_round_trip_through_rotated_files() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let records = synthetic_records(20, 50, 7);
    let options = TrafficLogOptions {
        max_file_bytes: 64 << 10,
    };
    {
        let mut writer = TrafficLogWriter::with_options(dir, options.clone()).unwrap();
        for record in &records[..10] {
            writer.append(record).unwrap();
        }
        writer.flush().unwrap();
        // Flushed records are readable while the writer is still open.
        assert_eq!(TrafficLogReader::read_all(dir).unwrap(), records[..10]);
    }
    {
        // A second writer continues after the existing files and never overwrites them.
        let mut writer = TrafficLogWriter::with_options(dir, options).unwrap();
        for record in &records[10..] {
            writer.append(record).unwrap();
        }
        // Dropped without an explicit flush: drop flushes.
    }
    let files = std::fs::read_dir(dir).unwrap().count();
    assert!(files > 2, "expected rotation, got {files} files");
    for entry in std::fs::read_dir(dir).unwrap() {
        let len = entry.unwrap().metadata().unwrap().len();
        assert!(len <= 64 << 10, "file of {len} bytes");
    }
    assert_eq!(TrafficLogReader::read_all(dir).unwrap(), records);
}

#[test]
fn a_garbled_line_and_another_version_are_errors_naming_the_line() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    let records = synthetic_records(2, 5, 1);
    {
        let mut writer = TrafficLogWriter::create(dir).unwrap();
        writer.append(&records[0]).unwrap();
    }
    let file = std::fs::read_dir(dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut out = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    writeln!(out, "{{\"version\": 1, \"number\": ").unwrap();
    let err = TrafficLogReader::read_all(dir).unwrap_err();
    assert!(matches!(err, Error::CorruptRecord { line: 2, .. }), "{err}");

    let mut future = serde_json::to_value(&records[1]).unwrap();
    future["version"] = (FORMAT_VERSION + 1).into();
    std::fs::write(&file, format!("{future}\n")).unwrap();
    let err = TrafficLogReader::read_all(dir).unwrap_err();
    assert!(
        matches!(err, Error::RecordVersion { line: 1, found, expected, .. } if found == FORMAT_VERSION + 1 && expected == FORMAT_VERSION),
        "{err}"
    );
}

#[test]
fn records_written_before_calldata_sizes_still_read_and_train_no_cost_predictor() {
    use switchyard_model::{
        costs::{self, CostReport},
        train::{TrainOptions, train_records},
    };
    let records = synthetic_records(24, 60, 3);
    let mut old: Vec<serde_json::Value> = records
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    for record in &mut old {
        for tx in record["txs"].as_array_mut().unwrap() {
            tx.as_object_mut().unwrap().remove("calldata_bytes");
        }
    }
    let old: Vec<switchyard_model::BlockRecord> = old
        .into_iter()
        .map(|r| serde_json::from_value(r).unwrap())
        .collect();
    assert!(
        old.iter()
            .all(|r| r.txs.iter().all(|t| t.calldata_bytes.is_none()))
    );
    let (model, report) = train_records(&old, &TrainOptions::default(), &mut |_| {}).unwrap();
    assert_eq!(model.costs, None);
    let CostReport::Skipped { reason } = &report.costs else {
        panic!("{:?}", report.costs)
    };
    assert!(
        reason.contains(&format!("needs at least {}", costs::MIN_COST_ROWS))
            && reason.contains("0 of"),
        "{reason}"
    );
    // The same records with their sizes train one.
    let (model, _) = train_records(&records, &TrainOptions::default(), &mut |_| {}).unwrap();
    assert!(model.costs.is_some());
}

#[test]
fn pairs_grow_with_shared_keys_not_with_n_squared() {
    // 2,000 unrelated transfers: 2 million possible pairs, none sharing a key.
    let unrelated = BlockPairs::from_record(&unrelated_block(1, 2_000));
    assert!(unrelated.pairs.is_empty());

    // Synthetic traffic with hot tokens and pools: pairs stay a small multiple of n.
    for n in [100, 400, 1_600] {
        let block = BlockPairs::from_record(&synthetic_records(1, n, 3)[0]);
        let possible = n * (n - 1) / 2;
        eprintln!(
            "n = {n}: {} candidate pairs of {possible} possible",
            block.pairs.len()
        );
        assert!(
            block.pairs.len() <= 40 * n,
            "{} pairs for {n} txs",
            block.pairs.len()
        );
    }
}
