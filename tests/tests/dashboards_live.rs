//! Every dashboard panel shows data from a real scrape: two `switchyard serve` processes on
//! loopback, driven by real signed transactions and scraped every second by a real Prometheus
//! that evaluates the repository's recording and alert rules; then every panel query,
//! annotation and template variable of `dashboards/` is evaluated through Prometheus's HTTP
//! API and must return data.
//!
//! The panels that need an event get it here. The first gateway serves a trained model with
//! the fallback off and a tuning window of one block, so its blocks run across pools and tune
//! the knobs after each: validation misses and re-executed gas
//! (contracts that read the fee recipient's balance, behind transfers on the other pool), a
//! model reload and a failed one, RPC errors, load shedding (a flood past `max_concurrency`)
//! and rate limiting. The second runs the defaults and gets a one-transaction block, which
//! falls back to sequential execution.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::Encodable2718;
use alloy_network::{EthereumWallet, TransactionBuilder};
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_provider::ProviderBuilder;
use alloy_rpc_client::ClientBuilder;
use alloy_rpc_types_eth::{TransactionReceipt, TransactionRequest};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use alloy_transport::layers::RetryBackoffLayer;
use serde_json::{Value, json};
use std::{
    path::Path,
    sync::{Arc, Barrier},
    time::{Duration, Instant},
};
use switchyard_gateway::serve::{config::DEV_MNEMONIC, genesis};
use switchyard_model::{TrafficLogWriter, test_utils::synthetic_records};
use switchyard_tests::{
    Gateway,
    dashboards::{
        dashboard_queries, dashboard_variables, expand_variables, required_tool, rule_files,
    },
    deploy_code,
    prometheus::{Prometheus, finite_values, unix_now},
    run_switchyard, send_and_confirm,
};

/// Dev accounts sending transfers; sender 0 deploys.
const SENDERS: usize = 64;
/// Transfers per sender per round: same-sender chains the router keeps together.
const PER_SENDER: u64 = 8;
/// Senders that, after their transfers, call the fee-recipient reader.
const READERS: usize = 6;
/// Gateways Prometheus scrapes.
const TARGETS: usize = 2;
/// Runtime: BALANCE(COINBASE); STOP. Its read of the fee recipient includes every earlier
/// transaction's fee, so run on a pool that did not execute those, it fails validation.
const READER_RUNTIME: &[u8] = &[0x41, 0x31, 0x50, 0x00];

/// Sends `tx` from `signer` through an alloy provider and waits for its successful receipt.
async fn mined(
    gateway: &Gateway,
    signer: &PrivateKeySigner,
    tx: TransactionRequest,
) -> TransactionReceipt {
    // The gateway sheds past `max_concurrency = 2` (-32005), and alloy's fillers send requests
    // at once: back off and retry, as a client of a loaded gateway does.
    let client = ClientBuilder::default()
        .layer(RetryBackoffLayer::new(100, 20, u64::MAX))
        .http(gateway.url().parse().unwrap());
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer.clone()))
        .connect_client(client);
    send_and_confirm(&provider, tx).await
}

