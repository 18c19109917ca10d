//! The model file: deterministic training, save and load, and refusal of other schemas and
//! corrupt files.

use switchyard_model::{
    Error, Model, TrafficLogWriter,
    costs::CostReport,
    test_utils::synthetic_records,
    train::{Algo, TrainOptions, TrainProgress, train, train_records},
};

fn trained(algo: Algo) -> Model {
    let records = synthetic_records(24, 120, 11);
    let opts = TrainOptions {
        algo,
        ..TrainOptions::default()
    };
    train_records(&records, &opts, &mut |_| {}).unwrap().0
}

#[test]
fn logistic_training_is_deterministic() {
    assert_eq!(
        trained(Algo::Logistic).to_json(),
        trained(Algo::Logistic).to_json()
    );
}

#[test]
fn train_from_logs_writes_a_model_that_loads() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    {
        let mut writer = TrafficLogWriter::create(dir.join("logs")).unwrap();
        for record in synthetic_records(24, 120, 5) {
            writer.append(&record).unwrap();
        }
    }
    let out = dir.join("model.json");
    let opts = TrainOptions {
        logs: dir.join("logs"),
        out: Some(out.clone()),
        ..TrainOptions::default()
    };
    let mut steps = Vec::new();
    let report = train(&opts, &mut |p| steps.push(p)).unwrap();
    assert_eq!(steps.last(), Some(&TrainProgress::Done));
    let json = serde_json::to_value(&report).unwrap();
    for key in [
        "pairs",
        "precision",
        "recall",
        "f1",
        "auc",
        "threshold",
        "baselines",
    ] {
        assert!(json.get(key).is_some(), "report lacks {key}");
    }
    for heuristic in ["never", "same_contract", "same_contract_selector"] {
        assert!(
            json["baselines"].get(heuristic).is_some(),
            "no {heuristic} baseline"
        );
    }
    // Synthetic traffic is learnable: transfers conflict only through shared addresses.
    assert!(report.auc > 0.9, "auc {}", report.auc);
    // Its times follow the calldata size alone, so the cost predictor splits each block's
    // time more exactly than gas limits do (which price every call alike).
    match &report.costs {
        CostReport::Learned {
            holdout_share_error: Some(learned),
            estimate_share_error: Some(estimated),
            ..
        } => assert!(learned < estimated, "{learned} against {estimated}"),
        other => panic!("no cost predictor: {other:?}"),
    }
    assert_eq!(json["costs"]["status"], "learned");
    let model = Model::load(&out).unwrap();
    assert_eq!(model.threshold, report.threshold);
    assert_eq!(model.training.test_blocks.len(), report.test_blocks);
}

#[test]
fn tree_model_round_trips_and_scores_the_same() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    std::fs::create_dir_all(dir).unwrap();
    let model = trained(Algo::Tree);
    let path = dir.join("tree.json");
    model.save(&path).unwrap();
    assert_eq!(Model::load(&path).unwrap().to_json(), model.to_json());
}

#[test]
fn another_schema_is_refused_naming_both() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    std::fs::create_dir_all(dir).unwrap();
    let mut json = serde_json::to_value(trained(Algo::Logistic)).unwrap();
    json["schema"]["version"] = 0.into();
    json["schema"]["hash"] = "0123456789abcdef".into();
    let path = dir.join("old.json");
    std::fs::write(&path, json.to_string()).unwrap();
    let err = Model::load(&path).unwrap_err();
    assert!(err.is_bad_model());
    let message = err.to_string();
    assert!(
        matches!(&err, Error::SchemaMismatch { found_version: 0, found_hash, .. } if found_hash == "0123456789abcdef"),
        "{message}"
    );
    assert!(message.contains("found v0 (0123456789abcdef)"), "{message}");
    assert!(
        message.contains(&switchyard_model::features::schema_hash()),
        "{message}"
    );
}

#[test]
fn corrupt_files_are_refused() {
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    std::fs::create_dir_all(dir).unwrap();
    let good = trained(Algo::Logistic).to_json();
    let path = dir.join("m.json");

    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    assert!(matches!(
        Model::load(&path),
        Err(Error::CorruptModel { .. })
    ));

    let mut json: serde_json::Value = serde_json::from_str(&good).unwrap();
    json["classifier"]["weights"] = serde_json::json!([1.0, 2.0]);
    std::fs::write(&path, json.to_string()).unwrap();
    let err = Model::load(&path).unwrap_err();
    assert!(matches!(err, Error::CorruptModel { .. }), "{err}");
    assert!(err.to_string().contains("weights has 2 entries"), "{err}");

    std::fs::write(&path, "{\"format\": \"something-else\"}").unwrap();
    assert!(matches!(
        Model::load(&path),
        Err(Error::CorruptModel { .. })
    ));
    assert!(matches!(
        Model::load(dir.join("missing.json")),
        Err(Error::Io { .. })
    ));
}

