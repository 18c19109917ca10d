//! `eth_feeHistory`: base fees, gas used ratios and tip percentiles of recent blocks.

use super::methods::block_by_tag;
use crate::serve::{error::RpcError, node::Node, storage::StoredBlock};
use alloy_consensus::Transaction as _;
use alloy_eips::BlockNumberOrTag;
use alloy_rpc_types_eth::FeeHistory;

/// Most blocks one call may cover (geth's limit).
pub const MAX_BLOCKS: u64 = 1024;

/// The fee history of `count` blocks ending at `newest`.
pub fn fee_history(
    node: &Node,
    count: u64,
    newest: BlockNumberOrTag,
    percentiles: Option<Vec<f64>>,
) -> Result<FeeHistory, RpcError> {
    if let Some(p) = &percentiles {
        let sorted = p.windows(2).all(|w| w[0] <= w[1]);
        if !sorted || p.iter().any(|x| !(0.0..=100.0).contains(x)) {
            return Err(RpcError::invalid_params(
                "reward percentiles must be ascending and between 0 and 100",
            ));
        }
    }
    let Some(last) = block_by_tag(node, newest) else {
        return Err(RpcError::server("header not found"));
    };
    let count = count.min(MAX_BLOCKS).min(last.number() + 1);
    let oldest = last.number() + 1 - count;
    let head = node.chain.head();
    let store = node.chain.store();
    let mut history = FeeHistory {
        oldest_block: oldest,
        ..Default::default()
    };
    if count == 0 {
        return Ok(history);
    }
    let mut rewards = Vec::new();
    for number in oldest..=last.number() {
        let block = store
            .by_number(number)
            .ok_or_else(|| RpcError::server("header not found"))?;
        history.base_fee_per_gas.push(u128::from(
            block.header.base_fee_per_gas.unwrap_or_default(),
        ));
        history
            .gas_used_ratio
            .push(block.header.gas_used as f64 / block.header.gas_limit as f64);
        history.base_fee_per_blob_gas.push(1);
        history.blob_gas_used_ratio.push(0.0);
        if let Some(p) = &percentiles {
            rewards.push(block_rewards(&block, p));
        }
    }
    let next = match store.by_number(last.number() + 1) {
        Some(block) => u128::from(block.header.base_fee_per_gas.unwrap_or_default()),
        None => head.next_base_fee,
    };
    history.base_fee_per_gas.push(next);
    history.base_fee_per_blob_gas.push(1);
    history.reward = percentiles.map(|_| rewards);
    Ok(history)
}

/// Tips at the given percentiles of gas used, as geth computes them.
fn block_rewards(block: &StoredBlock, percentiles: &[f64]) -> Vec<u128> {
    let base_fee = block.header.base_fee_per_gas.unwrap_or_default();
    let mut tips: Vec<(u128, u64)> = block
        .txs
        .iter()
        .map(|t| {
            let tip = t
                .envelope
                .effective_tip_per_gas(base_fee)
                .unwrap_or_default();
            (tip, t.gas_used)
        })
        .collect();
    if tips.is_empty() {
        return vec![0; percentiles.len()];
    }
    tips.sort_unstable();
    let total: u64 = block.header.gas_used;
    let mut out = Vec::with_capacity(percentiles.len());
    let (mut i, mut sum) = (0, tips[0].1);
    for p in percentiles {
        let threshold = (total as f64 * p / 100.0) as u64;
        while sum < threshold && i + 1 < tips.len() {
            i += 1;
            sum += tips[i].1;
        }
        out.push(tips[i].0);
    }
    out
}
