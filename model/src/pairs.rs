//! Candidate pairs: transactions of one block that share a candidate key.
//!
//! An index from each candidate address to the transactions holding it yields the pairs, so
//! the cost grows with the pairs that share keys, never with n². Same-sender pairs are left
//! out: the router always merges them, so the model never decides them.
//!
//! **Hot keys.** A key held by m transactions would give m²/2 pairs (a popular token or
//! router). Each transaction is paired only with the [`HOT_KEY_WINDOW`] transactions that
//! most recently held the same key before it, which bounds a key's pairs by
//! m × [`HOT_KEY_WINDOW`]. Union-find makes groups transitive, so a chain of conflicts
//! through one key stays connected through its nearest links.

use crate::facts::TxFacts;
use alloy_primitives::map::AddressMap;

/// How many earlier holders of the same key a transaction is paired with. Scoring these pairs
/// is most of the model router's cost; on the held-out mainnet blocks 8 cut routing by a
/// quarter against 32, at the same re-executed gas (`docs/model.md`).
pub const HOT_KEY_WINDOW: usize = 8;

/// Candidate pairs `(i, j)` with `i < j`, sorted and distinct.
pub fn candidate_pairs(txs: &[TxFacts]) -> Vec<(u32, u32)> {
    let mut pairs = Vec::new();
    for_each_candidate_pair(txs, |i, j| pairs.push((i, j)));
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

/// Visits the candidate pairs `(i, j)`, `i < j`, in order of `j`, without collecting them. A
/// pair sharing several keys is visited once per key.
pub fn for_each_candidate_pair(txs: &[TxFacts], mut visit: impl FnMut(u32, u32)) {
    let mut holders: AddressMap<Recent> = AddressMap::default();
    holders.reserve(txs.len() * 2);
    for (j, tx) in txs.iter().enumerate() {
        let j = j as u32;
        for key in tx.candidate_addresses() {
            let recent = holders.entry(key).or_default();
            // Nearest first: close pairs conflict most, and once joined the farther ones are
            // skipped by callers that keep groups.
            for i in recent.nearest_first() {
                if txs[i as usize].sender != tx.sender {
                    visit(i, j);
                }
            }
            recent.push(j);
        }
    }
}

/// The last [`HOT_KEY_WINDOW`] holders of a key, in a ring: no allocation per key.
#[derive(Debug, Default, Clone, Copy)]
struct Recent {
    ring: [u32; HOT_KEY_WINDOW],
    pushed: usize,
}

impl Recent {
    fn push(&mut self, tx: u32) {
        self.ring[self.pushed % HOT_KEY_WINDOW] = tx;
        self.pushed += 1;
    }

    fn nearest_first(&self) -> impl Iterator<Item = u32> + '_ {
        (1..=self.pushed.min(HOT_KEY_WINDOW))
            .map(move |back| self.ring[(self.pushed - back) % HOT_KEY_WINDOW])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::Address;

    fn tx(sender: u8, to: u8) -> TxFacts {
        TxFacts {
            sender: Address::repeat_byte(sender),
            to: Some(Address::repeat_byte(to)),
            selector: None,
            calldata: Vec::new(),
            gas_limit: 21_000,
            moved_value: true,
            to_has_code: false,
        }
    }

    #[test]
    fn unrelated_senders_give_no_pairs() {
        let txs: Vec<TxFacts> = (0..100).map(|i| tx(i, 100 + i)).collect();
        assert!(candidate_pairs(&txs).is_empty());
    }

    #[test]
    fn shared_target_pairs_and_same_sender_is_skipped() {
        let txs = vec![tx(1, 9), tx(2, 9), tx(1, 9), tx(3, 4)];
        assert_eq!(candidate_pairs(&txs), vec![(0, 1), (1, 2)]);
    }

    #[test]
    fn hot_key_pairs_are_bounded_by_the_window() {
        let m = 1_000;
        let txs: Vec<TxFacts> = (0..m).map(|i| tx((i % 250) as u8, 255)).collect();
        let pairs = candidate_pairs(&txs);
        assert!(pairs.len() <= m * HOT_KEY_WINDOW, "{} pairs", pairs.len());
        assert!(pairs.len() >= (m - HOT_KEY_WINDOW) * (HOT_KEY_WINDOW - 1));
    }
}
