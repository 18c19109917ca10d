//! Gateway cost per transaction, apart from signature recovery: decode, stateless checks,
//! pool insertion, block selection and routing, with the `contract` router and with the
//! `model` router (model inference included; the model is trained on synthetic traffic).
//!
//! `cargo bench -p switchyard-gateway --bench admission`; divide the time per iteration by
//! the block size printed in the benchmark id to get the cost per transaction.

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::{hint::black_box, sync::Arc};
use switchyard_executors::router::{ContractRouter, RouteInput, Router};
use switchyard_gateway::serve::{
    admission::{self, Rules},
    block::{self, BlockParams, SPEC},
    config::DEV_MNEMONIC,
    genesis,
    txpool::{AccountView, PoolLimits, TxPool},
};
use switchyard_model::{
    ModelRouter,
    test_utils::synthetic_records,
    train::{TrainOptions, train_records},
};

const BLOCK_TXS: usize = 1_000;

fn signed_transfers(n: usize, senders: usize) -> Vec<(Vec<u8>, Address)> {
    let signers = genesis::dev_signers(DEV_MNEMONIC, senders).expect("dev keys");
    (0..n)
        .map(|i| {
            let signer = &signers[i % senders];
            let tx = TxEip1559 {
                chain_id: 1337,
                nonce: (i / senders) as u64,
                gas_limit: 21_000,
                max_fee_per_gas: 2_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000,
                to: TxKind::Call(Address::with_last_byte((i % 200) as u8)),
                value: U256::from(1),
                access_list: Default::default(),
                input: Bytes::new(),
            };
            let sig = signer.sign_hash_sync(&tx.signature_hash()).expect("sign");
            let raw = TxEnvelope::from(tx.into_signed(sig)).encoded_2718();
            (raw, signer.address())
        })
        .collect()
}

fn admission_and_routing(c: &mut Criterion) {
    let txs = signed_transfers(BLOCK_TXS, 100);
    let rules = Rules {
        chain_id: 1337,
        spec: SPEC,
        block_gas_limit: 30_000_000,
        max_tx_bytes: 128 * 1024,
    };
    let rich = |_: &Address| AccountView {
        nonce: 0,
        balance: U256::from(10u64).pow(U256::from(24)),
    };
    let params = BlockParams {
        number: 1,
        parent_hash: Default::default(),
        timestamp: 1,
        base_fee: 1_000_000_000,
        gas_limit: 30_000_000,
        beneficiary: Address::with_last_byte(0xfe),
        chain_id: 1337,
    };
    let (model, _) = train_records(
        &synthetic_records(40, 300, 42),
        &TrainOptions::default(),
        &mut |_| {},
    )
    .expect("train a model");
    let routers: [(&str, Box<dyn Router>); 2] = [
        ("contract", Box::new(ContractRouter)),
        ("model", Box::new(ModelRouter::new(model))),
    ];
    let mut group = c.benchmark_group("gateway_per_tx");
    group.throughput(Throughput::Elements(BLOCK_TXS as u64));
    for (name, router) in &routers {
        let id = BenchmarkId::new(format!("admit_select_route/{name}"), BLOCK_TXS);
        group.bench_function(id, |b| {
            b.iter(|| {
                let mut pool = TxPool::new(PoolLimits {
                    max_nonce_gap: 64,
                    max_transactions: 100_000,
                    max_per_sender: 1_000,
                });
                for (raw, sender) in &txs {
                    // Recovery excluded: the sender is known.
                    let envelope = admission::decode_envelope(raw).expect("decodes");
                    let tx = admission::check_stateless(envelope, *sender, &rules, 1_000_000_000)
                        .expect("valid");
                    pool.insert(tx, rich(sender)).expect("admitted");
                }
                let picked = pool.select(1_000_000_000, 30_000_000, rich);
                let block = block::build(&params, &picked);
                let costs: Vec<u64> = block.txs.iter().map(|t| t.env.gas_limit).collect();
                let routing = router.route(&RouteInput {
                    block: &block,
                    costs: &costs,
                    pool_weights: &[1.0, 1.0],
                    state: None,
                    oracle: None,
                });
                black_box((Arc::new(block), routing))
            })
        });
    }
    group.throughput(Throughput::Elements(1));
    group.bench_function(BenchmarkId::new("recover_sender", 1), |b| {
        let envelope = admission::decode_envelope(&txs[0].0).expect("decodes");
        b.iter(|| black_box(admission::recover(&envelope).expect("recovers")))
    });
    group.finish();
}

criterion_group!(benches, admission_and_routing);
criterion_main!(benches);
