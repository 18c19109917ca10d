//! The load generator's setup step: fund the accounts that need it, deploy the token(s) and the
//! pairs, hand every account its tokens, approve the pairs and add liquidity. Every setup
//! transaction must succeed; the first that does not stops the run with its hash.

use super::{
    wallet::{Wallet, contract_call, send_setup},
    watch::BlockWatcher,
};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_provider::{Provider, RootProvider};
use alloy_sol_types::SolCall;
use anyhow::{Context as _, bail};
use futures_util::{StreamExt, TryStreamExt, stream};
use std::time::Duration;
use switchyard_executors::{
    contracts::{self, Pair, Token},
    synthetic::traffic::{
        ACCOUNT_TOKENS, AMM_PAIRS, APPROVE_GAS, Call, Deployment, PAIR_RESERVE, TOKEN_TRANSFER_GAS,
        Workload,
    },
};

/// An account holding less than this is funded before traffic starts.
pub const MIN_BALANCE: u128 = 10u128.pow(18);
/// What a funded account receives from account 0 (10 ETH).
pub const FUND_WEI: u128 = 10 * 10u128.pow(18);
/// Gas limit of a contract creation.
const CREATE_GAS: u64 = 3_000_000;
/// Gas limit of `addLiquidity`.
const LIQUIDITY_GAS: u64 = 200_000;
/// Transactions from one sender in flight at once (the gateway queues at most 4,096 per sender
/// by default).
const CHUNK: usize = 1_000;
/// Accounts approving at once.
const PARALLEL_ACCOUNTS: usize = 64;
/// How long one setup stage may wait for its transactions.
const STAGE_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs the setup for `workload` and returns where the traffic goes, and how many setup
/// transactions it sent.
pub async fn prepare(
    provider: &RootProvider,
    wallet: &Wallet,
    workload: Workload,
) -> anyhow::Result<(Deployment, usize)> {
    let mut watcher = BlockWatcher::from_head(provider).await?;
    let mut sent = fund(provider, wallet, &mut watcher).await?;
    let mut deployment = Deployment {
        accounts: wallet.addresses(),
        tokens: Vec::new(),
        pairs: Vec::new(),
    };
    if !workload.uses_tokens() {
        return Ok((deployment, sent));
    }
    let pairs = if workload.uses_pairs() { AMM_PAIRS } else { 0 };
    let tokens = if pairs > 0 { 2 } else { 1 };
    let supply = U256::from(ACCOUNT_TOKENS) * U256::from(wallet.len())
        + U256::from(PAIR_RESERVE) * U256::from(pairs);

    // Creations from account 0, in nonce order; addresses follow from the nonces.
    let mut hashes = Vec::new();
    let deployer = wallet.address(0);
    for _ in 0..tokens {
        let tx = wallet.sign(
            0,
            TxKind::Create,
            U256::ZERO,
            &contracts::token_init_code(supply),
            CREATE_GAS,
        )?;
        deployment.tokens.push(deployer.create(tx.nonce));
        hashes.push(send_setup(provider, wallet, Ok(tx), "deploying a token").await?);
    }
    for _ in 0..pairs {
        let init = contracts::pair_init_code(deployment.tokens[0], deployment.tokens[1]);
        let tx = wallet.sign(0, TxKind::Create, U256::ZERO, &init, CREATE_GAS)?;
        deployment.pairs.push(deployer.create(tx.nonce));
        hashes.push(send_setup(provider, wallet, Ok(tx), "deploying a pair").await?);
    }
    sent += hashes.len();
    confirm(provider, &mut watcher, &hashes, "deployment").await?;

    // Every other account gets its tokens from account 0, a chunk at a time.
    let recipients: Vec<usize> = (1..wallet.len()).collect();
    for &token in &deployment.tokens {
        for chunk in recipients.chunks(CHUNK) {
            let mut hashes = Vec::with_capacity(chunk.len());
            for &i in chunk {
                let data = Token::transferCall {
                    to: wallet.address(i),
                    value: U256::from(ACCOUNT_TOKENS),
                }
                .abi_encode();
                let call = contract_call(token, data, TOKEN_TRANSFER_GAS);
                hashes.push(
                    send_setup(provider, wallet, wallet.sign_call(0, &call), "token grant").await?,
                );
            }
            sent += hashes.len();
            confirm(provider, &mut watcher, &hashes, "token grants").await?;
        }
    }

    if pairs > 0 {
        sent += approve_and_add_liquidity(provider, wallet, &deployment, &mut watcher).await?;
    }
    Ok((deployment, sent))
}

