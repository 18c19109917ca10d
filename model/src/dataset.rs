//! Training rows from traffic logs: candidate pairs, their labels and their features.
//!
//! **Label.** A pair `(a, b)`, `a` earlier, is a conflict when `b` read a key that `a` wrote
//! (fee credits to the beneficiary are not writes), or read a slot of an account `a` wiped.
//! This is the relation of [`switchyard_executors::router::true_dependencies`], taken over
//! every earlier writer rather than the last one only. Reads of the beneficiary's account are
//! left out, as there: such a transaction depends on every earlier fee, no grouping can avoid
//! that, and the commit re-executes it at its own cost only.

use crate::{
    facts::TxFacts,
    features::{Features, pair_features},
    keys::KeyHash,
    pairs::candidate_pairs,
    rates::{RateCounts, RateTable},
    traffic::{BlockRecord, TxRecord},
};

/// One block's candidate pairs with their labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockPairs {
    /// Block number.
    pub number: u64,
    /// Facts of each transaction, in block order.
    pub facts: Vec<TxFacts>,
    /// Candidate pairs `(i, j)`, `i < j`.
    pub pairs: Vec<(u32, u32)>,
    /// Whether each pair truly conflicted.
    pub labels: Vec<bool>,
}

impl BlockPairs {
    /// Candidate pairs and labels of a logged block.
    pub fn from_record(record: &BlockRecord) -> Self {
        let facts: Vec<TxFacts> = record.txs.iter().map(TxFacts::from_record).collect();
        let pairs = candidate_pairs(&facts);
        let beneficiary = KeyHash::account(&record.beneficiary);
        let labels = pairs
            .iter()
            .map(|&(i, j)| {
                conflicts(
                    &record.txs[i as usize],
                    &record.txs[j as usize],
                    beneficiary,
                )
            })
            .collect();
        Self {
            number: record.number,
            facts,
            pairs,
            labels,
        }
    }

    /// Number of conflicting pairs.
    pub fn positives(&self) -> usize {
        self.labels.iter().filter(|l| **l).count()
    }

    /// Counts this block's pairs into `counts`.
    pub fn count_rates(&self, counts: &mut RateCounts) {
        for (&(i, j), &label) in self.pairs.iter().zip(&self.labels) {
            let a = self.facts[i as usize].call_key();
            let b = self.facts[j as usize].call_key();
            counts.add(a, b, label);
        }
    }

    /// Features of every pair, appended to `out`.
    pub fn features_into(&self, rates: &RateTable, out: &mut Vec<Features>) {
        let n = self.facts.len();
        out.extend(self.pairs.iter().map(|&(i, j)| {
            let (i, j) = (i as usize, j as usize);
            pair_features(&self.facts[i], &self.facts[j], i, j, n, rates)
        }));
    }
}

/// Whether `later` depends on `earlier` (see the module docs); `beneficiary` is the hashed
/// account key of the block's beneficiary, whose reads do not count.
pub fn conflicts(earlier: &TxRecord, later: &TxRecord, beneficiary: KeyHash) -> bool {
    sorted_intersect(&earlier.writes, &later.reads, beneficiary)
}

/// Whether two sorted key lists share a key other than `skip`.
fn sorted_intersect(a: &[KeyHash], b: &[KeyHash], skip: KeyHash) -> bool {
    let (mut x, mut y) = (0, 0);
    while x < a.len() && y < b.len() {
        match a[x].cmp(&b[y]) {
            std::cmp::Ordering::Less => x += 1,
            std::cmp::Ordering::Greater => y += 1,
            std::cmp::Ordering::Equal if a[x] == skip => (x, y) = (x + 1, y + 1),
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

/// Counts the rates of all pairs of `blocks`.
pub fn count_rates<'a>(blocks: impl IntoIterator<Item = &'a BlockPairs>) -> RateCounts {
    let mut counts = RateCounts::default();
    for block in blocks {
        block.count_rates(&mut counts);
    }
    counts
}

/// Features of every pair of `blocks`, in order, with one rate table.
pub fn features(blocks: &[BlockPairs], rates: &RateTable) -> Vec<Features> {
    let mut out = Vec::with_capacity(blocks.iter().map(|b| b.pairs.len()).sum());
    for block in blocks {
        block.features_into(rates, &mut out);
    }
    out
}

/// Features of every pair of `blocks` with out-of-fold rates: block `k` belongs to fold
/// `k % folds`, and its rate features come from the counts of the other folds only. Without
/// this the rates would have seen each training row's own label, and the classifier would
/// learn to trust them more than it should on unseen blocks.
pub fn out_of_fold_features(blocks: &[BlockPairs], folds: usize, cap: usize) -> Vec<Features> {
    let folds = folds.max(1);
    let fold_counts: Vec<RateCounts> = (0..folds)
        .map(|f| count_rates(blocks.iter().skip(f).step_by(folds)))
        .collect();
    let mut total = RateCounts::default();
    for block in blocks {
        block.count_rates(&mut total);
    }
    let tables: Vec<RateTable> = fold_counts
        .iter()
        .map(|fold| total.without(fold).finish(cap))
        .collect();
    let mut out = Vec::with_capacity(blocks.iter().map(|b| b.pairs.len()).sum());
    for (k, block) in blocks.iter().enumerate() {
        block.features_into(&tables[k % folds], &mut out);
    }
    out
}

/// All labels of `blocks`, in the order of [`features`].
pub fn labels(blocks: &[BlockPairs]) -> Vec<bool> {
    blocks
        .iter()
        .flat_map(|b| b.labels.iter().copied())
        .collect()
}
