//! Inference cost: scoring candidate pairs with a trained model, and routing a whole block's
//! pairs (facts → candidate pairs → scores → union), on synthetic traffic.
//!
//! `cargo bench -p switchyard-model --bench inference`

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use switchyard_model::{
    dataset::BlockPairs,
    facts::TxFacts,
    pairs::candidate_pairs,
    test_utils::{Rng, synthetic_block, synthetic_records},
    train::{Algo, TrainOptions, train_records},
};

fn bench(c: &mut Criterion) {
    let records = synthetic_records(40, 300, 42);
    let block = BlockPairs::from_record(&synthetic_block(1_000, 1_000, &mut Rng::new(9)));
    let n = block.facts.len();
    let mut group = c.benchmark_group("inference");
    group.throughput(Throughput::Elements(block.pairs.len() as u64));
    for algo in [Algo::Logistic, Algo::Tree] {
        let opts = TrainOptions {
            algo,
            ..TrainOptions::default()
        };
        let (model, _) = train_records(&records, &opts, &mut |_| {}).expect("train");
        group.bench_function(format!("score_pairs/{algo}"), |b| {
            b.iter(|| {
                let mut conflicts = 0usize;
                for &(i, j) in &block.pairs {
                    let (i, j) = (i as usize, j as usize);
                    conflicts += usize::from(model.predicts_conflict(
                        &block.facts[i],
                        &block.facts[j],
                        i,
                        j,
                        n,
                    ));
                }
                black_box(conflicts)
            })
        });
        group.bench_function(format!("pairs_and_scores/{algo}"), |b| {
            b.iter(|| {
                let facts: &[TxFacts] = black_box(&block.facts);
                let pairs = candidate_pairs(facts);
                let mut conflicts = 0usize;
                for (i, j) in pairs {
                    let (i, j) = (i as usize, j as usize);
                    conflicts +=
                        usize::from(model.predicts_conflict(&facts[i], &facts[j], i, j, n));
                }
                black_box(conflicts)
            })
        });
    }
    group.finish();
    eprintln!(
        "block of {n} transactions, {} candidate pairs",
        block.pairs.len()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
