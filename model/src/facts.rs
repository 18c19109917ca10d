//! What the router knows about a transaction before executing it: sender, target, selector,
//! the addresses in its calldata, gas, value and whether the target has code.
//!
//! The same [`TxFacts`] are built from a live [`BlockTx`] (routing) and from a logged
//! [`TxRecord`] (training), so the model sees identical inputs in both places.

use crate::traffic::TxRecord;
use alloy_primitives::{Address, Selector, map::AddressMap};
use revm::primitives::KECCAK_EMPTY;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use switchyard_executors::{Block, BlockTx, StateReader};

/// At most this many calldata addresses are kept per transaction (the first found).
pub const MAX_CALLDATA_ADDRESSES: usize = 16;
/// Only the first this many 32-byte argument words are scanned for addresses.
pub const MAX_CALLDATA_WORDS: usize = 256;
/// A word "looks like an address" when at most this many of its 20 low bytes lead with zero.
///
/// Amounts and indices are small numbers, so their 20 low bytes start with many zero bytes;
/// real addresses are uniformly random, and even vanity addresses rarely have more than 6.
pub const MAX_ADDRESS_LEADING_ZERO_BYTES: usize = 6;

/// An address found in calldata, with the argument word it sits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CalldataAddress {
    /// Index of the 32-byte word after the selector (0 = first argument).
    pub position: u16,
    /// The address.
    pub address: Address,
}

/// Addresses in ABI calldata: 32-byte words after the 4-byte selector whose top 12 bytes are
/// zero and whose low 20 bytes look like an address. Distinct addresses, first position wins.
pub fn calldata_addresses(input: &[u8]) -> Vec<CalldataAddress> {
    let mut out: Vec<CalldataAddress> = Vec::new();
    let Some(args) = input.get(4..) else {
        return out;
    };
    for (position, word) in args.chunks_exact(32).take(MAX_CALLDATA_WORDS).enumerate() {
        if word[..12].iter().any(|b| *b != 0) {
            continue;
        }
        let low = &word[12..];
        let leading = low.iter().take_while(|b| **b == 0).count();
        if leading > MAX_ADDRESS_LEADING_ZERO_BYTES {
            continue;
        }
        let address = Address::from_slice(low);
        if out.iter().any(|c| c.address == address) {
            continue;
        }
        out.push(CalldataAddress {
            position: position as u16,
            address,
        });
        if out.len() == MAX_CALLDATA_ADDRESSES {
            break;
        }
    }
    out
}

/// Whether `to` has code: from state when available, otherwise guessed from the calldata
/// (a call with data is almost always a contract call).
pub fn has_code(to: Option<Address>, input: &[u8], state: Option<&dyn StateReader>) -> bool {
    let Some(to) = to else {
        return false;
    };
    match state {
        Some(state) => state
            .summary(&to)
            .is_some_and(|s| s.code_hash != KECCAK_EMPTY && !s.code_hash.is_zero()),
        None => !input.is_empty(),
    }
}

/// Whether call targets have code, looked up in a state once per target and only when asked:
/// popular targets recur through a block, and a lookup in a large state misses the cache.
pub struct CodeLookup<'a> {
    state: &'a dyn StateReader,
    known: RefCell<AddressMap<bool>>,
    /// The last target asked about: blocks send runs of transactions to one address (997 of
    /// mainnet block 15274915's 1,226 pay one deposit address), and a compare is cheaper
    /// than hashing it.
    last: Cell<Option<(Address, bool)>>,
}

impl<'a> CodeLookup<'a> {
    /// Lookups in `state`, the state the block executes on, for a block of `txs`
    /// transactions (the capacity spares rehashing as targets are met).
    pub fn new(state: &'a dyn StateReader, txs: usize) -> Self {
        let mut known = AddressMap::default();
        known.reserve(txs);
        Self {
            state,
            known: RefCell::new(known),
            last: Cell::new(None),
        }
    }

    /// Whether `to` has code in the state.
    pub fn has_code(&self, to: Address) -> bool {
        if let Some((last, code)) = self.last.get()
            && last == to
        {
            return code;
        }
        let code = *self
            .known
            .borrow_mut()
            .entry(to)
            .or_insert_with(|| has_code(Some(to), &[], Some(self.state)));
        self.last.set(Some((to, code)));
        code
    }
}

impl std::fmt::Debug for CodeLookup<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeLookup")
            .field("known", &self.known.borrow().len())
            .finish_non_exhaustive()
    }
}

/// The pre-execution view of one transaction that features are computed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxFacts {
    /// Sender.
    pub sender: Address,
    /// Call target; `None` for a contract creation.
    pub to: Option<Address>,
    /// First 4 bytes of calldata, for calls with at least 4 bytes of it.
    pub selector: Option<Selector>,
    /// Addresses found in calldata.
    pub calldata: Vec<CalldataAddress>,
    /// Gas limit.
    pub gas_limit: u64,
    /// Whether the transaction transfers a non-zero value.
    pub moved_value: bool,
    /// Whether the target has code.
    pub to_has_code: bool,
}

impl TxFacts {
    /// Facts of a block transaction; `state` (the state the block executes on) tells whether
    /// the target has code.
    #[inline]
    pub fn from_tx(tx: &BlockTx, state: Option<&dyn StateReader>) -> Self {
        Self::with_code(tx, has_code(tx.to(), tx.input(), state))
    }

