//! Remote executor pools: three `switchyard executor` processes behind a gateway with no
//! in-process pool, driven by real signed transfers. One executor is SIGKILLed mid-run and
//! restarted, another is stalled with SIGSTOP; every accepted transaction gets a receipt, the
//! produced blocks replay exactly from genesis, and the metrics show what happened. The same
//! kill under `switchyard loadgen`'s open-loop traffic. Then the protocol's refusals, spoken to
//! an executor directly.

mod common;

use alloy_primitives::{Address, B256};
use bytes::Bytes;
use std::time::Duration;
use switchyard_executors::{
    check,
    commit::ordered_commit,
    execute_sequential,
    pool::BatchResponse,
    protocol::{BlockRef, Diff, ExecuteRequest, Health, ProtocolError, Snapshot, SyncAck, path},
    synthetic,
};
use switchyard_gateway::serve::{
    config::DEV_MNEMONIC,
    genesis,
    pools::client::{CallError, Client},
};
use switchyard_tests::{
    ExecutorProcess, Gateway, eventually, json_summary, metric, switchyard_bin,
};

const SENDERS: usize = 8;
const GENEROUS: Duration = Duration::from_secs(60);

/// Sends one transfer per sender (the next nonce of each); returns the hashes.
fn round(gateway: &Gateway, nonce: &mut u64) -> Vec<String> {
    let signers = genesis::dev_signers(DEV_MNEMONIC, SENDERS).unwrap();
    let raws: Vec<String> = signers
        .iter()
        .enumerate()
        .map(|(i, signer)| {
            // Every fifth round pays the next dev account (one contended group), else an
            // address of the sender's own (independent groups, spread over the pools).
            let to = if nonce.is_multiple_of(5) {
                signers[(i + 1) % SENDERS].address()
            } else {
                Address::repeat_byte(0x10 + i as u8)
            };
            common::transfer(signer, *nonce, to, 1 + (i as u128 % 3))
        })
        .collect();
    *nonce += 1;
    common::send_all(gateway, &raws)
}

fn pool_metric(gateway: &Gateway, family: &str, pool: usize) -> f64 {
    metric(&gateway.scrape(), &format!("{family}{{pool=\"{pool}\"}}")).unwrap_or(f64::NAN)
}

fn failures(gateway: &Gateway, pool: usize, reason: &str) -> f64 {
    let series = format!("switchyard_pool_failures_total{{pool=\"{pool}\",reason=\"{reason}\"}}");
    metric(&gateway.scrape(), &series).unwrap_or(0.0)
}

fn up(gateway: &Gateway, pool: usize) -> bool {
    pool_metric(gateway, "switchyard_pool_up", pool) == 1.0
}

fn busy(gateway: &Gateway, pool: usize) -> f64 {
    pool_metric(gateway, "switchyard_pool_busy_seconds_total", pool)
}