#[test]
fn older_versions_load_as_they_were_written_and_later_versions_are_refused() {
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("m.json");
    let model = trained(Algo::Logistic);
    let costs = model
        .costs
        .clone()
        .expect("synthetic logs carry sizes and times");
    assert_eq!(costs.features.last().map(String::as_str), Some("pays_code"));

    // Version 2: a predictor without `pays_code` loads with weight 0 on it.
    let mut json = serde_json::to_value(&model).unwrap();
    json["format_version"] = 2.into();
    json["costs"]["features"].as_array_mut().unwrap().pop();
    json["costs"]["weights"].as_array_mut().unwrap().pop();
    std::fs::write(&path, json.to_string()).unwrap();
    let v2 = Model::load(&path).unwrap();
    let v2_costs = v2.costs.expect("a version 2 predictor loads");
    assert_eq!(v2_costs.features, costs.features);
    assert_eq!(v2_costs.weights.last(), Some(&0.0));
    assert_eq!(v2_costs.weights[..5], costs.weights[..5]);
    // The same short predictor in a version 3 file is refused, naming the inputs.
    json["format_version"] = 3.into();
    std::fs::write(&path, json.to_string()).unwrap();
    let err = Model::load(&path).unwrap_err();
    assert!(err.to_string().contains("pays_code"), "{err}");

    // Version 1: no predictor.
    json["format_version"] = 1.into();
    json.as_object_mut().unwrap().remove("costs");
    std::fs::write(&path, json.to_string()).unwrap();
    let old = Model::load(&path).unwrap();
    assert_eq!(old.costs, None);
    assert_eq!(old.classifier, model.classifier);

    json["format_version"] = 4.into();
    std::fs::write(&path, json.to_string()).unwrap();
    let err = Model::load(&path).unwrap_err();
    assert!(err.is_bad_model());
    assert!(err.to_string().contains("v4, expected"), "{err}");
}

#[test]
fn a_cost_predictor_with_other_inputs_is_refused_naming_them() {
    let scratch = tempfile::tempdir().unwrap();
    let path = scratch.path().join("m.json");
    let mut json = serde_json::to_value(trained(Algo::Logistic)).unwrap();
    json["costs"]["features"][0] = "gas_limit".into();
    std::fs::write(&path, json.to_string()).unwrap();
    let err = Model::load(&path).unwrap_err();
    assert!(matches!(err, Error::CorruptModel { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("\"gas_limit\"") && message.contains("ln_gas_limit"),
        "{message}"
    );
}

#[test]
fn block_scorer_gives_the_scores_of_pair_by_pair_scoring() {
    use switchyard_model::{
        dataset::BlockPairs,
        test_utils::{Rng, synthetic_block},
    };
    for algo in [Algo::Logistic, Algo::Tree] {
        let model = trained(algo);
        let block = BlockPairs::from_record(&synthetic_block(7, 400, &mut Rng::new(3)));
        let (facts, n) = (&block.facts, block.facts.len());
        let scorer = model.block_scorer(facts);
        assert!(block.pairs.len() > 500, "{} pairs", block.pairs.len());
        let mut positive = 0;
        for &(i, j) in &block.pairs {
            let (i, j) = (i as usize, j as usize);
            let (fast, slow) = (
                scorer.score(i, j),
                model.score(&facts[i], &facts[j], i, j, n),
            );
            assert!(
                (fast - slow).abs() <= 1e-5,
                "{algo} pair ({i}, {j}): {fast} vs {slow}"
            );
            positive += usize::from(slow >= model.threshold);
            // Away from the threshold, the logit comparison decides as the probability does.
            if (slow - model.threshold).abs() > 1e-4 {
                assert_eq!(
                    scorer.conflicts(i, j, model.threshold),
                    slow >= model.threshold
                );
            }
        }
        assert!(
            positive > 0 && positive < block.pairs.len(),
            "{algo}: {positive}"
        );
    }
}
