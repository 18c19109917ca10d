//! `switchyard serve` driven by a real alloy provider with a local signer (dev key 0):
//! transfers, a contract deployment and calls; balances and nonces checked exactly; SIGTERM
//! exits 0.

use alloy_network::{EthereumWallet, TransactionBuilder};
use alloy_primitives::{Address, Bytes, U256, address};
use alloy_provider::{Provider, ProviderBuilder};
use alloy_rpc_types_eth::TransactionRequest;
use switchyard_gateway::serve::{config::DEV_MNEMONIC, genesis};
use switchyard_tests::{Gateway, deploy_code, send_and_confirm};

/// Runtime: slot0 += 1; return slot0.
const COUNTER_RUNTIME: &[u8] = &[
    0x60, 0x00, 0x54, 0x60, 0x01, 0x01, 0x80, 0x60, 0x00, 0x55, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60,
    0x00, 0xf3,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alloy_client_transfers_deploys_and_calls() {
    let gateway = Gateway::start(&["--block-time", "100"]);
    let signer = genesis::dev_signers(DEV_MNEMONIC, 1).unwrap().remove(0);
    let me = signer.address();
    assert_eq!(me, address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"));
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(gateway.url().parse().unwrap());

    assert_eq!(provider.get_chain_id().await.unwrap(), 1337);
    let start = provider.get_balance(me).await.unwrap();
    assert_eq!(
        start,
        U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18))
    );

    let recipient = Address::with_last_byte(0x42);
    let one_eth = U256::from(10u64).pow(U256::from(18));
    let mut spent_on_gas = U256::ZERO;
    for _ in 0..3 {
        let tx = TransactionRequest::default()
            .with_to(recipient)
            .with_value(one_eth);
        let receipt = send_and_confirm(&provider, tx).await;
        assert_eq!(receipt.gas_used, 21_000);
        spent_on_gas += U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
    }
    assert_eq!(
        provider.get_balance(recipient).await.unwrap(),
        one_eth * U256::from(3)
    );

    let deploy =
        TransactionRequest::default().with_deploy_code(Bytes::from(deploy_code(COUNTER_RUNTIME)));
    let receipt = send_and_confirm(&provider, deploy).await;
    spent_on_gas += U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
    let counter = receipt.contract_address.expect("contract address");
    assert_eq!(
        provider.get_code_at(counter).await.unwrap(),
        Bytes::from_static(COUNTER_RUNTIME)
    );

    let call = TransactionRequest::default().with_to(counter);
    let out = provider.call(call.clone()).await.unwrap();
    assert_eq!(
        U256::from_be_slice(&out),
        U256::from(1),
        "eth_call sees slot0 + 1"
    );
    let receipt = send_and_confirm(&provider, call.clone()).await;
    spent_on_gas += U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
    assert_eq!(
        provider.get_storage_at(counter, U256::ZERO).await.unwrap(),
        U256::from(1)
    );
    let out = provider.call(call).await.unwrap();
    assert_eq!(U256::from_be_slice(&out), U256::from(2));

    // Exact accounting: the beneficiary is not a dev account, so the sender paid exactly the
    // values and the gas.
    assert_eq!(provider.get_transaction_count(me).await.unwrap(), 5);
    assert_eq!(
        provider.get_balance(me).await.unwrap(),
        start - one_eth * U256::from(3) - spent_on_gas
    );
    let tx = provider
        .get_transaction_by_hash(receipt.transaction_hash)
        .await
        .unwrap()
        .expect("known");
    assert_eq!(tx.block_hash, receipt.block_hash);

    let status = gateway.result("switchyard_status", serde_json::json!([]));
    assert_eq!(status["router"]["version"], "contract");
    let metrics = gateway.scrape();
    assert!(
        metrics.contains("switchyard_txs_admitted_total 5"),
        "{metrics}"
    );
    assert!(gateway.stop().success(), "SIGTERM exits 0");
}
