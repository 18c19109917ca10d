//! The model on the shared mainnet blocks: every block executed sequentially, logged, read
//! back, trained on about 70% of the blocks and evaluated on the rest (30 and 12 of the 42
//! shared blocks); then the router on the held-out blocks against the true dependencies.
//!
//! Skips (with a message) when the mainnet data is absent.

use std::sync::OnceLock;
use switchyard_executors::router::{
    ContractRouter, OracleFacts, OracleRouter, RouteInput, Router, UnionFind, merge_by_sender,
};
use switchyard_model::{
    ModelRouter, TrafficLogReader, TrafficLogWriter,
    facts::{CodeLookup, TxFacts},
    pairs::candidate_pairs,
    test_utils::{Mainnet, MainnetBlock, mainnet_blocks},
    train::{Algo, TrainOptions, train_records},
};

/// Executes every shared block once per test binary.
fn mainnet() -> Option<&'static Mainnet> {
    static DATA: OnceLock<Option<Mainnet>> = OnceLock::new();
    DATA.get_or_init(mainnet_blocks).as_ref()
}

macro_rules! mainnet_or_skip {
    () => {
        match mainnet() {
            Some(data) => data,
            None => {
                eprintln!("SKIPPED: no mainnet data; set SWITCHYARD_MAINNET_DIR or place it at ../shared/data/mainnet");
                return;
            }
        }
    };
}

/// The share of blocks held out: 12 of the 42 shared blocks.
const HOLDOUT: f64 = 12.0 / 42.0;

/// Blocks trained on and held out of `blocks`, as the split counts them.
fn split_of(blocks: usize) -> (usize, usize) {
    let test = ((HOLDOUT * blocks as f64).round() as usize).clamp(1, blocks - 1);
    (blocks - test, test)
}

fn options(algo: Algo) -> TrainOptions {
    TrainOptions {
        algo,
        holdout_fraction: HOLDOUT,
        ..TrainOptions::default()
    }
}

#[test]
fn logs_of_all_blocks_round_trip() {
    let data = mainnet_or_skip!();
    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path();
    {
        let mut writer = TrafficLogWriter::create(dir).expect("writer");
        for record in &data.records {
            writer.append(record).expect("append");
        }
    }
    let read = TrafficLogReader::read_all(dir).expect("read back");
    assert_eq!(read, data.records);
    assert!(!read.is_empty());
}

#[test]
fn logistic_on_30_blocks_generalises_to_12() {
    let data = mainnet_or_skip!();
    let (model, report) =
        train_records(&data.records, &options(Algo::Logistic), &mut |_| {}).expect("train");
    eprintln!("logistic: {}", serde_json::to_string(&report).unwrap());
    assert_eq!(
        (report.train_blocks, report.test_blocks),
        split_of(data.records.len())
    );
    assert!(report.auc >= 0.90, "auc {}", report.auc);
    assert!(report.recall >= 0.85, "recall {}", report.recall);
    assert!(report.precision >= 0.70, "precision {}", report.precision);
    let contract = report.baselines["same_contract"];
    assert!(
        report.auc > contract.auc,
        "model auc {} vs same-contract {}",
        report.auc,
        contract.auc
    );
    assert_eq!(report.baselines["never"].recall, 0.0);
    // Two runs give byte-identical model files.
    let (again, _) =
        train_records(&data.records, &options(Algo::Logistic), &mut |_| {}).expect("train");
    assert_eq!(model.to_json(), again.to_json());
}

#[test]
fn tree_on_30_blocks_generalises_to_12() {
    let data = mainnet_or_skip!();
    let (_, report) =
        train_records(&data.records, &options(Algo::Tree), &mut |_| {}).expect("train");
    eprintln!("tree: {}", serde_json::to_string(&report).unwrap());
    assert_eq!(
        (report.train_blocks, report.test_blocks),
        split_of(data.records.len())
    );
    assert!(report.auc >= 0.90, "auc {}", report.auc);
    assert!(report.recall >= 0.85, "recall {}", report.recall);
    assert!(report.precision >= 0.70, "precision {}", report.precision);
}

/// Share of true dependencies split across groups (each one costs a re-execution at commit)
/// and the largest group's share of the gas (the cap on parallel speedup).
fn routing_quality(router: &dyn Router, e: &MainnetBlock) -> (usize, usize, u64, u64) {
    let costs: Vec<u64> = e.block.txs.iter().map(|t| t.gas_limit()).collect();
    let oracle = OracleFacts::from_run(&e.block, &e.outcomes, &[]);
    let input = RouteInput {
        block: &e.block,
        costs: &costs,
        pool_weights: &[1.0, 1.0],
        state: Some(e.state.as_ref()),
        oracle: Some(&oracle),
    };
    let routing = router.route(&input);
    let mut group_of = vec![0; e.block.txs.len()];
    for (g, group) in routing.groups.iter().enumerate() {
        for tx in &group.txs {
            group_of[*tx] = g;
        }
    }
    let deps = &oracle.dependencies;
    let split = deps
        .iter()
        .filter(|(j, i)| group_of[*j] != group_of[*i])
        .count();
    let gas: Vec<u64> = e.outcomes.iter().map(|o| o.gas_used).collect();
    let largest = routing
        .groups
        .iter()
        .map(|g| g.txs.iter().map(|t| gas[*t]).sum::<u64>())
        .max()
        .unwrap_or(0);
    (split, deps.len(), largest, gas.iter().sum())
}