/// Every account approves every pair on both tokens without limit; then account 0 adds
/// [`PAIR_RESERVE`] of each token to every pair.
async fn approve_and_add_liquidity(
    provider: &RootProvider,
    wallet: &Wallet,
    deployment: &Deployment,
    watcher: &mut BlockWatcher,
) -> anyhow::Result<usize> {
    let approvals: Vec<(Address, Bytes)> = deployment
        .tokens
        .iter()
        .flat_map(|&token| {
            deployment.pairs.iter().map(move |&pair| {
                let data = Token::approveCall {
                    spender: pair,
                    value: U256::MAX,
                }
                .abi_encode();
                (token, Bytes::from(data))
            })
        })
        .collect();
    let approvals = &approvals;
    let hashes: Vec<Vec<B256>> = stream::iter(0..wallet.len())
        .map(|i| async move {
            let mut hashes = Vec::with_capacity(approvals.len());
            for (token, data) in approvals {
                let call = contract_call(*token, data.clone(), APPROVE_GAS);
                hashes.push(
                    send_setup(provider, wallet, wallet.sign_call(i, &call), "approval").await?,
                );
            }
            anyhow::Ok(hashes)
        })
        .buffer_unordered(PARALLEL_ACCOUNTS)
        .try_collect()
        .await?;
    let mut hashes: Vec<B256> = hashes.into_iter().flatten().collect();
    for &pair in &deployment.pairs {
        let data = Pair::addLiquidityCall {
            amount0: U256::from(PAIR_RESERVE),
            amount1: U256::from(PAIR_RESERVE),
        }
        .abi_encode();
        let call = contract_call(pair, data, LIQUIDITY_GAS);
        hashes.push(send_setup(provider, wallet, wallet.sign_call(0, &call), "liquidity").await?);
    }
    confirm(provider, watcher, &hashes, "approvals and liquidity").await?;
    Ok(hashes.len())
}

/// Funds, from account 0, every account holding less than [`MIN_BALANCE`].
async fn fund(
    provider: &RootProvider,
    wallet: &Wallet,
    watcher: &mut BlockWatcher,
) -> anyhow::Result<usize> {
    let balances: Vec<U256> = stream::iter(0..wallet.len())
        .map(|i| provider.get_balance(wallet.address(i)).into_future())
        .buffered(PARALLEL_ACCOUNTS)
        .try_collect()
        .await
        .context("eth_getBalance")?;
    let poor: Vec<usize> = (1..wallet.len())
        .filter(|&i| balances[i] < U256::from(MIN_BALANCE))
        .collect();
    if poor.is_empty() {
        return Ok(0);
    }
    let needed = U256::from(FUND_WEI) * U256::from(poor.len() + 1);
    if balances[0] < needed {
        bail!(
            "account 0 ({}) holds {} wei; funding {} accounts with {FUND_WEI} wei each needs {needed}: \
             start the gateway with more prefunded dev accounts (switchyard serve --dev-accounts {})",
            wallet.address(0),
            balances[0],
            poor.len(),
            wallet.len()
        );
    }
    for chunk in poor.chunks(CHUNK) {
        let mut hashes = Vec::with_capacity(chunk.len());
        for &i in chunk {
            let call = funding_transfer(wallet.address(i));
            hashes.push(send_setup(provider, wallet, wallet.sign_call(0, &call), "funding").await?);
        }
        confirm(provider, watcher, &hashes, "funding").await?;
    }
    Ok(poor.len())
}

/// A transfer of [`FUND_WEI`] to `to`.
fn funding_transfer(to: Address) -> Call {
    Call {
        to,
        value: U256::from(FUND_WEI),
        data: Bytes::new(),
        gas_limit: 21_000,
    }
}

/// Waits until every hash is included, then checks that each succeeded.
async fn confirm(
    provider: &RootProvider,
    watcher: &mut BlockWatcher,
    hashes: &[B256],
    what: &str,
) -> anyhow::Result<()> {
    watcher
        .wait_for(provider, hashes, STAGE_TIMEOUT)
        .await
        .with_context(|| format!("setup ({what})"))?;
    stream::iter(hashes)
        .map(|&hash| async move {
            let receipt = provider
                .get_transaction_receipt(hash)
                .await
                .context("eth_getTransactionReceipt")?
                .with_context(|| format!("setup ({what}): no receipt for included {hash}"))?;
            if !receipt.status() {
                bail!("setup ({what}): transaction {hash} failed");
            }
            anyhow::Ok(())
        })
        .buffer_unordered(PARALLEL_ACCOUNTS)
        .try_collect::<()>()
        .await
}
