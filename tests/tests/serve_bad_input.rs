//! Every bad input gets its JSON-RPC error code and message, the server keeps serving, and a
//! bad config exits 64 with the reason.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope, TxLegacy};
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, Bytes, Signature, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use serde_json::{Value, json};
use switchyard_gateway::serve::{config::DEV_MNEMONIC, genesis};
use switchyard_tests::{Gateway, run_switchyard};

const GWEI: u128 = 1_000_000_000;

fn transfer(nonce: u64) -> TxEip1559 {
    TxEip1559 {
        chain_id: 1337,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 2 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to: TxKind::Call(Address::with_last_byte(0x77)),
        value: U256::from(1),
        access_list: Default::default(),
        input: Bytes::new(),
    }
}

fn sign(signer: &PrivateKeySigner, tx: TxEip1559) -> String {
    let sig = signer.sign_hash_sync(&tx.signature_hash()).unwrap();
    let raw = TxEnvelope::from(tx.into_signed(sig)).encoded_2718();
    format!("0x{}", alloy_primitives::hex::encode(raw))
}

fn send(gateway: &Gateway, raw: &str) -> Value {
    gateway.call("eth_sendRawTransaction", json!([raw]))
}

fn assert_error(answer: &Value, code: i64, message_start: &str, case: &str) {
    let error = answer
        .get("error")
        .unwrap_or_else(|| panic!("{case}: expected an error, got {answer}"));
    assert_eq!(error["code"], code, "{case}: {answer}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(message_start),
        "{case}: message {message:?} does not start with {message_start:?}"
    );
}

