//! A flood beyond the concurrency limit is shed with HTTP 503 and JSON-RPC -32005, answered
//! rather than queued; the server serves normally afterwards.

use serde_json::{Value, json};
use std::sync::{Arc, Barrier};
use switchyard_tests::Gateway;

#[test]
fn flood_beyond_the_concurrency_limit_is_shed() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(&config, "[rpc]\nmax_concurrency = 1\n").unwrap();
    let gateway = Arc::new(Gateway::start(&["--config", config.to_str().unwrap()]));

    // Each request is a large batch, so requests overlap; 16 clients x 8 requests, bounded.
    let batch: Vec<Value> = (0..2_000)
        .map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "eth_getBlockByNumber", "params": ["latest", false]}))
        .collect();
    let body = Arc::new(Value::Array(batch).to_string());
    let clients = 16;
    let start = Arc::new(Barrier::new(clients));
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (gateway, body, start) = (gateway.clone(), body.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                (0..8)
                    .map(|_| gateway.post(body.as_bytes()))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let answers: Vec<(u16, String)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();

    let mut shed = 0;
    for (status, text) in &answers {
        match status {
            200 => {}
            503 => {
                let error: Value = serde_json::from_str(text).unwrap();
                assert_eq!(error["error"]["code"], -32005, "{text}");
                assert!(
                    error["error"]["message"]
                        .as_str()
                        .unwrap()
                        .starts_with("limit exceeded"),
                    "{text}"
                );
                shed += 1;
            }
            other => panic!("unexpected HTTP {other}: {text}"),
        }
    }
    assert!(shed > 0, "no request was shed out of {}", answers.len());
    assert!(shed < answers.len(), "every request was shed");
    assert_eq!(gateway.result("eth_chainId", json!([])), "0x539");
    let metrics = gateway.scrape();
    assert!(
        !metrics.contains("switchyard_rpc_refused_total{reason=\"overloaded\"} 0"),
        "{metrics}"
    );
    Arc::try_unwrap(gateway).unwrap().stop();
}