/// Three executors behind a gateway with no in-process pool: every block through the pools,
/// short timeouts and health checks so failures are noticed quickly (the waits stay generous).
/// `chain` is extra `[chain]` config; pool 1 is named through the resolver (`localhost`),
/// which the gateway consults again for every new connection. Waits until all three are up.
fn cluster(chain: &str, extra: &[&str]) -> (Vec<ExecutorProcess>, Gateway, tempfile::TempDir) {
    let executors: Vec<ExecutorProcess> = (0..3)
        .map(|_| ExecutorProcess::start("127.0.0.1:0"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(
        &config,
        format!(
            "[chain]\n{chain}[executor]\npools = 0\nfallback = false\ntimeout_ms = 2000\n\
             health_interval_ms = 200\nfailures_to_open = 2\nbackoff_ms = 500\nbackoff_max_ms = 2000\n"
        ),
    )
    .unwrap();
    let mut addrs: Vec<String> = executors.iter().map(|e| e.addr.to_string()).collect();
    addrs[1] = format!("localhost:{}", executors[1].addr.port());
    let mut args = vec!["--config", config.to_str().unwrap(), "--block-time", "50"];
    args.extend(extra);
    for addr in &addrs {
        args.extend(["--remote-pool", addr.as_str()]);
    }
    let gateway = Gateway::start(&args);
    assert!(
        eventually(GENEROUS, || (0..3).all(|p| up(&gateway, p))),
        "the three remote pools never came up"
    );
    (executors, gateway, dir)
}

/// The failover run: `switchyard loadgen` sends contended peer-to-peer transfers among
/// 16 accounts through three executors, and one executor is SIGKILLed once the gateway has
/// committed part of the traffic. Whenever the kill lands, nothing accepted may be lost.
#[test]
fn an_executor_killed_under_loadgen_traffic_loses_nothing() {
    let (mut executors, gateway, _dir) = cluster("", &["--dev-accounts", "16"]);

    let loadgen = std::process::Command::new(switchyard_bin())
        .args(["loadgen", "--rpc", &gateway.url(), "--scenario", "p2p"])
        .args(["--accounts", "16", "--hot-ratio", "0.5", "--rate", "150"])
        .args(["--duration", "8", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start loadgen");
    let committed = |gateway: &Gateway| {
        metric(&gateway.scrape(), "switchyard_block_transactions_total").unwrap_or(0.0)
    };
    assert!(
        eventually(GENEROUS, || committed(&gateway) >= 100.0),
        "loadgen's traffic never reached the blocks"
    );
    executors.remove(1).kill();

    let output = loadgen.wait_with_output().expect("loadgen ends");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json_summary(&output);
    let count = |key: &str| {
        report[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key}: {report}"))
    };
    assert!(count("accepted") > 100, "{report}");
    assert_eq!(count("receipts"), count("accepted"), "{report}");
    assert_eq!(count("missing_receipts"), 0, "{report}");
    assert!(
        eventually(GENEROUS, || !up(&gateway, 1)),
        "the killed pool still shows up"
    );
    // Every accepted transaction (and loadgen's setup, if any) is in exactly one block, and the
    // blocks are exact.
    let setup = report["setup_txs"].as_u64().expect("setup_txs");
    assert_eq!(
        common::replay_from_genesis(&gateway, 16) as u64,
        count("accepted") + setup
    );
    assert!(gateway.stop().success());
}

#[test]
fn three_executors_survive_kill_restart_and_stall() {
    // Blocks of at most 50 transfers.
    let (mut executors, gateway, _dir) = cluster("block_gas_limit = 1050000\n", &[]);
    let killed_port = executors[1].addr.port();

    let mut nonce = 0;
    let mut hashes = Vec::new();
    for _ in 0..6 {
        hashes.extend(round(&gateway, &mut nonce));
    }
    common::wait_for_receipts(&gateway, &hashes, 60);
    for pool in 0..3 {
        assert!(busy(&gateway, pool) > 0.0, "pool {pool} never got work");
    }

    // SIGKILL one executor while transactions are pending.
    hashes.extend(round(&gateway, &mut nonce));
    executors.remove(1).kill();
    for _ in 0..6 {
        hashes.extend(round(&gateway, &mut nonce));
    }
    common::wait_for_receipts(&gateway, &hashes, 60);
    assert!(
        eventually(GENEROUS, || !up(&gateway, 1)),
        "the killed pool still shows up"
    );
    assert!(
        failures(&gateway, 1, "transport") + failures(&gateway, 1, "health") > 0.0,
        "the killed pool's failures were not counted"
    );

    // Restarted on the same address, it is sent a snapshot and gets work again.
    let restarted = ExecutorProcess::start(&format!("127.0.0.1:{killed_port}"));
    assert!(
        eventually(GENEROUS, || up(&gateway, 1)),
        "the restarted pool never came back"
    );
    let snapshots = "switchyard_pool_state_syncs_total{kind=\"snapshot\",pool=\"1\"}";
    assert!(metric(&gateway.scrape(), snapshots).unwrap_or(0.0) >= 2.0);
    let before = busy(&gateway, 1);
    let mut rejoined = false;
    for _ in 0..20 {
        let sent = round(&gateway, &mut nonce);
        common::wait_for_receipts(&gateway, &sent, 60);
        hashes.extend(sent);
        if busy(&gateway, 1) > before {
            rejoined = true;
            break;
        }
    }
    assert!(rejoined, "the restarted pool got no work");
    executors.insert(1, restarted);

    // SIGSTOP another: its calls time out, it is routed around, and blocks keep coming.
    executors[2].signal("STOP");
    for _ in 0..6 {
        hashes.extend(round(&gateway, &mut nonce));
    }
    common::wait_for_receipts(&gateway, &hashes, 120);
    assert!(
        eventually(GENEROUS, || !up(&gateway, 2)),
        "the stalled pool still shows up"
    );
    assert!(
        failures(&gateway, 2, "timeout") > 0.0,
        "no call to the stalled pool timed out"
    );
    let sent = round(&gateway, &mut nonce);
    common::wait_for_receipts(&gateway, &sent, 60);
    hashes.extend(sent);
    executors[2].signal("CONT");

    // Every accepted transaction is in exactly one block, and the blocks are exact.
    assert_eq!(common::replay_from_genesis(&gateway, 10), hashes.len());
    assert!(gateway.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn executor_refuses_what_it_cannot_serve_and_recovers() {
    let executor = ExecutorProcess::start_with("127.0.0.1:0", &["--max-message-bytes", "1048576"]);
    let client = Client::new(&executor.addr.to_string(), 64 << 20);
    let at = |number: u64| BlockRef {
        number,
        hash: B256::with_last_byte(number as u8 + 1),
    };
    let health: Health = client.get(path::HEALTH).await.unwrap();
    assert_eq!((health.head, health.threads), (None, 1));

    let (block, state) = synthetic::independent_transfers(4);
    let execute = |parent| ExecuteRequest {
        parent,
        block: block.clone(),
        txs: vec![0, 2],
    };
    let refused = |result: Result<BatchResponse, CallError>| match result {
        Err(CallError::Refused(e)) => e,
        other => panic!("expected a refusal, got {other:?}"),
    };
    // No state yet: refused, naming what it holds.
    assert_eq!(
        refused(client.post(path::EXECUTE, &execute(at(0))).await),
        ProtocolError::UnknownParent {
            asked: at(0),
            head: None
        }
    );
    // Another version, garbage, and an oversized body each get their own error.
    let foreign = String::from_utf8(switchyard_executors::protocol::encode(&execute(at(0))))
        .unwrap()
        .replacen("\"version\":1", "\"version\":2", 1);
    assert_eq!(
        refused(client.post_bytes(path::EXECUTE, Bytes::from(foreign)).await),
        ProtocolError::VersionMismatch {
            expected: 1,
            got: 2
        }
    );
    assert!(matches!(
        refused(
            client
                .post_bytes(path::EXECUTE, Bytes::from_static(b"{oops"))
                .await
        ),
        ProtocolError::Malformed(_)
    ));
    assert!(matches!(
        refused(
            client
                .post_bytes(path::EXECUTE, Bytes::from(vec![b' '; 2 << 20]))
                .await
        ),
        ProtocolError::Oversized { .. }
    ));

    // A snapshot, then a batch on it: the results are the sequential ones.
    let ack: SyncAck = client
        .post(
            path::SNAPSHOT,
            &Snapshot {
                head: at(0),
                state: state.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(ack.head, at(0));
    let response: BatchResponse = client.post(path::EXECUTE, &execute(at(0))).await.unwrap();
    let base = std::sync::Arc::new(state);
    let reference = execute_sequential(&block, base.clone()).unwrap();
    let mut speculative = vec![None; block.txs.len()];
    for tx in response.results {
        speculative[tx.index] = Some(tx.outcome);
    }
    let (committed, report) = ordered_commit(&block, base, speculative).unwrap();
    assert!(check::against_reference(&reference.result, &committed).is_empty());
    assert_eq!(
        report.reexecuted,
        [false, true, false, true],
        "the executor's results were valid as sent"
    );

    // A diff that does not follow the block held is refused; the right one is applied; then
    // the old parent is stale and the new one is served.
    let step = |parent, head| Diff {
        parent,
        head,
        diff: Default::default(),
    };
    let skipped: Result<SyncAck, _> = client.post(path::DIFF, &step(at(1), at(2))).await;
    assert!(matches!(skipped, Err(CallError::Refused(e)) if e.needs_sync()));
    let ack: SyncAck = client.post(path::DIFF, &step(at(0), at(1))).await.unwrap();
    assert_eq!(ack.head, at(1));
    assert_eq!(
        refused(client.post(path::EXECUTE, &execute(at(0))).await),
        ProtocolError::StaleParent {
            asked: at(0),
            head: at(1)
        }
    );
    let response: BatchResponse = client.post(path::EXECUTE, &execute(at(1))).await.unwrap();
    assert_eq!(response.results.len(), 2);
}