/// `switchyard train` on a synthetic traffic log: a real model file at `out`.
fn train_model(dir: &Path, out: &Path) {
    let logs = dir.join("logs");
    let mut writer = TrafficLogWriter::create(&logs).unwrap();
    for record in synthetic_records(12, 48, 7) {
        writer.append(&record).unwrap();
    }
    writer.flush().unwrap();
    let train = run_switchyard(&[
        "train",
        "--logs",
        logs.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        train.status.success(),
        "switchyard train: {}",
        String::from_utf8_lossy(&train.stderr)
    );
}

/// A signed EIP-1559 transaction, hex-encoded for `eth_sendRawTransaction`.
fn signed(signer: &PrivateKeySigner, nonce: u64, to: Address, tip: u128, input: Bytes) -> String {
    let tx = TxEip1559 {
        chain_id: 1337,
        nonce,
        gas_limit: 60_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: tip,
        to: TxKind::Call(to),
        value: U256::from(1),
        access_list: Default::default(),
        input,
    };
    let signature = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
    let raw = TxEnvelope::from(tx.into_signed(signature)).encoded_2718();
    format!("0x{}", alloy_primitives::hex::encode(raw))
}

/// One round: every sender's transfers (tip 2 gwei) and, from a few, a call to the reader
/// (tip 1 gwei, so it sorts after the transfers), in one JSON-RPC batch so they share a block.
/// Waits (bounded) until the round is committed.
fn send_round(
    gateway: &Gateway,
    signers: &[PrivateKeySigner],
    nonces: &mut [u64],
    reader: Address,
) {
    let mut calls = Vec::new();
    for (i, signer) in signers.iter().enumerate().skip(1) {
        for _ in 0..PER_SENDER {
            let to = Address::with_last_byte(0x10 + i as u8);
            calls.push(signed(signer, nonces[i], to, 2_000_000_000, Bytes::new()));
            nonces[i] += 1;
        }
        if i <= READERS {
            calls.push(signed(
                signer,
                nonces[i],
                reader,
                1_000_000_000,
                Bytes::new(),
            ));
            nonces[i] += 1;
        }
    }
    let batch: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(id, raw)| json!({"jsonrpc": "2.0", "id": id, "method": "eth_sendRawTransaction", "params": [raw]}))
        .collect();
    let (status, text) = gateway.post(Value::Array(batch).to_string().as_bytes());
    assert_eq!(status, 200, "{text}");
    let answers: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert!(
        answers.iter().all(|a| a.get("result").is_some()),
        "a transaction was refused: {text}"
    );
    let last = signers.len() - 1;
    let deadline = Instant::now() + Duration::from_secs(60);
    while gateway.result(
        "eth_getTransactionCount",
        json!([signers[last].address(), "latest"]),
    ) != json!(format!("{:#x}", nonces[last]))
    {
        assert!(Instant::now() < deadline, "round not committed within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The value of the sample `name` with exactly `labels` in a scrape of the gateway.
fn scraped(metrics: &str, name: &str, labels: &str) -> f64 {
    let key = format!("{name}{labels} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(key.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// `threads` clients each POST `body` `times` at once; the HTTP statuses.
fn flood(gateway: &Arc<Gateway>, body: String, threads: usize, times: usize) -> Vec<u16> {
    let body = Arc::new(body);
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (gateway, body, start) = (gateway.clone(), body.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                (0..times)
                    .map(|_| gateway.post(body.as_bytes()).0)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_panel_shows_data_from_a_live_scrape() {
    let Some(prometheus_bin) = required_tool(
        "prometheus".into(),
        "install Debian's prometheus package (apt-get install prometheus)",
    ) else {
        return;
    };
    let started = unix_now();
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model.json");
    train_model(dir.path(), &model);
    let config = dir.path().join("switchyard.toml");
    // Blocks across pools whatever the cost model thinks; room for this test's own requests,
    // and limits a flood can reach.
    std::fs::write(
        &config,
        "[executor]\nfallback = false\n[tuning]\nwindow_blocks = 1\n[rpc]\nmax_concurrency = 2\nrate_limit_per_second = 100\nrate_limit_burst = 100\n",
    )
    .unwrap();
    let gateway = Arc::new(Gateway::start(&[
        "--config",
        config.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--pools",
        "2",
        "--block-time",
        "200",
        "--dev-accounts",
        &SENDERS.to_string(),
    ]));
    let defaults = Gateway::start(&["--pools", "2"]);

    let rules: Vec<String> = rule_files()
        .iter()
        .map(|p| {
            format!(
                "  - {}\n",
                serde_json::to_string(&p.display().to_string()).unwrap()
            )
        })
        .collect();
    let prometheus = Prometheus::start(
        &prometheus_bin,
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n{}scrape_configs:\n  - job_name: switchyard\n    static_configs:\n      - targets: [\"{}\", \"{}\"]\n",
            rules.concat(),
            gateway.metrics.expect("metrics enabled"),
            defaults.metrics.expect("metrics enabled"),
        ),
    );

    // Traffic only once Prometheus holds a sample from before it, so that rates see it rise.
    prometheus.wait_for_scrape_after(unix_now(), TARGETS);

    // Through alloy: a transfer on the defaults gateway (a one-transaction block falls back),
    // and the reader's deployment on the other.
    let signers = genesis::dev_signers(DEV_MNEMONIC, SENDERS).unwrap();
    let transfer = TransactionRequest::default()
        .with_to(Address::with_last_byte(0x42))
        .with_value(U256::from(1));
    mined(&defaults, &signers[0], transfer).await;
    let deploy =
        TransactionRequest::default().with_deploy_code(Bytes::from(deploy_code(READER_RUNTIME)));
    let receipt = mined(&gateway, &signers[0], deploy).await;
    let reader = receipt.contract_address.expect("contract address");

    // Rounds until a block ran across pools and a reader missed validation (bounded).
    let mut nonces = vec![0u64; SENDERS];
    nonces[0] = 1;
    let mut rounds = 0;
    loop {
        send_round(&gateway, &signers, &mut nonces, reader);
        rounds += 1;
        let metrics = gateway.scrape();
        let parallel = scraped(&metrics, "switchyard_blocks_total", "{mode=\"parallel\"}");
        let misses = scraped(&metrics, "switchyard_routing_validation_misses_total", "");
        if parallel > 0.0 && misses > 0.0 {
            break;
        }
        assert!(
            rounds < 20,
            "after {rounds} rounds: {parallel} parallel blocks, {misses} validation misses"
        );
    }

    // RPC errors: an unknown method (-32601), undecodable bytes (-32602), a stale nonce (-32000).
    assert_eq!(
        gateway.call("no_such_method", json!([]))["error"]["code"],
        -32601
    );
    assert_eq!(
        gateway.call("eth_sendRawTransaction", json!(["0x1234"]))["error"]["code"],
        -32602
    );
    let stale = signed(&signers[1], 0, reader, 1_000_000_000, Bytes::new());
    assert_eq!(
        gateway.call("eth_sendRawTransaction", json!([stale]))["error"]["code"],
        -32000
    );

    // Model reloads: a changed file goes into service; garbage fails and the model stays. Each
    // state is scraped before the next, so the reload shows as a change of the load time.
    prometheus.wait_for_scrape_after(unix_now(), TARGETS);
    let original = std::fs::read_to_string(&model).unwrap();
    let mut doc: Value = serde_json::from_str(&original).unwrap();
    let threshold = doc["threshold"].as_f64().unwrap();
    doc["threshold"] = json!(if threshold < 0.5 { 0.75 } else { 0.25 });
    std::fs::write(&model, doc.to_string()).unwrap();
    gateway.result("switchyard_reloadModel", json!([]));
    prometheus.wait_for_scrape_after(unix_now(), TARGETS);
    std::fs::write(&model, "not a model").unwrap();
    assert!(
        gateway
            .call("switchyard_reloadModel", json!([]))
            .get("error")
            .is_some()
    );
    std::fs::write(&model, &original).unwrap();
    gateway.result("switchyard_reloadModel", json!([]));
    prometheus.wait_for_scrape_after(unix_now(), TARGETS);

    // Load shedding: large batches from 8 clients at once, past max_concurrency = 2.
    let heavy: Vec<Value> = (0..2_000)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "eth_getBlockByNumber", "params": ["latest", false]}))
        .collect();
    let statuses = flood(&gateway, Value::Array(heavy).to_string(), 8, 3);
    assert!(statuses.contains(&503), "nothing shed: {statuses:?}");
    // Rate limiting: past 100 requests a second with a burst of 100.
    std::thread::sleep(Duration::from_secs(1));
    let light = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []});
    let statuses = flood(&gateway, light.to_string(), 4, 80);
    assert!(statuses.contains(&429), "nothing rate limited");
    std::thread::sleep(Duration::from_secs(2));

    // Prometheus has scraped every event, and evaluated the rules since.
    let timeout = Duration::from_secs(60);
    for expr in [
        "switchyard_routing_validation_misses_total",
        "switchyard_routing_reexecuted_gas_total",
        r#"switchyard_blocks_total{mode="parallel"}"#,
        "sum(switchyard_block_fallbacks_total)",
        "switchyard_model_reload_failures_total",
        "changes(switchyard_model_loaded_timestamp_seconds[5m])",
        r#"switchyard_rpc_errors_total{code="-32601"}"#,
        r#"switchyard_rpc_errors_total{code="-32602"}"#,
        r#"switchyard_rpc_errors_total{code="-32000"}"#,
        r#"switchyard_rpc_refused_total{reason="overloaded"}"#,
        r#"switchyard_rpc_refused_total{reason="rate_limited"}"#,
        "count(switchyard:routing_recall_proxy:ratio_rate5m)",
        "count(switchyard:rpc_request_duration_seconds:p99_rate1m)",
    ] {
        prometheus.wait_for(expr, timeout).unwrap();
    }

    // Every panel query and annotation returns data: a series with a finite value.
    let queries = dashboard_queries();
    let mut empty = Vec::new();
    for query in &queries {
        let promql = query.promql();
        let series = prometheus
            .query_range(&promql, started, "1s")
            .unwrap_or_else(|e| panic!("{}: {promql}: {e}", query.place));
        if !series.iter().any(|s| !finite_values(s).is_empty()) {
            empty.push(format!("{}: {promql}", query.place));
        }
    }
    // Every template variable offers values.
    for variable in dashboard_variables() {
        let data = prometheus
            .api(
                &format!("/api/v1/label/{}/values", variable.label),
                &[("match[]", &expand_variables(&variable.selector))],
            )
            .unwrap();
        if data.as_array().is_none_or(Vec::is_empty) {
            empty.push(format!("{}: no values", variable.place));
        }
    }
    assert!(
        empty.is_empty(),
        "{} of {} queries show no data:\n{}",
        empty.len(),
        queries.len(),
        empty.join("\n")
    );

    drop(prometheus);
    let gateway = Arc::try_unwrap(gateway).expect("no flood thread left");
    assert!(gateway.stop().success(), "SIGTERM exits 0");
    assert!(defaults.stop().success(), "SIGTERM exits 0");
}
