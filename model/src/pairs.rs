//! Candidate pairs: transactions of one block that share a candidate key.
//!
//! An index from each candidate address (folded into 8 bytes by `key_of`) to the transactions
//! holding it yields the pairs, so the cost grows with the pairs that share keys, never with
//! n². Same-sender pairs are left out: the router always merges them, so the model never
//! decides them.
//!
//! **Hot keys.** A key held by m transactions would give m²/2 pairs (a popular token or
//! router). Each transaction is paired only with the [`HOT_KEY_WINDOW`] transactions that
//! most recently held the same key before it, which bounds a key's pairs by
//! m × [`HOT_KEY_WINDOW`]. Union-find makes groups transitive, so a chain of conflicts
//! through one key stays connected through its nearest links.

use crate::facts::{MAX_CALLDATA_ADDRESSES, TxFacts};
use alloy_primitives::{Address, map::HashMap};
use std::collections::hash_map::Entry;

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
    walk_candidates(txs, |link| {
        if let Link::Candidate { earlier, later } = link {
            visit(earlier, later);
        }
        Joined::Unknown
    });
}

/// What [`walk_candidates`] meets at a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// `later` has the sender of `first`, the sender's first transaction in the block. Met
    /// before any candidate pair of `later`.
    SameSender {
        /// The sender's first transaction.
        first: u32,
        /// A later transaction of the same sender.
        later: u32,
    },
    /// A candidate pair of different senders.
    Candidate {
        /// The earlier transaction.
        earlier: u32,
        /// The later transaction.
        later: u32,
    },
}

/// What the caller of [`walk_candidates`] knows of a link's two transactions once it has met
/// it. A caller that keeps groups says [`Joined::Yes`] when they are in one group; the walk
/// then skips the pairs of holders that are all in that group already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joined {
    /// They are in one group, and stay so (groups only ever merge).
    Yes,
    /// Not known to be in one group.
    Unknown,
}

/// Walks the block once, in order, meeting each transaction's same-sender link and then its
/// candidate pairs, nearest first. One index serves both, so a router that merges senders
/// needs no second pass over the block's addresses.
///
/// `meet` answers whether the link's transactions are now in one group. A key whose recent
/// holders are all in one group is met through its nearest holder only: once that one is
/// joined, so are the rest. In a dense block most pairs are inside groups already: routing
/// mainnet block 15274915 meets 1,370 candidate pairs this way, against 9,135 in all.
pub fn walk_candidates(txs: &[TxFacts], mut meet: impl FnMut(Link) -> Joined) {
    let mut keys: HashMap<u64, KeyHolders> = HashMap::default();
    keys.reserve(txs.len() * 2);
    // Rings of recent holders, for the keys held more than once.
    let mut rings: Vec<Recent> = Vec::with_capacity(txs.len() / 2);
    // Each transaction's sender key, so telling senders apart reads 8 bytes in one array
    // rather than 20 in each holder's facts.
    let mut senders: Vec<u64> = Vec::with_capacity(txs.len());
    let mut tx_keys: Vec<u64> = Vec::with_capacity(2 + MAX_CALLDATA_ADDRESSES);
    for (j, tx) in txs.iter().enumerate() {
        let j = j as u32;
        // Whether the caller joined `j` with its sender's earlier transactions.
        let mut sender_joined = Joined::Unknown;
        candidate_keys(tx, &mut tx_keys);
        senders.push(tx_keys[0]);
        // The sender comes first, so the same-sender link precedes the pairs.
        for (k, &key) in tx_keys.iter().enumerate() {
            let holders = match keys.entry(key) {
                // The key's first holder pairs with nothing. Most keys are met once (most
                // senders send once), and writing the slot without reading it back spares
                // waiting for its cache line.
                Entry::Vacant(slot) => {
                    slot.insert(KeyHolders {
                        first_sent: if k == 0 { j } else { NONE },
                        last: j,
                        ring: NONE,
                    });
                    continue;
                }
                Entry::Occupied(slot) => slot.into_mut(),
            };
            if k == 0 {
                match holders.first_sent {
                    NONE => holders.first_sent = j,
                    first => sender_joined = meet(Link::SameSender { first, later: j }),
                }
            }
            let sender = senders[j as usize];
            let mut pair = |i: u32| {
                if senders[i as usize] == sender {
                    sender_joined
                } else {
                    meet(Link::Candidate {
                        earlier: i,
                        later: j,
                    })
                }
            };
            // Nearest first: close pairs conflict most, and once joined the farther ones are
            // skipped by callers that keep groups.
            if holders.ring != NONE {
                let recent = &mut rings[holders.ring as usize];
                let all_joined = {
                    let mut nearest_first = recent.nearest_first();
                    let nearest = nearest_first.next().map_or(Joined::Unknown, &mut pair);
                    if nearest == Joined::Yes && recent.one_group {
                        true
                    } else {
                        // Every holder is met, even after one is not joined.
                        nearest_first.fold(nearest == Joined::Yes, |all, i| {
                            (pair(i) == Joined::Yes) & all
                        })
                    }
                };
                recent.push(j);
                recent.one_group = all_joined;
            } else {
                let joined = pair(holders.last);
                let mut recent = Recent::default();
                recent.push(holders.last);
                recent.push(j);
                recent.one_group = joined == Joined::Yes;
                holders.ring = rings.len() as u32;
                rings.push(recent);
            }
        }
    }
}