#[test]
fn bad_inputs_get_their_errors_and_the_server_still_serves() {
    let gateway = Gateway::start(&["--block-time", "100"]);
    let signers = genesis::dev_signers(DEV_MNEMONIC, 2).unwrap();
    let (alice, poor) = (&signers[0], PrivateKeySigner::random());

    // A pending transaction to collide with: nonce 0 (wait for inclusion so "nonce too low"
    // is about committed state).
    let first = send(&gateway, &sign(alice, transfer(0)));
    let hash = first["result"].as_str().expect("admitted").to_owned();
    let included = (0..200).any(|_| {
        let receipt = gateway.result("eth_getTransactionReceipt", json!([hash]));
        if receipt.is_null() {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        !receipt.is_null()
    });
    assert!(included, "first transfer never included");

    let unprotected_chain = {
        let tx = TxLegacy {
            chain_id: Some(1),
            nonce: 1,
            gas_price: 2 * GWEI,
            gas_limit: 21_000,
            to: TxKind::Call(Address::with_last_byte(1)),
            value: U256::ZERO,
            input: Bytes::new(),
        };
        let sig = alice.sign_hash_sync(&tx.signature_hash()).unwrap();
        format!(
            "0x{}",
            alloy_primitives::hex::encode(TxEnvelope::from(tx.into_signed(sig)).encoded_2718())
        )
    };
    let bad_signature = {
        let zero = Signature::new(U256::ZERO, U256::ZERO, false);
        let raw = TxEnvelope::from(transfer(1).into_signed(zero)).encoded_2718();
        format!("0x{}", alloy_primitives::hex::encode(raw))
    };
    let blob = {
        let tx = alloy_consensus::TxEip4844 {
            chain_id: 1337,
            nonce: 1,
            gas_limit: 21_000,
            max_fee_per_gas: 2 * GWEI,
            max_priority_fee_per_gas: GWEI,
            to: Address::with_last_byte(1),
            value: U256::ZERO,
            access_list: Default::default(),
            blob_versioned_hashes: vec![alloy_primitives::B256::with_last_byte(1)],
            max_fee_per_blob_gas: 1,
            input: Bytes::new(),
        };
        let sig = alice.sign_hash_sync(&tx.signature_hash()).unwrap();
        let raw = TxEnvelope::from(tx.into_signed(sig)).encoded_2718();
        format!("0x{}", alloy_primitives::hex::encode(raw))
    };
    let queued = sign(alice, transfer(3)); // a gap of 2: queued, not rejected
    let cases: Vec<(&str, String, i64, &str)> = vec![
        ("malformed RLP", "0x02c0".into(), -32602, "rlp:"),
        (
            "not hex",
            "0xzz".into(),
            -32602,
            "invalid params: invalid argument 0",
        ),
        ("bad signature", bad_signature, -32000, "invalid sender"),
        (
            "wrong chain id",
            unprotected_chain,
            -32000,
            "invalid chain id for signer: have 1 want 1337",
        ),
        (
            "nonce too low",
            sign(
                alice,
                TxEip1559 {
                    value: U256::from(2),
                    ..transfer(0)
                },
            ),
            -32000,
            "nonce too low: next nonce 1, tx nonce 0",
        ),
        (
            "nonce gap",
            sign(alice, transfer(1 + 65)),
            -32000,
            "nonce too high: next nonce 1, tx nonce 66",
        ),
        (
            "insufficient funds",
            sign(&poor, transfer(0)),
            -32000,
            "insufficient funds for gas * price + value: balance 0",
        ),
        (
            "intrinsic gas",
            sign(
                alice,
                TxEip1559 {
                    gas_limit: 20_000,
                    ..transfer(1)
                },
            ),
            -32000,
            "intrinsic gas too low: gas 20000, minimum needed 21000",
        ),
        (
            "over block gas limit",
            sign(
                alice,
                TxEip1559 {
                    gas_limit: 30_000_001,
                    ..transfer(1)
                },
            ),
            -32000,
            "exceeds block gas limit",
        ),
        (
            "fee below base fee",
            sign(
                alice,
                TxEip1559 {
                    max_fee_per_gas: 7,
                    max_priority_fee_per_gas: 1,
                    ..transfer(1)
                },
            ),
            -32000,
            "max fee per gas less than block base fee",
        ),
        (
            "blob transaction",
            blob,
            -32000,
            "transaction type not supported",
        ),
    ];
    for (case, raw, code, message) in &cases {
        assert_error(&send(&gateway, raw), *code, message, case);
    }
    assert!(
        send(&gateway, &queued).get("result").is_some(),
        "future nonce within the gap is queued"
    );
    assert_error(
        &send(&gateway, &queued),
        -32000,
        "already known",
        "already known",
    );

    // Framing errors.
    let (status, body) = gateway.post(b"{not json");
    assert_eq!(status, 200);
    assert_error(
        &serde_json::from_str(&body).unwrap(),
        -32700,
        "parse error",
        "junk JSON",
    );
    let (_, body) = gateway.post(b"[]");
    assert_error(
        &serde_json::from_str(&body).unwrap(),
        -32600,
        "invalid request",
        "empty batch",
    );
    let (_, body) = gateway.post(br#"{"jsonrpc":"2.0","id":1}"#);
    assert_error(
        &serde_json::from_str(&body).unwrap(),
        -32600,
        "invalid request",
        "no method",
    );
    assert_error(
        &gateway.call("eth_bogus", json!([])),
        -32601,
        "the method eth_bogus does not exist",
        "unknown method",
    );
    assert_error(
        &gateway.call("eth_getBalance", json!([42, "latest"])),
        -32602,
        "invalid params: invalid argument 0",
        "wrong param type",
    );
    assert_error(
        &gateway.call("eth_getBalance", json!({"a": 1})),
        -32602,
        "invalid params: non-array args",
        "named params",
    );
    assert_error(
        &gateway.call("switchyard_reloadModel", json!([])),
        -32000,
        "no model configured",
        "no model",
    );
    let oversized = vec![b' '; 6 * 1024 * 1024];
    let (status, body) = gateway.post(&oversized);
    assert_eq!(status, 413, "oversized body: {body}");
    assert_error(
        &serde_json::from_str(&body).unwrap(),
        -32600,
        "invalid request: request body exceeds",
        "oversized body",
    );

    // A batch mixes answers and errors, in order.
    let (_, body) = gateway.post(br#"[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":2,"method":"nope"}]"#);
    let batch: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(batch[0]["result"], "0x539");
    assert_eq!(batch[1]["error"]["code"], -32601);

    // An operator's habitual SIGHUP, with no model to reload, must not end the process.
    gateway.signal("HUP");

    // Still serving: a good transaction goes through.
    let good = send(&gateway, &sign(alice, transfer(1)));
    assert!(good.get("result").is_some(), "{good}");
    assert_eq!(
        gateway.result(
            "eth_getTransactionCount",
            json!([alice.address(), "pending"])
        ),
        "0x2"
    );
    let metrics = gateway.scrape();
    assert!(
        metrics.contains("switchyard_txs_rejected_total{reason=\"nonce_too_low\"} 1"),
        "{metrics}"
    );
    assert!(gateway.stop().success());
}

#[test]
fn bad_config_exits_64_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[chain]\nblock_time_ms = 0\n").unwrap();
    let output = run_switchyard(&["serve", "--config", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("chain.block_time_ms"), "{stderr}");
    let output = run_switchyard(&["serve", "--rpc", "not-an-address"]);
    assert_eq!(output.status.code(), Some(64));
}
