//! The `model` router: groups transactions the model predicts to conflict, and costs them by
//! the model's predicted execution times when it has a cost predictor ([`crate::costs`]).
//!
//! For each block: facts of every transaction (a plain transfer's target is looked up for code
//! only if the transfer is in a scored pair), candidate pairs (sparse, [`crate::pairs`]), a score
//! per pair; pairs at or above the model's threshold and all same-sender pairs are
//! merged with union-find, and the groups are packed onto pools by the default largest-first
//! packing. It only groups, so the ordered commit keeps every routing exact; a wrong
//! prediction costs a re-execution, never a wrong result.
//!
//! The threshold starts at the model's and is a [`Threshold`] shared with whoever tunes it at
//! run time (the gateway lowers it when waste is high); a change applies from the next block.

use crate::{
    facts::{CodeLookup, TxFacts},
    model::{BlockScorer, Model},
    pairs::{Joined, Link, candidate_pairs, walk_candidates},
};
use std::sync::{
    Arc,
    atomic::{AtomicU32, Ordering},
};
use switchyard_executors::{
    Block, StateReader,
    router::{OracleFacts, RouteInput, Router, UnionFind},
};

/// A pair threshold that can be read and changed from other threads; clones share it.
#[derive(Debug, Clone)]
pub struct Threshold(Arc<AtomicU32>);

impl Threshold {
    /// A threshold starting at `value`.
    pub fn new(value: f32) -> Self {
        Self(Arc::new(AtomicU32::new(value.to_bits())))
    }

    /// The value now.
    pub fn get(&self) -> f32 {
        f32::from_bits(self.0.load(Ordering::Relaxed))
    }

    /// Sets the value; non-finite values are ignored, so a router never compares with NaN.
    pub fn set(&self, value: f32) {
        if value.is_finite() {
            self.0.store(value.to_bits(), Ordering::Relaxed);
        }
    }
}

/// Routes by predicted conflicts. Cheap to clone (the model and the threshold are shared).
#[derive(Debug, Clone)]
pub struct ModelRouter {
    model: Arc<Model>,
    threshold: Threshold,
}

impl ModelRouter {
    /// A router using `model`.
    pub fn new(model: Model) -> Self {
        Self::shared(Arc::new(model))
    }

    /// A router sharing an already shared model (for hot reload: swap the `Arc`), starting at
    /// the model's threshold.
    pub fn shared(model: Arc<Model>) -> Self {
        let threshold = Threshold::new(model.threshold);
        Self { model, threshold }
    }

    /// The model in use.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The threshold in use, shared: setting it retunes this router.
    pub fn threshold(&self) -> &Threshold {
        &self.threshold
    }

    /// A scorer of `facts`, built without the state: targets' code is looked up in `state`
    /// only for the transactions of scored pairs.
    fn scorer<'a>(
        &'a self,
        facts: &'a [TxFacts],
        state: Option<&'a dyn StateReader>,
    ) -> BlockScorer<'a> {
        match state {
            Some(state) => self
                .model
                .block_scorer_with_code(facts, CodeLookup::new(state, facts.len())),
            None => self.model.block_scorer(facts),
        }
    }

    /// The candidate pairs `(i, j)` of `block` predicted to conflict.
    pub fn predicted_pairs(
        &self,
        block: &Block,
        state: Option<&dyn StateReader>,
    ) -> Vec<(usize, usize)> {
        let facts = TxFacts::of_block(block, None);
        let scorer = self.scorer(&facts, state);
        let threshold = self.threshold.get();
        candidate_pairs(&facts)
            .into_iter()
            .map(|(i, j)| (i as usize, j as usize))
            .filter(|&(i, j)| scorer.conflicts(i, j, threshold))
            .collect()
    }
}

impl Router for ModelRouter {
    fn name(&self) -> &str {
        "model"
    }

    /// The model's predicted execution times, when it has a cost predictor.
    fn known_costs(
        &self,
        block: &Block,
        estimates: &[u64],
        _oracle: Option<&OracleFacts>,
    ) -> Option<Vec<u64>> {
        self.model.costs.as_ref()?.costs(block, estimates)
    }

    fn groups(&self, input: &RouteInput<'_>) -> Vec<Vec<usize>> {
        let facts = TxFacts::of_block(input.block, None);
        let scorer = self.scorer(&facts, input.state);
        let threshold = self.threshold.get();
        let mut uf = UnionFind::new(facts.len());
        walk_candidates(&facts, |link| {
            let (i, j, always) = match link {
                Link::SameSender { first, later } => (first as usize, later as usize, true),
                Link::Candidate { earlier, later } => (earlier as usize, later as usize, false),
            };
            let (root_i, root_j) = (uf.find(i), uf.find(j));
            // A pair already joined needs no score: union is transitive, so the groups are
            // those of scoring every pair. In dense blocks this skips most of them.
            if root_i == root_j {
                Joined::Yes
            } else if always || scorer.conflicts(i, j, threshold) {
                uf.union(i, j);
                Joined::Yes
            } else {
                Joined::Unknown
            }
        });
        uf.groups()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_is_send_sync() {
        fn assert_send_sync<T: Send + Sync + 'static>() {}
        assert_send_sync::<ModelRouter>();
        assert_send_sync::<Model>();
    }

    #[test]
    fn threshold_is_shared_and_rejects_nan() {
        let t = Threshold::new(0.5);
        let shared = t.clone();
        shared.set(0.25);
        assert_eq!(t.get(), 0.25);
        t.set(f32::NAN);
        assert_eq!(shared.get(), 0.25);
    }
}
