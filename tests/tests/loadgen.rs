//! `switchyard loadgen` against a real `switchyard serve` (2 pools, the `contract` router), a
//! few seconds per scenario: every accepted transaction has a receipt, the report's counts add
//! up, and the chain's state agrees with the receipts: token balances rebuilt from `Transfer`
//! logs equal `balanceOf` and sum to the unchanged supply, AMM reserves rebuilt from `Swap`
//! logs (each output recomputed with the pair's formula) equal `getReserves`, and the ETH the
//! accounts lost in p2p is exactly the fees their receipts charged.

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::{SolCall, SolEvent};
use serde_json::{Value, json};
use std::collections::HashMap;
use switchyard_executors::{
    contracts::{Pair, Token},
    synthetic::traffic::{ACCOUNT_TOKENS, PAIR_RESERVE},
};
use switchyard_gateway::serve::{config::DEV_MNEMONIC, genesis};
use switchyard_tests::{Gateway, json_summary, run_switchyard};

const ACCOUNTS: usize = 8;
const RATE: u64 = 150;
const SECONDS: u64 = 2;

#[test]
fn every_scenario_is_received_counted_and_conserved() {
    let gateway = Gateway::start(&[
        "--dev-accounts",
        &ACCOUNTS.to_string(),
        "--block-time",
        "100",
        "--pools",
        "2",
    ]);
    let accounts = genesis::dev_addresses(DEV_MNEMONIC, ACCOUNTS).unwrap();
    for scenario in ["p2p", "erc20", "amm", "mixed"] {
        let eth_before = sum_balances(&gateway, &accounts);
        let output = run_switchyard(&[
            "loadgen",
            "--rpc",
            &gateway.url(),
            "--scenario",
            scenario,
            "--accounts",
            &ACCOUNTS.to_string(),
            "--hot-ratio",
            "0.3",
            "--rate",
            &RATE.to_string(),
            "--duration",
            &SECONDS.to_string(),
            "--json",
        ]);
        assert!(
            output.status.success(),
            "{scenario}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report = json_summary(&output);
        let count = |key: &str| report[key].as_u64().unwrap_or_else(|| panic!("{key}"));
        assert_eq!(count("sent"), RATE * SECONDS, "{scenario}: {report}");
        assert_eq!(count("accepted") + count("rejected"), count("sent"));
        let by_reason: u64 = report["rejected_by_reason"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(by_reason, count("rejected"));
        assert_eq!(count("rejected"), 0, "{scenario}: {report}");
        assert_eq!(count("receipts"), count("accepted"), "{scenario}: {report}");
        assert_eq!(count("missing_receipts"), 0);
        assert_eq!(count("reverted"), 0, "{scenario}: {report}");
        for key in [
            "achieved_tps",
            "submit_p50_ms",
            "submit_p99_ms",
            "inclusion_p50_ms",
            "inclusion_p99_ms",
        ] {
            let v = report[key].as_f64().unwrap_or_else(|| panic!("{key}"));
            assert!(v > 0.0, "{scenario}: {key} = {v}");
        }
        assert!(report["submit_p50_ms"].as_f64() <= report["submit_p99_ms"].as_f64());
        assert!(report["inclusion_p50_ms"].as_f64() <= report["inclusion_p99_ms"].as_f64());

        let chain = Chain::read(&gateway);
        let tokens = addresses(&report["tokens"]);
        let pairs = addresses(&report["pairs"]);
        match scenario {
            "p2p" => {
                assert!(tokens.is_empty() && pairs.is_empty());
                let [first, last] = [0, 1].map(|i| report["blocks"][i].as_u64().unwrap());
                let fees = chain.fees_paid(&accounts, first..=last);
                assert_eq!(eth_before - sum_balances(&gateway, &accounts), fees);
            }
            "erc20" => assert_eq!(tokens.len(), 1),
            _ => assert_eq!((tokens.len(), pairs.len()), (2, 8), "{scenario}"),
        }
        let mut holders = accounts.clone();
        holders.extend(&pairs);
        let supply = U256::from(ACCOUNT_TOKENS) * U256::from(ACCOUNTS)
            + U256::from(PAIR_RESERVE) * U256::from(pairs.len());
        for &token in &tokens {
            check_token(&gateway, &chain, token, &holders, supply);
        }
        for &pair in &pairs {
            check_pair(&gateway, &chain, pair);
        }
        if scenario != "p2p" {
            let swaps = chain.logs_of(&pairs, Pair::Swap::SIGNATURE_HASH).count();
            let transfers = chain
                .logs_of(&tokens, Token::Transfer::SIGNATURE_HASH)
                .count();
            assert!(transfers > 0, "{scenario}: no token transfer on chain");
            assert_eq!(
                swaps > 0,
                !pairs.is_empty(),
                "{scenario}: swaps only where pairs are"
            );
        }
    }
    assert!(gateway.stop().success());
}

/// Balances rebuilt from every `Transfer` log equal `balanceOf`; their sum is the supply.
fn check_token(
    gateway: &Gateway,
    chain: &Chain,
    token: Address,
    holders: &[Address],
    supply: U256,
) {
    let mut rebuilt: HashMap<Address, U256> = HashMap::new();
    for log in chain.logs_of(&[token], Token::Transfer::SIGNATURE_HASH) {
        let Token::Transfer { from, to, value } =
            Token::Transfer::decode_raw_log(log.topics.iter().copied(), &log.data).unwrap();
        if from != Address::ZERO {
            let balance = rebuilt.entry(from).or_default();
            *balance = balance.checked_sub(value).expect("no negative balance");
        }
        *rebuilt.entry(to).or_default() += value;
    }
    let mut sum = U256::ZERO;
    for &holder in holders {
        let on_chain = U256::from_be_slice(&eth_call(
            gateway,
            token,
            &Token::balanceOfCall { owner: holder }.abi_encode(),
        ));
        assert_eq!(
            on_chain,
            rebuilt.get(&holder).copied().unwrap_or_default(),
            "token {token}: balance of {holder}"
        );
        sum += on_chain;
    }
    assert_eq!(sum, supply, "token {token}: balances sum to the supply");
    let total = eth_call(gateway, token, &Token::totalSupplyCall {}.abi_encode());
    assert_eq!(U256::from_be_slice(&total), supply);
}

/// Reserves rebuilt from the pair's logs (each swap's output recomputed) equal `getReserves`.
fn check_pair(gateway: &Gateway, chain: &Chain, pair: Address) {
    let (mut r0, mut r1) = (U256::ZERO, U256::ZERO);
    let mut swaps = 0;
    for log in chain.logs.iter().filter(|l| l.address == pair) {
        let topics = log.topics.iter().copied();
        if log.topics[0] == Pair::Swap::SIGNATURE_HASH {
            let swap = Pair::Swap::decode_raw_log(topics, &log.data).unwrap();
            let (r_in, r_out) = if swap.zeroForOne { (r0, r1) } else { (r1, r0) };
            let with_fee = swap.amountIn * U256::from(997);
            let out = with_fee * r_out / (r_in * U256::from(1000) + with_fee);
            assert_eq!(swap.amountOut, out, "pair {pair}: swap output");
            if swap.zeroForOne {
                (r0, r1) = (r0 + swap.amountIn, r1 - out);
            } else {
                (r0, r1) = (r0 - out, r1 + swap.amountIn);
            }
            swaps += 1;
        } else if log.topics[0] == Pair::Sync::SIGNATURE_HASH {
            let sync = Pair::Sync::decode_raw_log(topics, &log.data).unwrap();
            if r0.is_zero() && r1.is_zero() {
                (r0, r1) = (sync.reserve0, sync.reserve1); // the liquidity
            }
            assert_eq!(
                (sync.reserve0, sync.reserve1),
                (r0, r1),
                "pair {pair}: Sync"
            );
        }
    }
    let reserves = eth_call(gateway, pair, &Pair::getReservesCall {}.abi_encode());
    let reserves = Pair::getReservesCall::abi_decode_returns(&reserves).unwrap();
    assert_eq!(
        (reserves._0, reserves._1),
        (r0, r1),
        "pair {pair} after {swaps} swaps"
    );
}

/// One log, in chain order.
#[derive(Debug)]
struct Log {
    address: Address,
    topics: Vec<B256>,
    data: Vec<u8>,
}

/// Every receipt of the chain so far, read through JSON-RPC.
#[derive(Debug)]
struct Chain {
    logs: Vec<Log>,
    /// (block, sender, fee paid) per transaction.
    fees: Vec<(u64, Address, U256)>,
}

impl Chain {
    fn read(gateway: &Gateway) -> Self {
        let head = hex_u64(&gateway.result("eth_blockNumber", json!([])));
        let mut chain = Chain {
            logs: Vec::new(),
            fees: Vec::new(),
        };
        for number in 1..=head {
            let block = gateway.result(
                "eth_getBlockByNumber",
                json!([format!("{number:#x}"), false]),
            );
            for hash in block["transactions"].as_array().unwrap() {
                let receipt = gateway.result("eth_getTransactionReceipt", json!([hash]));
                let fee = U256::from(hex_u64(&receipt["gasUsed"]))
                    * U256::from(hex_u64(&receipt["effectiveGasPrice"]));
                chain.fees.push((
                    number,
                    receipt["from"].as_str().unwrap().parse().unwrap(),
                    fee,
                ));
                for log in receipt["logs"].as_array().unwrap() {
                    chain.logs.push(Log {
                        address: log["address"].as_str().unwrap().parse().unwrap(),
                        topics: log["topics"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|t| t.as_str().unwrap().parse().unwrap())
                            .collect(),
                        data: alloy_primitives::hex::decode(log["data"].as_str().unwrap()).unwrap(),
                    });
                }
            }
        }
        chain
    }

    fn logs_of<'a>(
        &'a self,
        addresses: &'a [Address],
        topic: B256,
    ) -> impl Iterator<Item = &'a Log> {
        self.logs
            .iter()
            .filter(move |l| addresses.contains(&l.address) && l.topics.first() == Some(&topic))
    }

    fn fees_paid(&self, senders: &[Address], blocks: std::ops::RangeInclusive<u64>) -> U256 {
        self.fees
            .iter()
            .filter(|(block, from, _)| blocks.contains(block) && senders.contains(from))
            .map(|(_, _, fee)| *fee)
            .sum()
    }
}

