//! Training time on about one million candidate pairs of synthetic traffic: the whole
//! `train_records` path (pairs, labels, out-of-fold rates, features, fit, threshold,
//! held-out evaluation).
//!
//! `cargo bench -p switchyard-model --bench training`

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::{hint::black_box, time::Duration};
use switchyard_model::{
    dataset::BlockPairs,
    test_utils::synthetic_records,
    train::{Algo, TrainOptions, train_records},
};

fn bench(c: &mut Criterion) {
    let records = synthetic_records(170, 1_000, 7);
    let pairs: usize = records
        .iter()
        .map(|r| BlockPairs::from_record(r).pairs.len())
        .sum();
    eprintln!("{} blocks, {pairs} candidate pairs", records.len());
    let mut group = c.benchmark_group("training");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(60));
    for algo in [Algo::Logistic, Algo::Tree] {
        let opts = TrainOptions {
            algo,
            holdout_fraction: 0.1,
            ..TrainOptions::default()
        };
        group.bench_function(format!("train_1m_pairs/{algo}"), |b| {
            b.iter(|| black_box(train_records(&records, &opts, &mut |_| {}).expect("train")))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
