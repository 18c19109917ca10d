//! The RPC methods: chain facts, transactions, blocks and account state.
//!
//! State is kept for the latest block only: state methods accept `latest`, `pending`, `safe`,
//! `finalized`, the latest block's number or hash, and answer "historical state is not
//! available" otherwise. `pending` differs from `latest` only for `eth_getTransactionCount`,
//! which then counts pooled transactions.

use super::{convert, dispatch::Params, exec, fees};
use crate::serve::{chain::SUGGESTED_TIP, error::RpcError, node::Node, storage::StoredBlock};
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, U64, U256};
use serde_json::{Value, json};
use std::sync::Arc;
use switchyard_executors::{State, StateReader};

fn to_value(v: impl serde::Serialize) -> Result<Value, RpcError> {
    serde_json::to_value(v).map_err(RpcError::internal)
}

fn quantity(n: impl Into<U256>) -> Value {
    Value::String(format!("{:#x}", n.into()))
}

/// Dispatches one call.
pub async fn call(node: &Arc<Node>, method: &str, p: Params) -> Result<Value, RpcError> {
    let chain = &node.chain;
    match method {
        "eth_chainId" => Ok(quantity(U256::from(node.settings.chain_id))),
        "net_version" => Ok(Value::String(node.settings.chain_id.to_string())),
        "web3_clientVersion" => Ok(Value::String(format!(
            "switchyard/v{}",
            env!("CARGO_PKG_VERSION")
        ))),
        "eth_blockNumber" => Ok(quantity(U256::from(chain.head().block.number()))),
        "eth_sendRawTransaction" => {
            p.at_most(1)?;
            let raw: Bytes = p.req(0)?;
            match chain.admit(&raw) {
                Ok(hash) => {
                    node.metrics.txs_admitted.inc();
                    to_value(hash)
                }
                Err(rejection) => {
                    node.metrics
                        .txs_rejected
                        .with_label_values(&[rejection.reason.label()])
                        .inc();
                    Err(rejection.to_rpc())
                }
            }
        }
        "eth_getTransactionByHash" => {
            p.at_most(1)?;
            let hash: B256 = p.req(0)?;
            if let Some((block, index)) = chain.store().tx(&hash) {
                return to_value(convert::transaction(&block, index));
            }
            match chain.pending_tx(&hash) {
                Some(tx) => to_value(convert::pending_transaction(&tx)),
                None => Ok(Value::Null),
            }
        }
        "eth_getTransactionReceipt" => {
            p.at_most(1)?;
            let hash: B256 = p.req(0)?;
            match chain.store().tx(&hash) {
                Some((block, index)) => to_value(convert::receipt(&block, index)),
                None => Ok(Value::Null),
            }
        }
        "eth_getBlockByNumber" => {
            p.at_most(2)?;
            let tag: BlockNumberOrTag = p.req(0)?;
            let full: bool = p.opt(1)?.unwrap_or(false);
            match block_by_tag(node, tag) {
                Some(block) => to_value(convert::block(&block, full)),
                None => Ok(Value::Null),
            }
        }
        "eth_getBlockByHash" => {
            p.at_most(2)?;
            let hash: B256 = p.req(0)?;
            let full: bool = p.opt(1)?.unwrap_or(false);
            match chain.store().by_hash(&hash) {
                Some(block) => to_value(convert::block(&block, full)),
                None => Ok(Value::Null),
            }
        }
        "eth_getBalance" => {
            p.at_most(2)?;
            let address: Address = p.req(0)?;
            let state = state_at(node, p.opt(1)?)?;
            Ok(quantity(
                state
                    .summary(&address)
                    .map(|s| s.balance)
                    .unwrap_or_default(),
            ))
        }
        "eth_getTransactionCount" => {
            p.at_most(2)?;
            let address: Address = p.req(0)?;
            let at: Option<BlockId> = p.opt(1)?;
            if matches!(at, Some(BlockId::Number(BlockNumberOrTag::Pending))) {
                return Ok(quantity(U256::from(chain.pending_nonce(&address))));
            }
            let state = state_at(node, at)?;
            Ok(quantity(U256::from(
                state.summary(&address).map(|s| s.nonce).unwrap_or_default(),
            )))
        }
        "eth_getCode" => {
            p.at_most(2)?;
            let address: Address = p.req(0)?;
            let state = state_at(node, p.opt(1)?)?;
            let code = state
                .account(&address)
                .and_then(|a| a.code.or_else(|| state.code(&a.code_hash)))
                .map(|c| c.original_bytes())
                .unwrap_or_default();
            to_value(code)
        }
        "eth_getStorageAt" => {
            p.at_most(3)?;
            let address: Address = p.req(0)?;
            let slot: U256 = p.req(1)?;
            let state = state_at(node, p.opt(2)?)?;
            to_value(B256::from(state.storage(&address, &slot)))
        }
        "eth_call" => {
            p.at_most(3)?;
            let request = p.req(0)?;
            let state = state_at(node, p.opt(1)?)?;
            let node = node.clone();
            blocking(move || exec::call(&node, state, request)).await
        }
        "eth_estimateGas" => {
            p.at_most(3)?;
            let request = p.req(0)?;
            let state = state_at(node, p.opt(1)?)?;
            let node = node.clone();
            blocking(move || exec::estimate_gas(&node, state, request)).await
        }
        "eth_gasPrice" => Ok(quantity(U256::from(
            chain.head().next_base_fee + SUGGESTED_TIP,
        ))),
        "eth_maxPriorityFeePerGas" => Ok(quantity(U256::from(SUGGESTED_TIP))),
        "eth_feeHistory" => {
            p.at_most(3)?;
            let count: U64 = p.req(0)?;
            let newest: BlockNumberOrTag = p.req(1)?;
            let percentiles: Option<Vec<f64>> = p.opt(2)?;
            to_value(fees::fee_history(node, count.to(), newest, percentiles)?)
        }
        "switchyard_status" => Ok(status(node)),
        "switchyard_reloadModel" => reload_model(node).await,
        other => Err(RpcError::method_not_found(other)),
    }
}

