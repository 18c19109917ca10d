//! The load generator's report: counts, rates and latency percentiles.

use serde::Serialize;
use std::collections::BTreeMap;
use switchyard_executors::synthetic::traffic::Deployment;

/// What a load-generator run measured; `--json` prints it as one object.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The scenario.
    pub scenario: String,
    /// Sending accounts.
    pub accounts: usize,
    /// Share of transactions aimed at the hot spot.
    pub hot_ratio: f64,
    /// Target rate (transactions per second).
    pub offered_tps: f64,
    /// Transactions sent (`accepted + rejected`).
    pub sent: u64,
    /// Transactions the gateway accepted.
    pub accepted: u64,
    /// Transactions the gateway refused.
    pub rejected: u64,
    /// Refusals by reason (the JSON-RPC message up to its first colon).
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Accepted transactions seen in a block whose receipt was fetched.
    pub receipts: u64,
    /// Of those, receipts with a failed status.
    pub reverted: u64,
    /// Accepted transactions without a receipt when the run gave up waiting.
    pub missing_receipts: u64,
    /// Seconds from the first send to the last send.
    pub send_seconds: f64,
    /// Seconds from the first send to the last inclusion.
    pub run_seconds: f64,
    /// Accepted transactions per second of sending.
    pub accepted_tps: f64,
    /// Included transactions per second, from the first send to the last inclusion.
    pub achieved_tps: f64,
    /// Submit latency (request to `eth_sendRawTransaction` answer), median, ms.
    pub submit_p50_ms: f64,
    /// Submit latency, 99th percentile, ms.
    pub submit_p99_ms: f64,
    /// Inclusion latency (send to the block being seen), median, ms.
    pub inclusion_p50_ms: f64,
    /// Inclusion latency, 99th percentile, ms.
    pub inclusion_p99_ms: f64,
    /// Setup transactions sent before the run (funding, deployment, grants, approvals).
    pub setup_txs: usize,
    /// The first block that can hold run traffic and the last block looked at.
    pub blocks: [u64; 2],
    /// The token contracts (token 0 is the `erc20` token).
    pub tokens: Vec<String>,
    /// The pairs (pair 0 is hot).
    pub pairs: Vec<String>,
}

impl Report {
    /// Records the contracts of `deployment`.
    pub fn with_deployment(mut self, deployment: &Deployment) -> Self {
        self.tokens = deployment
            .tokens
            .iter()
            .map(|a| format!("{a:#x}"))
            .collect();
        self.pairs = deployment.pairs.iter().map(|a| format!("{a:#x}")).collect();
        self
    }

    /// Human-readable lines.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![
            format!(
                "{} with {} accounts (hot ratio {}), offered {} tx/s: sent {}, accepted {}, rejected {}",
                self.scenario,
                self.accounts,
                self.hot_ratio,
                self.offered_tps,
                self.sent,
                self.accepted,
                self.rejected
            ),
            format!(
                "receipts {} ({} reverted, {} missing); accepted {:.1} tx/s, included {:.1} tx/s",
                self.receipts,
                self.reverted,
                self.missing_receipts,
                self.accepted_tps,
                self.achieved_tps
            ),
            format!(
                "submit latency p50 {:.2} ms, p99 {:.2} ms; inclusion latency p50 {:.1} ms, p99 {:.1} ms",
                self.submit_p50_ms,
                self.submit_p99_ms,
                self.inclusion_p50_ms,
                self.inclusion_p99_ms
            ),
        ];
        for (reason, count) in &self.rejected_by_reason {
            lines.push(format!("rejected {count}: {reason}"));
        }
        lines
    }
}

/// The `q`-quantile (nearest rank) of `values` in milliseconds; 0 when empty.
pub fn quantile_ms(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1] * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let mut seconds: Vec<f64> = (1..=100).map(|i| f64::from(i) / 1e3).collect();
        assert_eq!(quantile_ms(&mut seconds, 0.5), 50.0);
        assert_eq!(quantile_ms(&mut seconds, 0.99), 99.0);
        assert_eq!(quantile_ms(&mut [], 0.5), 0.0);
        assert_eq!(quantile_ms(&mut [0.007], 0.99), 7.0);
    }
}