/// `tx`'s candidate keys into `keys`, sender first, each once: the index keys of
/// [`TxFacts::each_candidate_address`], told apart as keys (8 bytes) rather than as addresses.
fn candidate_keys(tx: &TxFacts, keys: &mut Vec<u64>) {
    keys.clear();
    keys.push(key_of(&tx.sender));
    for address in tx.to.iter().chain(tx.calldata.iter().map(|c| &c.address)) {
        let key = key_of(address);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
}

/// The index's key for `address`: its 20 bytes folded into 8. Distinct addresses fold alike
/// only if someone ground for it (2^32 work for a pair), and then they make one more candidate
/// pair, or, as senders, merge two senders' groups and drop their pairs, or, within one
/// transaction, count as one key: any of these changes routing, never a result.
/// A u64 hashes and compares in a fraction of the time of 20 bytes (routing 8% faster on the
/// held-out mainnet blocks).
fn key_of(address: &Address) -> u64 {
    let word = |range: std::ops::Range<usize>| {
        let mut bytes = [0u8; 8];
        bytes[..range.len()].copy_from_slice(&address[range]);
        u64::from_le_bytes(bytes)
    };
    word(0..8) ^ word(8..16).rotate_left(32) ^ word(16..20)
}

/// "No transaction" in [`KeyHolders`].
const NONE: u32 = u32::MAX;

/// What the walk keeps of one key: 12 bytes in the index, since most keys are held once (a
/// block's index then stays in the caches); a key's second holder moves its holders to a ring.
#[derive(Debug, Clone, Copy)]
struct KeyHolders {
    /// The first transaction sent by this key's address, or [`NONE`].
    first_sent: u32,
    /// The key's first holder; unused once `ring` is set.
    last: u32,
    /// The key's [`Recent`] holders, an index into the walk's rings, or [`NONE`].
    ring: u32,
}

/// The last [`HOT_KEY_WINDOW`] holders of a key, in a ring: no allocation per key.
#[derive(Debug, Default, Clone, Copy)]
struct Recent {
    ring: [u32; HOT_KEY_WINDOW],
    pushed: u32,
    /// Whether the caller joined every holder in the ring into one group.
    one_group: bool,
}

impl Recent {
    fn push(&mut self, tx: u32) {
        self.ring[self.pushed as usize % HOT_KEY_WINDOW] = tx;
        self.pushed += 1;
    }

    fn nearest_first(&self) -> impl Iterator<Item = u32> + '_ {
        let pushed = self.pushed as usize;
        (1..=pushed.min(HOT_KEY_WINDOW))
            .map(move |back| self.ring[(pushed - back) % HOT_KEY_WINDOW])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::U256;

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
    fn index_keys_of_distinct_addresses_differ_for_every_usual_shape() {
        use alloy_primitives::{B256, keccak256};
        let hashed = |i: u64| Address::from_word(keccak256(i.to_be_bytes()));
        let mut addresses: Vec<Address> = Vec::new();
        // Hash outputs, small numbers (precompiles, tests), repeated bytes, and vanity
        // addresses with eight leading zero bytes.
        addresses.extend((0..10_000).map(hashed));
        addresses.extend((0..10_000u64).map(|i| Address::from_word(B256::from(U256::from(i)))));
        addresses.extend((0..=255).map(Address::repeat_byte));
        addresses.extend((0..10_000).map(|i| {
            let mut vanity = hashed(1_000_000 + i);
            vanity.0[..8].fill(0);
            vanity
        }));
        addresses.sort_unstable();
        addresses.dedup();
        let mut keys: Vec<u64> = addresses.iter().map(key_of).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), addresses.len());
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
    fn same_sender_link_comes_before_the_later_pairs() {
        let txs = vec![tx(1, 9), tx(2, 9), tx(1, 9), tx(2, 1)];
        let mut links = Vec::new();
        walk_candidates(&txs, |link| {
            links.push(link);
            Joined::Unknown
        });
        use Link::*;
        assert_eq!(
            links,
            vec![
                Candidate {
                    earlier: 0,
                    later: 1
                },
                SameSender { first: 0, later: 2 },
                Candidate {
                    earlier: 1,
                    later: 2
                },
                // Sender 2 again, then its target: sender 1's address, held by 0 and 2.
                SameSender { first: 1, later: 3 },
                Candidate {
                    earlier: 2,
                    later: 3
                },
                Candidate {
                    earlier: 0,
                    later: 3
                },
            ]
        );
    }

    /// Counts the candidate pairs met when the caller answers `joined` for each.
    fn pairs_met(txs: &[TxFacts], mut joined: impl FnMut(u32, u32) -> Joined) -> usize {
        let mut met = 0;
        walk_candidates(txs, |link| match link {
            Link::SameSender { .. } => Joined::Yes,
            Link::Candidate { earlier, later } => {
                met += 1;
                joined(earlier, later)
            }
        });
        met
    }

    #[test]
    fn a_key_whose_holders_are_one_group_is_met_through_its_nearest_holder() {
        // 100 senders call one target: every transaction holds the target's key.
        let txs: Vec<TxFacts> = (0..100).map(|i| tx(i, 200)).collect();
        let window = HOT_KEY_WINDOW as u32;
        // Nothing known joined: each transaction meets the whole window behind it.
        let all: usize = (1..100).map(|j| j.min(window) as usize).sum();
        assert_eq!(pairs_met(&txs, |_, _| Joined::Unknown), all);
        // Everything joined: the first two rings fill, then only the nearest holder is met.
        assert_eq!(pairs_met(&txs, |_, _| Joined::Yes), 99);
        // Two groups, odd and even: no ring is ever one group, so nothing is skipped.
        let parity = |i: u32, j: u32| {
            if i % 2 == j % 2 {
                Joined::Yes
            } else {
                Joined::Unknown
            }
        };
        assert_eq!(pairs_met(&txs, parity), all);
    }

    #[test]
    fn a_ring_is_met_whole_while_it_holds_a_transaction_apart() {
        let txs: Vec<TxFacts> = (0..20).map(|i| tx(i, 200)).collect();
        assert_eq!(HOT_KEY_WINDOW, 8, "the figures below are for a window of 8");
        // Every transaction is in one group but 5, which is alone.
        let met = pairs_met(&txs, |i, j| {
            if i == 5 || j == 5 {
                Joined::Unknown
            } else {
                Joined::Yes
            }
        });
        let expected = 4 // 1..=4: the nearest holder, as the ring is one group from the start
            + 5 // 5: all five holders before it
            + 6 + 7 + 6 * 8 // 6..=13: every holder, as the ring holds 5
            + 8 // 14: every holder (the ring held 5 when 13 was pushed); now one group
            + 5; // 15..=19: the nearest holder
        assert_eq!(met, expected);
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
