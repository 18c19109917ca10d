//! The learning loop, end to end with the real binary: `switchyard serve` logs the traffic of
//! real signed transactions, `switchyard train` fits a model on that log, a second `serve`
//! runs with `--model`, reloads a changed file on `switchyard_reloadModel` and on its own when
//! the file changes, and keeps the old model (counting the failure) when the file turns to
//! garbage, whether the reload comes from the RPC or from SIGHUP.

use alloy_network::{EthereumWallet, TransactionBuilder};
use alloy_primitives::{Address, Bytes};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_types_eth::TransactionRequest;
use serde_json::{Value, json};
use std::path::Path;
use switchyard_gateway::serve::{config::DEV_MNEMONIC, genesis, model_loader::LoadedModel};
use switchyard_tests::{Gateway, deploy_code, run_switchyard, send_and_confirm};

/// Runtime: slot0 += 1. Every call conflicts with every other.
const COUNTER_RUNTIME: &[u8] = &[0x60, 0x00, 0x54, 0x60, 0x01, 0x01, 0x60, 0x00, 0x55, 0x00];
/// Senders (dev keys 0..SENDERS).
const SENDERS: usize = 4;
/// Rounds; each sends, from every sender and without waiting, a counter call and a transfer
/// to the sender's own recipient that names the counter in its calldata: candidate pairs (they
/// share the counter's address), some conflicting (counter calls), some not (the transfers).
const ROUNDS: usize = 5;

/// The value of the sample `name` with exactly `labels` (`""` for none) in a scrape.
fn sample(metrics: &str, name: &str, labels: &str) -> Option<f64> {
    let key = format!("{name}{labels} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(key.as_str()))
        .and_then(|v| v.trim().parse().ok())
}

fn router(gateway: &Gateway) -> Value {
    gateway.result("switchyard_status", json!([]))["router"].clone()
}

/// Deploys the counter, then sends `ROUNDS` rounds of calls from `SENDERS` dev keys;
/// each round's transactions are in flight together, so they share blocks.
async fn send_traffic(gateway: &Gateway) -> usize {
    let providers: Vec<_> = genesis::dev_signers(DEV_MNEMONIC, SENDERS)
        .unwrap()
        .into_iter()
        .map(|signer| {
            ProviderBuilder::new()
                .wallet(EthereumWallet::from(signer))
                .connect_http(gateway.url().parse().unwrap())
        })
        .collect();
    let deploy =
        TransactionRequest::default().with_deploy_code(Bytes::from(deploy_code(COUNTER_RUNTIME)));
    let receipt = send_and_confirm(&providers[0], deploy).await;
    let counter = receipt.contract_address.expect("contract address");
    // transfer(address): a selector, then the counter's address as one ABI word.
    let mut naming_counter = vec![0xa9, 0x05, 0x9c, 0xbb];
    naming_counter.extend_from_slice(&[0; 12]);
    naming_counter.extend_from_slice(counter.as_slice());
    let mut sent = 1;
    for _ in 0..ROUNDS {
        let mut pending = Vec::new();
        for (i, provider) in providers.iter().enumerate() {
            let call = TransactionRequest::default()
                .with_to(counter)
                .with_input(Bytes::from_static(&[0xd0, 0x9d, 0xe0, 0x8a]))
                .with_gas_limit(100_000);
            let transfer = TransactionRequest::default()
                .with_to(Address::with_last_byte(0x40 + i as u8))
                .with_value(alloy_primitives::U256::from(1))
                .with_input(Bytes::from(naming_counter.clone()))
                .with_gas_limit(100_000);
            for tx in [call, transfer] {
                pending.push(provider.send_transaction(tx).await.unwrap());
                sent += 1;
            }
        }
        for tx in pending {
            assert!(tx.get_receipt().await.unwrap().status());
        }
    }
    sent
}

/// Transactions in the traffic-log files (`traffic-*.jsonl`, one block record a line) of `dir`.
fn logged_txs(dir: &Path) -> usize {
    let mut txs = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in text.lines() {
            let record: Value = serde_json::from_str(line).expect("a whole JSON record");
            txs += record["txs"].as_array().expect("txs").len();
        }
    }
    txs
}

