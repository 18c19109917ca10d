//! Historical conflict rates per (contract, selector), learned from traffic logs.
//!
//! Two rates per call key `c`:
//! - **same**: among candidate pairs where *both* transactions call `c`, the share that
//!   conflicted (two swaps on one pool: high; two transfers of one token: low);
//! - **any**: among candidate pairs where *either* transaction calls `c`, the share that
//!   conflicted.
//!
//! Rates are smoothed towards the global rate with [`SMOOTHING`] pseudo-pairs, so a key seen
//! twice does not claim certainty, and an unseen key gets the global rate (the fallback). The
//! table keeps the [`DEFAULT_RATE_CAP`] most frequent keys, which bounds the model file.

use alloy_primitives::{Address, Selector, map::HashMap};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Pseudo-pairs at the global rate added to every key's counts.
pub const SMOOTHING: f64 = 4.0;
/// Default number of keys kept in a model file.
pub const DEFAULT_RATE_CAP: usize = 10_000;

/// A (contract, selector) call key.
pub type CallKey = (Address, Selector);

/// Positive and total pair counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Pairs that conflicted.
    pub positives: u64,
    /// All pairs.
    pub pairs: u64,
}

impl Counts {
    fn add(&mut self, label: bool) {
        self.pairs += 1;
        self.positives += u64::from(label);
    }

    fn minus(self, other: Self) -> Self {
        Self {
            positives: self.positives - other.positives,
            pairs: self.pairs - other.pairs,
        }
    }

    fn rate(self) -> f64 {
        if self.pairs == 0 {
            0.0
        } else {
            self.positives as f64 / self.pairs as f64
        }
    }

    fn smoothed(self, prior: f64) -> f32 {
        ((self.positives as f64 + SMOOTHING * prior) / (self.pairs as f64 + SMOOTHING)) as f32
    }
}

/// Counting pairs per call key, before smoothing and capping.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateCounts {
    same: Counts,
    any: Counts,
    keys: BTreeMap<CallKey, (Counts, Counts)>,
}

impl RateCounts {
    /// Counts one labelled candidate pair, given the call keys of its two transactions.
    pub fn add(&mut self, a: Option<CallKey>, b: Option<CallKey>, label: bool) {
        self.any.add(label);
        if a.is_some() && a == b {
            self.same.add(label);
        }
        for key in [a, b.filter(|b| Some(*b) != a)].into_iter().flatten() {
            let entry = self.keys.entry(key).or_default();
            entry.1.add(label);
            if a == b {
                entry.0.add(label);
            }
        }
    }

    /// These counts without `other`'s (which must have been counted into these): the
    /// out-of-fold counts for training rows of `other`'s blocks.
    pub fn without(&self, other: &Self) -> Self {
        let mut keys = self.keys.clone();
        for (key, (same, any)) in &other.keys {
            if let Some(entry) = keys.get_mut(key) {
                *entry = (entry.0.minus(*same), entry.1.minus(*any));
                if entry.1.pairs == 0 {
                    keys.remove(key);
                }
            }
        }
        Self {
            same: self.same.minus(other.same),
            any: self.any.minus(other.any),
            keys,
        }
    }

    /// The table of the `cap` most frequent keys (by pairs involving them; ties by key).
    pub fn finish(&self, cap: usize) -> RateTable {
        let mut entries: Vec<RateEntry> = self
            .keys
            .iter()
            .map(|((contract, selector), (same, any))| RateEntry {
                contract: *contract,
                selector: *selector,
                same: *same,
                any: *any,
            })
            .collect();
        if entries.len() > cap {
            // Stable sort: equal counts keep key order, so the cut is deterministic.
            entries.sort_by_key(|e| std::cmp::Reverse(e.any.pairs));
            entries.truncate(cap);
            entries.sort_by_key(|e| (e.contract, e.selector));
        }
        RateTable::new(self.same.rate(), self.any.rate(), entries)
    }
}

/// One key of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateEntry {
    /// The called contract.
    pub contract: Address,
    /// The selector called.
    pub selector: Selector,
    /// Pairs where both transactions call this key.
    pub same: Counts,
    /// Pairs where either transaction calls this key.
    pub any: Counts,
}

/// Smoothed conflict rates per call key, with fallbacks for unseen keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "RateTableFile", into = "RateTableFile")]
pub struct RateTable {
    prior_same: f64,
    prior_any: f64,
    entries: Vec<RateEntry>,
    index: HashMap<CallKey, (f32, f32)>,
}

/// A rate lookup for one call key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Smoothed rate of pairs where both sides call the key.
    pub same: f32,
    /// Smoothed rate of pairs where either side calls the key.
    pub any: f32,
    /// Whether the key is in the table (otherwise the rates are the global fallbacks).
    pub seen: bool,
}

impl RateTable {
    /// A table from its global rates and entries.
    pub fn new(prior_same: f64, prior_any: f64, entries: Vec<RateEntry>) -> Self {
        let index = entries
            .iter()
            .map(|e| {
                let key = (e.contract, e.selector);
                (
                    key,
                    (e.same.smoothed(prior_same), e.any.smoothed(prior_any)),
                )
            })
            .collect();
        Self {
            prior_same,
            prior_any,
            entries,
            index,
        }
    }

    /// An empty table: every key gets the given global rates.
    pub fn empty(prior_same: f64, prior_any: f64) -> Self {
        Self::new(prior_same, prior_any, Vec::new())
    }

    /// The rates of a key, or the global fallbacks when it is unknown or absent.
    #[inline]
    pub fn get(&self, key: Option<CallKey>) -> Rate {
        match key.and_then(|k| self.index.get(&k)) {
            Some(&(same, any)) => Rate {
                same,
                any,
                seen: true,
            },
            None => Rate {
                same: self.prior_same as f32,
                any: self.prior_any as f32,
                seen: false,
            },
        }
    }

    /// Number of keys held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Returns `true` when no key is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The serialized shape of a [`RateTable`] (without the lookup index).
#[derive(Serialize, Deserialize)]
struct RateTableFile {
    prior_same: f64,
    prior_any: f64,
    smoothing: f64,
    entries: Vec<RateEntry>,
}

impl From<RateTableFile> for RateTable {
    fn from(file: RateTableFile) -> Self {
        Self::new(file.prior_same, file.prior_any, file.entries)
    }
}

impl From<RateTable> for RateTableFile {
    fn from(table: RateTable) -> Self {
        Self {
            prior_same: table.prior_same,
            prior_any: table.prior_any,
            smoothing: SMOOTHING,
            entries: table.entries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> CallKey {
        (Address::repeat_byte(n), Selector::repeat_byte(n))
    }

    #[test]
    fn smooths_caps_and_falls_back() {
        let mut counts = RateCounts::default();
        for _ in 0..10 {
            counts.add(Some(key(1)), Some(key(1)), true);
            counts.add(Some(key(2)), None, false);
        }
        counts.add(Some(key(3)), Some(key(2)), false);
        let table = counts.finish(2);
        assert_eq!(table.len(), 2);
        let one = table.get(Some(key(1)));
        assert!(one.seen && one.same > 0.9 && one.any > one.same * 0.4);
        assert!(!table.get(Some(key(3))).seen, "capped away");
        assert!(!table.get(None).seen);

        let mut fold = RateCounts::default();
        fold.add(Some(key(3)), Some(key(2)), false);
        let rest = counts.without(&fold);
        assert!(!rest.finish(10).get(Some(key(3))).seen);
        let json = serde_json::to_string(&table).unwrap();
        assert_eq!(serde_json::from_str::<RateTable>(&json).unwrap(), table);
    }
}