fn sum_balances(gateway: &Gateway, accounts: &[Address]) -> U256 {
    accounts
        .iter()
        .map(|a| {
            let hex = gateway.result("eth_getBalance", json!([a, "latest"]));
            U256::from_str_radix(hex.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
        })
        .sum()
}

fn eth_call(gateway: &Gateway, to: Address, data: &[u8]) -> Vec<u8> {
    let out = gateway.result(
        "eth_call",
        json!([{"to": to, "data": format!("0x{}", alloy_primitives::hex::encode(data))}, "latest"]),
    );
    alloy_primitives::hex::decode(out.as_str().unwrap()).unwrap()
}

fn addresses(list: &Value) -> Vec<Address> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().parse().unwrap())
        .collect()
}

fn hex_u64(value: &Value) -> u64 {
    u64::from_str_radix(value.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

#[test]
fn bad_loadgen_flags_and_unreachable_gateways_are_refused_with_the_reason() {
    for (args, says) in [
        (
            &["--scenario", "nft", "--count", "1"][..],
            "p2p, erc20, amm or mixed",
        ),
        (&["--scenario", "p2p"][..], "--duration"),
        (
            &["--scenario", "p2p", "--count", "1", "--hot-ratio", "2"][..],
            "from 0 to 1",
        ),
        (
            &["--scenario", "p2p", "--count", "1", "--rate", "0"][..],
            "above 0",
        ),
        (
            &["--scenario", "p2p", "--count", "1", "--accounts", "1"][..],
            "accounts",
        ),
    ] {
        let output = run_switchyard(&[&["loadgen"][..], args].concat());
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // Nothing listens on port 9 of loopback (discard; not served here).
    let output = run_switchyard(&[
        "loadgen",
        "--rpc",
        "http://127.0.0.1:9",
        "--scenario",
        "p2p",
        "--count",
        "1",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("connecting to http://127.0.0.1:9"),
        "{stderr}"
    );
}