/// Polls `switchyard_status` until its router satisfies `done` (bounded: panics after 60 s).
fn wait_for(gateway: &Gateway, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let router = router(gateway);
        if done(&router) {
            return router;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gave up waiting; router now {router}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `path`'s model version, as the gateway computes it.
fn version_of(path: &Path) -> String {
    LoadedModel::load(path).expect("a valid model").version
}

/// Writes `text` to `path` through a temporary file, as `switchyard train` does.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_train_reload_loop() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let model = dir.path().join("model.json");
    let model_arg = model.to_str().unwrap();
    let serve_args = ["--block-time", "100", "--pools", "2"];

    // 1. Traffic without a model: the contract router, and a traffic log in the data dir.
    let gateway = Gateway::start_in(&data, &serve_args);
    assert_eq!(router(&gateway)["name"], "contract");
    let sent = send_traffic(&gateway).await;
    let metrics = gateway.scrape();
    let logged = sample(&metrics, "switchyard_traffic_log_records_total", "").unwrap();
    assert!(logged >= 2.0, "several blocks logged: {logged}");
    assert!(gateway.stop().success(), "SIGTERM exits 0");
    assert_eq!(
        logged_txs(&data.join("traffic")),
        sent,
        "the flushed log holds every transaction"
    );

    // 2. Train on what the gateway wrote.
    let out = run_switchyard(&[
        "train",
        "--logs",
        data.join("traffic").to_str().unwrap(),
        "--out",
        model_arg,
    ]);
    assert!(
        out.status.success(),
        "switchyard train failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let first = version_of(&model);

    // 3. Serve with the model: its version in the status and the metrics.
    let gateway = Gateway::start_in(&data, &[&serve_args[..], &["--model", model_arg]].concat());
    let status = router(&gateway);
    assert_eq!(status["name"], "model");
    assert_eq!(status["version"], first.as_str());
    let threshold = status["threshold"]
        .as_f64()
        .expect("a model has a threshold");
    let metrics = gateway.scrape();
    let info = format!("{{router=\"model\",version=\"{first}\"}}");
    assert_eq!(sample(&metrics, "switchyard_model_info", &info), Some(1.0));
    let exported = sample(&metrics, "switchyard_model_threshold", "").unwrap();
    assert!(
        (exported - threshold).abs() < 1e-9,
        "{exported} vs {threshold}"
    );

    // 4. A different valid file: reload puts it in service.
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&model).unwrap()).unwrap();
    let new_threshold = if threshold < 0.5 { 0.75 } else { 0.25 };
    doc["threshold"] = json!(new_threshold);
    replace(&model, &serde_json::to_string_pretty(&doc).unwrap());
    let second = version_of(&model);
    assert_ne!(first, second);
    let reloaded = gateway.result("switchyard_reloadModel", json!([]));
    assert_eq!(reloaded["version"], second.as_str());
    let status = router(&gateway);
    assert_eq!(status["version"], second.as_str());
    assert_eq!(status["threshold"].as_f64(), Some(new_threshold));
    let metrics = gateway.scrape();
    let info = format!("{{router=\"model\",version=\"{second}\"}}");
    assert_eq!(sample(&metrics, "switchyard_model_info", &info), Some(1.0));
    assert_eq!(
        sample(&metrics, "switchyard_model_threshold", ""),
        Some(new_threshold)
    );
    let failures_before = status["reloadFailures"].as_u64().unwrap();

    // 5. Another valid file, no call: the file watch puts it in service.
    doc["threshold"] = json!(0.5);
    replace(&model, &serde_json::to_string_pretty(&doc).unwrap());
    let third = version_of(&model);
    let in_service = wait_for(&gateway, |r| r["version"] == third.as_str());
    assert_eq!(in_service["threshold"].as_f64(), Some(0.5));

    // 6. Garbage: reload fails with the reason, the second model stays, the failure counts.
    replace(&model, "this is not a model\n");
    let answer = gateway.call("switchyard_reloadModel", json!([]));
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("model reload failed") && message.contains("corrupt model file"),
        "{answer}"
    );
    let status = router(&gateway);
    assert_eq!(status["version"], third.as_str());
    let failures_now = status["reloadFailures"].as_u64().unwrap();
    assert!(failures_now > failures_before);
    let failures = sample(
        &gateway.scrape(),
        "switchyard_model_reload_failures_total",
        "",
    )
    .unwrap();
    assert!(failures >= 1.0, "{failures}");

    // 7. SIGHUP retries the (still bad) file: one more failure, the process keeps serving.
    let mut gateway = gateway;
    gateway.signal("HUP");
    let status = wait_for(&gateway, |r| {
        r["reloadFailures"].as_u64().unwrap() > failures_now
    });
    assert_eq!(status["version"], third.as_str());
    assert!(gateway.is_running());
    assert!(gateway.stop().success(), "SIGTERM exits 0");
}

#[test]
fn a_bad_model_at_start_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{\"format\": \"something else\"}").unwrap();
    let missing = dir.path().join("missing.json");
    for path in [&garbage, &missing] {
        let out = run_switchyard(&[
            "serve",
            "--rpc",
            "127.0.0.1:0",
            "--metrics",
            "",
            "--data-dir",
            dir.path().join("data").to_str().unwrap(),
            "--model",
            path.to_str().unwrap(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{stderr}");
        assert!(
            stderr.contains("bad config") && stderr.contains(path.to_str().unwrap()),
            "{stderr}"
        );
    }
}
