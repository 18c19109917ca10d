//! The `model` router: groups transactions the model predicts to conflict.
//!
//! For each block: facts of every transaction, candidate pairs (sparse, [`crate::pairs`]),
//! a score per pair; pairs at or above the model's threshold and all same-sender pairs are
//! merged with union-find, and the groups are packed onto pools by the default largest-first
//! packing. It only groups, so the ordered commit keeps every routing exact; a wrong
//! prediction costs a re-execution, never a wrong result.

use crate::{
    facts::TxFacts,
    model::Model,
    pairs::{candidate_pairs, for_each_candidate_pair},
};
use std::sync::Arc;
use switchyard_executors::{
    Block, StateReader,
    router::{RouteInput, Router, UnionFind, merge_by_sender},
};

/// Routes by predicted conflicts. Cheap to clone (the model is shared).
#[derive(Debug, Clone)]
pub struct ModelRouter {
    model: Arc<Model>,
}

impl ModelRouter {
    /// A router using `model`.
    pub fn new(model: Model) -> Self {
        Self::shared(Arc::new(model))
    }

    /// A router sharing an already shared model (for hot reload: swap the `Arc`).
    pub fn shared(model: Arc<Model>) -> Self {
        Self { model }
    }

    /// The model in use.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The candidate pairs `(i, j)` of `block` predicted to conflict.
    pub fn predicted_pairs(
        &self,
        block: &Block,
        state: Option<&dyn StateReader>,
    ) -> Vec<(usize, usize)> {
        let facts: Vec<TxFacts> = block
            .txs
            .iter()
            .map(|tx| TxFacts::from_tx(tx, state))
            .collect();
        let n = facts.len();
        candidate_pairs(&facts)
            .into_iter()
            .map(|(i, j)| (i as usize, j as usize))
            .filter(|&(i, j)| self.model.predicts_conflict(&facts[i], &facts[j], i, j, n))
            .collect()
    }
}

impl Router for ModelRouter {
    fn name(&self) -> &str {
        "model"
    }

    fn groups(&self, input: &RouteInput<'_>) -> Vec<Vec<usize>> {
        let facts: Vec<TxFacts> = input
            .block
            .txs
            .iter()
            .map(|tx| TxFacts::from_tx(tx, input.state))
            .collect();
        let n = facts.len();
        let mut uf = UnionFind::new(n);
        merge_by_sender(input.block, &mut uf);
        for_each_candidate_pair(&facts, |i, j| {
            let (i, j) = (i as usize, j as usize);
            // A pair already joined needs no score: union is transitive, so the groups are
            // those of scoring every pair. In dense blocks this skips most of them.
            if uf.find(i) != uf.find(j)
                && self.model.predicts_conflict(&facts[i], &facts[j], i, j, n)
            {
                uf.union(i, j);
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
}
