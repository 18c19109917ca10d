//! A throughput probe, not a pass/fail test: sustained `eth_sendRawTransaction` acceptance of
//! pre-signed transfers and submit-to-receipt latency (p50, p99) on this machine.
//!
//! `cargo test --release -p switchyard-tests --test serve_throughput -- --ignored --nocapture`

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use serde_json::{Value, json};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use switchyard_gateway::serve::{config::DEV_MNEMONIC, genesis};
use switchyard_tests::Gateway;

const SENDERS: usize = 200;
const PER_SENDER: u64 = 100;
const THREADS: usize = 4;
const BATCH: usize = 200;

#[test]
#[ignore = "measurement; run explicitly in release"]
fn sustained_acceptance_and_latency() {
    let gateway = Arc::new(Gateway::start(&["--dev-accounts", &SENDERS.to_string()]));
    let signers = genesis::dev_signers(DEV_MNEMONIC, SENDERS).unwrap();
    // Pre-sign: per thread, its senders' transactions in nonce order, as JSON-RPC batches.
    let mut work: Vec<Vec<(String, Vec<String>)>> = vec![Vec::new(); THREADS];
    for (t, chunk) in signers.chunks(SENDERS / THREADS).enumerate() {
        let mut calls = Vec::new();
        let mut hashes = Vec::new();
        for nonce in 0..PER_SENDER {
            for signer in chunk {
                let tx = TxEip1559 {
                    chain_id: 1337,
                    nonce,
                    gas_limit: 21_000,
                    max_fee_per_gas: 1_000_000_000_000,
                    max_priority_fee_per_gas: 1_000_000_000,
                    to: TxKind::Call(Address::with_last_byte((nonce % 250) as u8 + 1)),
                    value: U256::from(1),
                    access_list: Default::default(),
                    input: Bytes::new(),
                };
                let sig = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
                let signed = tx.into_signed(sig);
                hashes.push(format!("{:#x}", signed.hash()));
                let raw = TxEnvelope::from(signed).encoded_2718();
                calls.push(
                    json!({"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
                    "params": [format!("0x{}", alloy_primitives::hex::encode(raw))]}),
                );
                if calls.len() == BATCH {
                    work[t].push((
                        Value::Array(std::mem::take(&mut calls)).to_string(),
                        std::mem::take(&mut hashes),
                    ));
                }
            }
        }
        if !calls.is_empty() {
            work[t].push((Value::Array(calls).to_string(), hashes));
        }
    }
    let total: usize = work.iter().flatten().map(|(_, h)| h.len()).sum();
    let submitted: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let started = Instant::now();
    let handles: Vec<_> = work
        .into_iter()
        .map(|batches| {
            let (gateway, submitted) = (gateway.clone(), submitted.clone());
            std::thread::spawn(move || {
                let mut accepted = 0;
                for (body, hashes) in batches {
                    let at = Instant::now();
                    let (_, text) = gateway.post(body.as_bytes());
                    let answers: Vec<Value> = serde_json::from_str(&text).unwrap_or_default();
                    accepted += answers.iter().filter(|a| a.get("result").is_some()).count();
                    if let Some(error) = answers.iter().find(|a| a.get("error").is_some()) {
                        eprintln!("first refusal in a batch: {error}");
                    }
                    if answers.is_empty() {
                        eprintln!("batch answered with {}", &text[..text.len().min(300)]);
                    }
                    let mut s = submitted.lock().unwrap();
                    for h in hashes.iter().step_by(50) {
                        s.insert(h.clone(), at);
                    }
                }
                accepted
            })
        })
        .collect();
    let accepted: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let submit_seconds = started.elapsed().as_secs_f64();

    // Latency of the sampled transactions: poll their receipts (bounded).
    let pending: Vec<(String, Instant)> = submitted.lock().unwrap().drain().collect();
    let mut latencies = Vec::new();
    let mut left = pending;
    let deadline = Instant::now() + Duration::from_secs(120);
    while !left.is_empty() && Instant::now() < deadline {
        let calls: Vec<Value> = left
            .iter()
            .map(|(h, _)| json!({"jsonrpc": "2.0", "id": 1, "method": "eth_getTransactionReceipt", "params": [h]}))
            .collect();
        let (_, text) = gateway.post(Value::Array(calls).to_string().as_bytes());
        let answers: Vec<Value> = serde_json::from_str(&text).unwrap_or_default();
        let now = Instant::now();
        let mut still = Vec::new();
        for ((hash, at), answer) in left.into_iter().zip(answers) {
            if answer["result"].is_null() {
                still.push((hash, at));
            } else {
                latencies.push(now.duration_since(at).as_secs_f64());
            }
        }
        left = still;
        std::thread::sleep(Duration::from_millis(5));
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    println!(
        "submitted {total} transfers, accepted {accepted} in {submit_seconds:.2} s: {:.0} accepted/s; \
         submit-to-receipt over {} samples: p50 {:.0} ms, p99 {:.0} ms",
        accepted as f64 / submit_seconds,
        latencies.len(),
        pct(0.5) * 1e3,
        pct(0.99) * 1e3
    );
    let head = gateway.result("eth_blockNumber", json!([]));
    println!("head block {head}");
    assert_eq!(accepted, total);
    Arc::try_unwrap(gateway).unwrap().stop();
}