async fn blocking(
    f: impl FnOnce() -> Result<Value, RpcError> + Send + 'static,
) -> Result<Value, RpcError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RpcError::internal(format!("call task failed: {e}")))?
}

/// The stored block a tag names; `None` if there is no such block.
pub fn block_by_tag(node: &Node, tag: BlockNumberOrTag) -> Option<Arc<StoredBlock>> {
    let store = node.chain.store();
    match tag {
        BlockNumberOrTag::Number(n) => store.by_number(n),
        BlockNumberOrTag::Earliest => store.by_number(0),
        _ => store.latest(),
    }
}

/// The state a block id names; only the latest block's state is kept.
fn state_at(node: &Node, at: Option<BlockId>) -> Result<Arc<State>, RpcError> {
    let head = node.chain.head();
    let latest = head.block.number();
    let ok = match at {
        None => true,
        Some(BlockId::Number(tag)) => match tag {
            BlockNumberOrTag::Number(n) if n > latest => {
                return Err(RpcError::server("header not found"));
            }
            BlockNumberOrTag::Number(n) => n == latest,
            BlockNumberOrTag::Earliest => latest == 0,
            _ => true,
        },
        Some(BlockId::Hash(hash)) => {
            if node.chain.store().by_hash(&hash.block_hash).is_none() {
                return Err(RpcError::server("header not found"));
            }
            hash.block_hash == head.block.hash
        }
    };
    if !ok {
        return Err(RpcError::server(format!(
            "historical state is not available: only the state of the latest block ({latest}) is kept"
        )));
    }
    Ok(head.state)
}

fn status(node: &Node) -> Value {
    let head = node.chain.head();
    let counts = node.chain.pool_counts();
    let active = node.hooks.router.current();
    let since = active
        .since
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "chainId": node.settings.chain_id,
        "pools": node.pools,
        "router": {
            "name": active.router.name(),
            "version": active.version,
            "threshold": active.threshold_now(),
            "since": since,
            "reloadFailures": node.hooks.router.reload_failures(),
            "modelFile": node.settings.model,
        },
        "txpool": {
            "waiting": counts.waiting,
            "inFlight": counts.in_flight,
            "senders": counts.senders,
        },
        "head": {
            "number": head.block.number(),
            "hash": head.block.hash,
            "nextBaseFee": head.next_base_fee.to_string(),
        },
        "lastBlock": node.last_block(),
    })
}

async fn reload_model(node: &Arc<Node>) -> Result<Value, RpcError> {
    let Some(hook) = node.hooks.reload.clone() else {
        return Err(RpcError::server("no model configured"));
    };
    let outcome = tokio::task::spawn_blocking(move || hook.reload())
        .await
        .map_err(|e| RpcError::internal(format!("reload task failed: {e}")))?;
    match outcome {
        Ok(version) => {
            node.metrics.refresh_model(&node.hooks.router);
            Ok(json!({ "version": version }))
        }
        Err(reason) => {
            node.hooks.router.record_reload_failure();
            node.metrics.refresh_model(&node.hooks.router);
            tracing::warn!(%reason, "model reload failed; the old model stays in service");
            Err(RpcError::server(format!("model reload failed: {reason}")))
        }
    }
}
