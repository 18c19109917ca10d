//! Following the chain: each new block's transaction hashes, as soon as the block exists.

use alloy_primitives::B256;
use alloy_provider::{Provider, RootProvider};
use anyhow::Context as _;
use std::time::Duration;

/// How often the watcher asks for the head: inclusion latencies are measured to this grain.
pub const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Walks blocks in order from a starting number.
#[derive(Debug)]
pub struct BlockWatcher {
    next: u64,
}

impl BlockWatcher {
    /// Starts after the current head: only blocks made from now on are reported.
    pub async fn from_head(provider: &RootProvider) -> anyhow::Result<Self> {
        let head = provider
            .get_block_number()
            .await
            .context("eth_blockNumber")?;
        Ok(Self { next: head + 1 })
    }

    /// The next block number it will report.
    pub fn next_block(&self) -> u64 {
        self.next
    }

    /// The hashes of every block made since the last call, in order (empty if none).
    pub async fn poll(&mut self, provider: &RootProvider) -> anyhow::Result<Vec<B256>> {
        let head = provider
            .get_block_number()
            .await
            .context("eth_blockNumber")?;
        let mut hashes = Vec::new();
        while self.next <= head {
            let block = provider
                .get_block_by_number(self.next.into())
                .await
                .with_context(|| format!("eth_getBlockByNumber {}", self.next))?
                .with_context(|| format!("block {} is missing", self.next))?;
            hashes.extend(block.transactions.hashes());
            self.next += 1;
        }
        Ok(hashes)
    }

    /// Polls until every hash of `wanted` was included, or fails after `timeout` naming how
    /// many are still missing.
    pub async fn wait_for(
        &mut self,
        provider: &RootProvider,
        wanted: &[B256],
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let mut missing: std::collections::HashSet<B256> = wanted.iter().copied().collect();
        let deadline = tokio::time::Instant::now() + timeout;
        while !missing.is_empty() {
            for hash in self.poll(provider).await? {
                missing.remove(&hash);
            }
            if missing.is_empty() {
                break;
            }
            if tokio::time::Instant::now() > deadline {
                anyhow::bail!(
                    "{} of {} transactions not included after {:?}",
                    missing.len(),
                    wanted.len(),
                    timeout
                );
            }
            tokio::time::sleep(POLL_INTERVAL * 5).await;
        }
        Ok(())
    }
}
