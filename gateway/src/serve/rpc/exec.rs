//! `eth_call` and `eth_estimateGas`: one transaction executed on the latest state as the next
//! block would see it, never committed.
//!
//! As in geth, a call without fee fields runs with a zero base fee (so an unfunded `from`
//! works), the nonce is the account's, and the gas defaults to the block gas limit.

use crate::serve::{block::BlockParams, error::RpcError, node::Node};
use alloy_primitives::{Address, TxKind, U256};
use alloy_rpc_types_eth::TransactionRequest;
use revm::context::TxEnv;
use serde_json::Value;
use std::sync::Arc;
use switchyard_executors::{
    BlockEnvironment, Overlay, State, StateReader, TxExecutor, TxOutcome, TxStatus,
};

const TRANSFER_GAS: u64 = 21_000;

fn environment(node: &Node, state_fees: bool) -> BlockEnvironment {
    let head = node.chain.head();
    let params = BlockParams {
        number: head.block.number() + 1,
        parent_hash: head.block.hash,
        timestamp: head.block.header.timestamp,
        base_fee: if state_fees {
            u64::try_from(head.next_base_fee).unwrap_or(u64::MAX)
        } else {
            0
        },
        gas_limit: node.settings.block_gas_limit,
        beneficiary: node.settings.beneficiary,
        chain_id: node.settings.chain_id,
    };
    params.environment()
}

/// The revm transaction for a request, with `gas` as its gas limit.
fn tx_env(node: &Node, state: &State, request: &TransactionRequest, gas: u64) -> TxEnv {
    let caller = request.from.unwrap_or(Address::ZERO);
    let nonce = state.summary(&caller).map(|s| s.nonce).unwrap_or_default();
    let (tx_type, gas_price, priority) = match (request.max_fee_per_gas, request.gas_price) {
        (Some(max_fee), _) => (2, max_fee, request.max_priority_fee_per_gas.or(Some(0))),
        (None, Some(price)) => (0, price, None),
        (None, None) => (0, 0, None),
    };
    TxEnv {
        tx_type,
        caller,
        gas_limit: gas,
        gas_price,
        kind: request.to.unwrap_or(TxKind::Create),
        value: request.value.unwrap_or_default(),
        data: request.input.input().cloned().unwrap_or_default(),
        nonce,
        chain_id: Some(node.settings.chain_id),
        access_list: request.access_list.clone().unwrap_or_default(),
        gas_priority_fee: priority,
        ..Default::default()
    }
}

fn priced(request: &TransactionRequest) -> bool {
    request.gas_price.is_some() || request.max_fee_per_gas.is_some()
}

fn run(env: &BlockEnvironment, state: &Arc<State>, tx: &TxEnv) -> Result<TxOutcome, RpcError> {
    let mut executor = TxExecutor::new(env, Overlay::new(state.clone()));
    executor
        .execute(tx)
        .map_err(|(failure, _)| RpcError::server(failure.to_string()))
}

/// `eth_call`: the return data, or code 3 with the revert data.
pub fn call(
    node: &Node,
    state: Arc<State>,
    request: TransactionRequest,
) -> Result<Value, RpcError> {
    let env = environment(node, priced(&request));
    let gas = request
        .gas
        .unwrap_or(node.settings.block_gas_limit)
        .min(node.settings.block_gas_limit);
    let tx = tx_env(node, &state, &request, gas);
    let outcome = run(&env, &state, &tx)?;
    match outcome.status {
        TxStatus::Success => Ok(Value::String(format!(
            "0x{}",
            alloy_primitives::hex::encode(&outcome.output)
        ))),
        TxStatus::Revert => Err(RpcError::reverted(&outcome.output)),
        TxStatus::Halt(reason) => Err(RpcError::server(format!("execution halted: {reason}"))),
    }
}

/// `eth_estimateGas`: the least gas limit with which the transaction succeeds (binary search
/// between the gas it used and the cap, as geth does).
pub fn estimate_gas(
    node: &Node,
    state: Arc<State>,
    request: TransactionRequest,
) -> Result<Value, RpcError> {
    let env = environment(node, priced(&request));
    let mut cap = request
        .gas
        .unwrap_or(node.settings.block_gas_limit)
        .min(node.settings.block_gas_limit);
    // With a price, the balance bounds the gas that can be paid for.
    let price = request.max_fee_per_gas.or(request.gas_price).unwrap_or(0);
    if price > 0 {
        let caller = request.from.unwrap_or(Address::ZERO);
        let balance = state
            .summary(&caller)
            .map(|s| s.balance)
            .unwrap_or_default();
        let available =
            balance.saturating_sub(request.value.unwrap_or_default()) / U256::from(price);
        cap = cap.min(available.saturating_to());
    }
    let attempt = |gas: u64| -> Result<TxOutcome, RpcError> {
        run(&env, &state, &tx_env(node, &state, &request, gas))
    };
    let at_cap = attempt(cap)?;
    match &at_cap.status {
        TxStatus::Success => {}
        TxStatus::Revert => return Err(RpcError::reverted(&at_cap.output)),
        TxStatus::Halt(reason) => {
            return Err(RpcError::server(format!(
                "gas required exceeds allowance ({cap}): {reason}"
            )));
        }
    }
    // A plain transfer to an account without code needs exactly the intrinsic gas.
    let to_code = match request.to {
        Some(TxKind::Call(to)) => state
            .summary(&to)
            .is_some_and(|s| s.code_hash != revm::primitives::KECCAK_EMPTY),
        _ => true,
    };
    let data_empty = request.input.input().is_none_or(|d| d.is_empty());
    if !to_code && data_empty && at_cap.gas_used == TRANSFER_GAS {
        return Ok(Value::String(format!("{TRANSFER_GAS:#x}")));
    }
    let ok = |gas: u64| attempt(gas).is_ok_and(|o| o.status == TxStatus::Success);
    let mut lo = at_cap.gas_used.saturating_sub(1);
    let mut hi = cap;
    // Most transactions succeed with a little headroom over what they used: try that first.
    let optimistic = (at_cap.gas_used + 2_300) * 64 / 63;
    if optimistic < hi && ok(optimistic) {
        hi = optimistic;
    } else if optimistic < hi {
        lo = optimistic;
    }
    while lo + 1 < hi {
        let mid = lo + (hi - lo) / 2;
        if ok(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(Value::String(format!("{hi:#x}")))
}