    /// Facts of every transaction of `block`, looking up each target's code once
    /// ([`CodeLookup`]). Routing defers the lookups instead (`Model::block_scorer_with_code`).
    pub fn of_block(block: &Block, state: Option<&dyn StateReader>) -> Vec<Self> {
        let Some(state) = state else {
            return block.txs.iter().map(|tx| Self::from_tx(tx, None)).collect();
        };
        let code = CodeLookup::new(state, block.txs.len());
        block
            .txs
            .iter()
            .map(|tx| Self::with_code(tx, tx.to().is_some_and(|to| code.has_code(to))))
            .collect()
    }

    // Inlined, so that a block's facts are written where they are kept: built apart and
    // copied, they were read back before their writes had landed (a stall per transaction).
    #[inline]
    fn with_code(tx: &BlockTx, to_has_code: bool) -> Self {
        let input = tx.input();
        let to = tx.to();
        Self {
            sender: tx.sender,
            to,
            selector: selector(to, input),
            // No address fits in calldata shorter than a selector and one word (most
            // transactions are plain transfers, with none).
            calldata: if to.is_some() && input.len() >= 4 + 32 {
                calldata_addresses(input)
            } else {
                Vec::new()
            },
            gas_limit: tx.gas_limit(),
            moved_value: !tx.value().is_zero(),
            to_has_code,
        }
    }

    /// Facts of a logged transaction.
    pub fn from_record(tx: &TxRecord) -> Self {
        Self {
            sender: tx.sender,
            to: tx.to,
            selector: tx.selector,
            calldata: tx.calldata_addresses.clone(),
            gas_limit: tx.gas_limit,
            moved_value: tx.moved_value,
            to_has_code: tx.to_has_code,
        }
    }

    /// The (contract, selector) this transaction calls, the key of the conflict-rate table.
    pub fn call_key(&self) -> Option<(Address, Selector)> {
        Some((self.to?, self.selector?))
    }

    /// Candidate keys: sender, target and calldata addresses, sorted and distinct.
    pub fn candidate_addresses(&self) -> Vec<Address> {
        let mut keys: Vec<Address> = self.each_candidate_address().collect();
        keys.sort_unstable();
        // Facts read from a log may repeat a calldata address.
        keys.dedup();
        keys
    }

    /// The candidate keys, each once, sender first, without allocating (the router's hot
    /// path). Calldata addresses are distinct already ([`calldata_addresses`]).
    pub fn each_candidate_address(&self) -> impl Iterator<Item = Address> + '_ {
        let sender = self.sender;
        let to = self.to.filter(|to| *to != sender);
        let calldata = self
            .calldata
            .iter()
            .map(|c| c.address)
            .filter(move |a| *a != sender && Some(*a) != to);
        std::iter::once(sender).chain(to).chain(calldata)
    }

    /// The position of `address` among this transaction's calldata addresses.
    pub fn calldata_position(&self, address: &Address) -> Option<u16> {
        self.calldata
            .iter()
            .find(|c| c.address == *address)
            .map(|c| c.position)
    }
}

/// The selector of a call: its first 4 bytes of calldata.
pub fn selector(to: Option<Address>, input: &[u8]) -> Option<Selector> {
    to?;
    input.get(..4).map(Selector::from_slice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::hex;

    #[test]
    fn finds_addresses_in_transfer_calldata_and_skips_amounts() {
        // transfer(address,uint256) to 0xdAC1…, amount 10^18.
        let data = hex!(
            "a9059cbb000000000000000000000000dac17f958d2ee523a2206206994597c13d831ec70000000000000000000000000000000000000000000000000de0b6b3a7640000"
        );
        let found = calldata_addresses(&data);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].position, 0);
        assert_eq!(
            found[0].address,
            "0xdac17f958d2ee523a2206206994597c13d831ec7"
                .parse::<Address>()
                .unwrap()
        );
        assert!(calldata_addresses(&data[..3]).is_empty());
    }

    #[test]
    fn candidate_addresses_are_distinct_sender_first() {
        let (a, b, c) = (
            Address::repeat_byte(3),
            Address::repeat_byte(1),
            Address::repeat_byte(2),
        );
        let at = |position, address| CalldataAddress { position, address };
        let facts = TxFacts {
            sender: a,
            to: Some(b),
            selector: None,
            // The sender and the target again, then a new address.
            calldata: vec![at(0, a), at(1, b), at(2, c)],
            gas_limit: 50_000,
            moved_value: false,
            to_has_code: true,
        };
        assert_eq!(
            facts.each_candidate_address().collect::<Vec<_>>(),
            [a, b, c]
        );
        assert_eq!(facts.candidate_addresses(), [b, c, a]);
        let to_self = TxFacts {
            to: Some(a),
            calldata: Vec::new(),
            ..facts
        };
        assert_eq!(to_self.each_candidate_address().collect::<Vec<_>>(), [a]);
    }

    #[test]
    fn no_state_guesses_code_from_calldata() {
        let to = Some(Address::repeat_byte(1));
        assert!(has_code(to, &[1, 2, 3, 4], None));
        assert!(!has_code(to, &[], None));
        assert!(!has_code(None, &[1], None));
    }
}
