//! Capture overhead: all shared mainnet blocks, sequentially, with stock revm (no capture,
//! fees credited inside the EVM) and with switchyard's capturing executor, in the same run.
//!
//! Throughput is in gas per second (criterion's "elements"). The overhead is the ratio of the
//! two throughputs; `docs/benchmarks.md` records the figures.
//!
//! ```text
//! cargo bench -p switchyard-executors --bench capture_overhead
//! ```

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::{hint::black_box, sync::Arc, time::Duration};
use switchyard_executors::{
    Block, BlockFixture, State, block::find_block_dirs, execute::warm_up_precompiles,
    execute_sequential, fixtures::mainnet_dir, plain::execute_plain, system,
};

fn load() -> Vec<(Block, Arc<State>)> {
    let Some(dir) = mainnet_dir() else {
        eprintln!("no mainnet data: set SWITCHYARD_MAINNET_DIR");
        return Vec::new();
    };
    find_block_dirs(&dir)
        .expect("block folders")
        .iter()
        .map(|path| {
            let fixture = BlockFixture::load(path).expect("fixture");
            let mut state = fixture.state;
            system::apply_pre_block(&mut state, &fixture.block);
            (fixture.block, Arc::new(state))
        })
        .collect()
}

fn capture_overhead(c: &mut Criterion) {
    warm_up_precompiles();
    let blocks = load();
    if blocks.is_empty() {
        return;
    }
    let gas: u64 = blocks
        .iter()
        .map(|(block, base)| {
            execute_sequential(block, base.clone())
                .unwrap()
                .result
                .gas_used
        })
        .sum();
    let mut group = c.benchmark_group("mainnet_sequential");
    group.throughput(Throughput::Elements(gas));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(8));
    group.bench_function("plain_revm", |b| {
        b.iter(|| {
            for (block, base) in &blocks {
                black_box(execute_plain(block, base.clone()).unwrap());
            }
        })
    });
    group.bench_function("switchyard_capture", |b| {
        b.iter(|| {
            for (block, base) in &blocks {
                black_box(execute_sequential(block, base.clone()).unwrap());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, capture_overhead);
criterion_main!(benches);
