//! The load generator's accounts: dev-mnemonic keys, nonce tracking, signing and submission.

use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_provider::{Provider, RootProvider};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use anyhow::Context as _;
use std::sync::Mutex;
use switchyard_executors::synthetic::traffic::Call;

/// Fee cap of every transaction: far above the base fee a few seconds of full blocks reach
/// from the 1 gwei floor (12.5% a block), so no transaction waits for the fee to fall.
pub const MAX_FEE_PER_GAS: u128 = 1_000_000_000_000;
/// Priority fee of every transaction.
pub const PRIORITY_FEE_PER_GAS: u128 = 1_000_000_000;

/// Signers with their next nonces.
#[derive(Debug)]
pub struct Wallet {
    signers: Vec<PrivateKeySigner>,
    chain_id: u64,
    nonces: Vec<Mutex<Nonces>>,
}

/// One account's nonces: the next fresh one and those handed back by refused transactions.
#[derive(Debug, Default)]
struct Nonces {
    next: u64,
    returned: Vec<u64>,
}

/// A signed transaction ready to send.
#[derive(Debug, Clone)]
pub struct SignedTx {
    /// Its hash.
    pub hash: B256,
    /// The EIP-2718 envelope.
    pub raw: Bytes,
    /// The sender's index.
    pub account: usize,
    /// Its nonce.
    pub nonce: u64,
}

/// Why the gateway refused a transaction: the JSON-RPC message up to its first colon (values
/// after it differ per transaction), or the transport failure.
pub type Refusal = String;

impl Wallet {
    /// The accounts of `signers`, their pending nonces fetched from `provider`.
    pub async fn connect(
        provider: &RootProvider,
        signers: Vec<PrivateKeySigner>,
    ) -> anyhow::Result<Self> {
        let chain_id = provider.get_chain_id().await.context("eth_chainId")?;
        let mut nonces = Vec::with_capacity(signers.len());
        for signer in &signers {
            let next = provider
                .get_transaction_count(signer.address())
                .pending()
                .await
                .context("eth_getTransactionCount")?;
            nonces.push(Mutex::new(Nonces {
                next,
                returned: Vec::new(),
            }));
        }
        Ok(Self {
            signers,
            chain_id,
            nonces,
        })
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.signers.len()
    }

    /// Returns `true` without accounts.
    pub fn is_empty(&self) -> bool {
        self.signers.is_empty()
    }

    /// The address of account `i`.
    pub fn address(&self, i: usize) -> Address {
        self.signers[i].address()
    }

    /// Every address, in account order.
    pub fn addresses(&self) -> Vec<Address> {
        self.signers.iter().map(PrivateKeySigner::address).collect()
    }

    /// Signs `call` from account `i` with its next nonce.
    pub fn sign_call(&self, i: usize, call: &Call) -> anyhow::Result<SignedTx> {
        self.sign(
            i,
            TxKind::Call(call.to),
            call.value,
            &call.data,
            call.gas_limit,
        )
    }

    /// Signs a transaction from account `i` with its next nonce: the lowest one a refusal
    /// handed back, else a fresh one.
    pub fn sign(
        &self,
        i: usize,
        to: TxKind,
        value: U256,
        data: &Bytes,
        gas_limit: u64,
    ) -> anyhow::Result<SignedTx> {
        let nonce = {
            let mut nonces = self.nonces[i].lock().expect("nonce lock");
            match nonces.returned.iter().enumerate().min_by_key(|(_, n)| **n) {
                Some((at, _)) => nonces.returned.swap_remove(at),
                None => {
                    nonces.next += 1;
                    nonces.next - 1
                }
            }
        };
        let tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce,
            gas_limit,
            max_fee_per_gas: MAX_FEE_PER_GAS,
            max_priority_fee_per_gas: PRIORITY_FEE_PER_GAS,
            to,
            value,
            access_list: Default::default(),
            input: data.clone(),
        };
        let signature = self.signers[i]
            .sign_hash_sync(&tx.signature_hash())
            .context("signing")?;
        let signed = tx.into_signed(signature);
        let hash = *signed.hash();
        Ok(SignedTx {
            hash,
            raw: TxEnvelope::from(signed).encoded_2718().into(),
            account: i,
            nonce,
        })
    }

    /// Sends `tx`; on a refusal that consumed no nonce, the nonce is handed back for the
    /// account's next transaction so that its later nonces do not wait forever on a gap.
    pub async fn send(&self, provider: &RootProvider, tx: &SignedTx) -> Result<B256, Refusal> {
        match provider.send_raw_transaction(&tx.raw).await {
            Ok(_) => Ok(tx.hash),
            Err(e) => {
                let http = e.as_transport_err().and_then(|t| t.as_http_error());
                let (reason, taken) = match (e.as_error_resp(), http) {
                    // A JSON-RPC refusal: the gateway did not take the transaction unless
                    // the refusal says that nonce is already used.
                    (Some(payload), _) => {
                        let reason = payload.message.split(':').next().unwrap_or_default();
                        let taken =
                            reason.contains("nonce too low") || reason.contains("already known");
                        (reason.trim().to_owned(), taken)
                    }
                    // An HTTP refusal (overload 503, rate limit 429, too large 413): not taken.
                    (None, Some(http)) => (format!("HTTP {}", http.status), false),
                    // The connection failed: it may have been taken before, so the nonce stays
                    // used.
                    (None, None) => (format!("transport: {}", first_line(&e.to_string())), true),
                };
                if !taken {
                    self.nonces[tx.account]
                        .lock()
                        .expect("nonce lock")
                        .returned
                        .push(tx.nonce);
                }
                Err(reason)
            }
        }
    }
}

/// Signs and sends `tx` from account `i`, turning a refusal into an error naming `what`.
pub async fn send_setup(
    provider: &RootProvider,
    wallet: &Wallet,
    tx: anyhow::Result<SignedTx>,
    what: &str,
) -> anyhow::Result<B256> {
    let tx = tx?;
    wallet
        .send(provider, &tx)
        .await
        .map_err(|reason| anyhow::anyhow!("{what}: the gateway refused it: {reason}"))
}

/// A call of `data` to `to` with `gas_limit` and no value.
pub fn contract_call(to: Address, data: impl Into<Bytes>, gas_limit: u64) -> Call {
    Call {
        to,
        value: U256::ZERO,
        data: data.into(),
        gas_limit,
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(120)
        .collect()
}