#[test]
fn model_router_on_held_out_blocks() {
    let data = mainnet_or_skip!();
    let (model, _) =
        train_records(&data.records, &options(Algo::Logistic), &mut |_| {}).expect("train");
    let held: Vec<u64> = model.training.test_blocks.clone();
    let router = ModelRouter::new(model);
    assert_eq!(router.name(), "model");
    let mut totals = [(0usize, 0usize, 0u64, 0u64); 3];
    for e in data
        .blocks
        .iter()
        .filter(|e| held.contains(&e.block.number()))
    {
        for (k, r) in [&router as &dyn Router, &ContractRouter, &OracleRouter]
            .into_iter()
            .enumerate()
        {
            let (split, deps, largest, gas) = routing_quality(r, e);
            totals[k].0 += split;
            totals[k].1 += deps;
            totals[k].2 += largest;
            totals[k].3 += gas;
        }
    }
    for (name, t) in ["model", "contract", "oracle"].iter().zip(totals) {
        eprintln!(
            "{name}: {} of {} true dependencies split across groups; largest group {:.3} of gas",
            t.0,
            t.1,
            t.2 as f64 / t.3 as f64
        );
    }
    let [model, contract, oracle] =
        totals.map(|t| (t.0 as f64 / t.1 as f64, t.2 as f64 / t.3 as f64));
    assert_eq!(oracle.0, 0.0, "the oracle splits no true dependency");
    assert!(
        model.0 < contract.0,
        "the model splits fewer true dependencies than contract: {model:?} vs {contract:?}"
    );
    // Not everything in one group: the model keeps parallelism.
    assert!(model.1 < 0.9, "largest group {:.3} of gas", model.1);
}

/// The router's walk (senders merged in the same pass, pairs already joined left unscored)
/// gives the groups of merging every predicted pair and every same-sender pair; facts built
/// for a whole block (code looked up once per target) are those built one by one.
#[test]
fn model_router_groups_are_those_of_all_predicted_pairs() {
    let data = mainnet_or_skip!();
    let (model, _) =
        train_records(&data.records, &options(Algo::Logistic), &mut |_| {}).expect("train");
    let router = ModelRouter::new(model);
    let mut merged_pairs = 0;
    for e in &data.blocks {
        let state = Some(e.state.as_ref() as &dyn switchyard_executors::StateReader);
        let one_by_one: Vec<TxFacts> = e
            .block
            .txs
            .iter()
            .map(|tx| TxFacts::from_tx(tx, state))
            .collect();
        assert_eq!(TxFacts::of_block(&e.block, state), one_by_one);
        let n = e.block.txs.len();
        let mut uf = UnionFind::new(n);
        merge_by_sender(&e.block, &mut uf);
        let pairs = router.predicted_pairs(&e.block, state);
        merged_pairs += pairs.len();
        for (i, j) in pairs {
            uf.union(i, j);
        }
        let costs = vec![1; n];
        let input = RouteInput {
            block: &e.block,
            costs: &costs,
            pool_weights: &[1.0, 1.0],
            state,
            oracle: None,
        };
        assert_eq!(
            router.groups(&input),
            uf.groups(),
            "block {}",
            e.block.number()
        );
    }
    assert!(merged_pairs > 0, "some pairs are predicted to conflict");
}

/// Routing builds facts without the state and looks a target's code up only when a pair of
/// its transaction is scored: every candidate pair scores as with facts built on the state,
/// on blocks where guessing code from calldata would have been wrong.
#[test]
fn deferred_code_lookups_score_as_facts_built_on_the_state() {
    let data = mainnet_or_skip!();
    let (model, _) =
        train_records(&data.records, &options(Algo::Logistic), &mut |_| {}).expect("train");
    let (mut pairs, mut misguessed) = (0, 0);
    for e in &data.blocks {
        let state = e.state.as_ref() as &dyn switchyard_executors::StateReader;
        let known = TxFacts::of_block(&e.block, Some(state));
        let guessed = TxFacts::of_block(&e.block, None);
        misguessed += known
            .iter()
            .zip(&guessed)
            .filter(|(k, g)| k.to_has_code != g.to_has_code)
            .count();
        let eager = model.block_scorer(&known);
        let deferred = model.block_scorer_with_code(&guessed, CodeLookup::new(state, known.len()));
        for (i, j) in candidate_pairs(&known) {
            let (i, j) = (i as usize, j as usize);
            assert_eq!(
                eager.score(i, j),
                deferred.score(i, j),
                "block {} pair ({i}, {j})",
                e.block.number()
            );
            pairs += 1;
        }
    }
    assert!(pairs > 1000, "{pairs} candidate pairs");
    assert!(
        misguessed > 0,
        "some calldata guesses differ from the state"
    );
}
