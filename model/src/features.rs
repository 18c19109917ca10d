//! Pair features and the feature schema they form.
//!
//! A pair `(a, b)` is two transactions of one block, `a` before `b`, that share a candidate
//! key. Every feature is a number in about [0, 1], computed from the two [`TxFacts`], their
//! positions and the conflict-rate table. The list, its order and the extraction constants
//! make up the schema; [`schema_hash`] changes whenever any of them does, and a model file
//! trained under another hash is refused.

use crate::{
    facts::{MAX_ADDRESS_LEADING_ZERO_BYTES, MAX_CALLDATA_ADDRESSES, MAX_CALLDATA_WORDS, TxFacts},
    pairs::HOT_KEY_WINDOW,
    rates::{Rate, RateTable, SMOOTHING},
};
use alloy_primitives::{Address, keccak256};

/// Version of the feature schema; bump it with any change to [`FEATURE_NAMES`] or to how a
/// feature is computed.
pub const SCHEMA_VERSION: u32 = 1;

/// Number of features.
pub const N_FEATURES: usize = FEATURE_NAMES.len();

/// One pair's features, in [`FEATURE_NAMES`] order.
pub type Features = [f32; N_FEATURES];

/// The features, in order.
pub const FEATURE_NAMES: [&str; 23] = [
    "same_to",
    "same_to_selector",
    "same_selector",
    "same_to_no_code",
    "shared_calldata",
    "shared_calldata_same_position",
    "shared_calldata_first_argument",
    "to_in_other_calldata",
    "sender_touched_by_other",
    "both_value",
    "either_value",
    "both_code",
    "neither_code",
    "either_create",
    "gas_min",
    "gas_max",
    "distance_log",
    "distance_fraction",
    "rate_same",
    "rate_any_max",
    "rate_any_min",
    "rate_seen",
    "shared_keys",
];

/// The schema hash: the first 8 bytes of keccak-256 over the version, the feature names and
/// the extraction constants, as 16 hex digits.
pub fn schema_hash() -> String {
    let mut text = format!(
        "v{SCHEMA_VERSION};window={HOT_KEY_WINDOW};calldata={MAX_CALLDATA_ADDRESSES}/{MAX_CALLDATA_WORDS}/{MAX_ADDRESS_LEADING_ZERO_BYTES};smoothing={SMOOTHING}"
    );
    for name in FEATURE_NAMES {
        text.push(';');
        text.push_str(name);
    }
    let digest = keccak256(text.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// log(30M): gas limits are scaled by the log of a full block.
const LOG_BLOCK_GAS: f32 = 17.216_707;

pub(crate) fn flag(b: bool) -> f32 {
    if b { 1.0 } else { 0.0 }
}

fn log_gas(gas: u64) -> f32 {
    // Most transactions are plain transfers at 21,000: their logarithm is taken once.
    const TRANSFER: u64 = 21_000;
    static TRANSFER_LOG_GAS: std::sync::OnceLock<f32> = std::sync::OnceLock::new();
    let log = |gas: u64| ((gas.max(1) as f32).ln() / LOG_BLOCK_GAS).min(1.5);
    if gas == TRANSFER {
        *TRANSFER_LOG_GAS.get_or_init(|| log(TRANSFER))
    } else {
        log(gas)
    }
}

/// The parts of a pair's features that depend on one transaction alone: computed once per
/// transaction when a whole block is scored, instead of once per pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TxPart {
    // 20 bytes, so a block's parts stay in the caches: a pair's shared call key is its shared
    // target and selector, found from the facts.
    rate: Rate,
    log_gas: f32,
    to_has_code: bool,
}

impl TxPart {
    /// The part of `tx`, with its rates looked up in `rates`.
    pub fn of(tx: &TxFacts, rates: &RateTable) -> Self {
        Self::with_code(tx, rates, tx.to_has_code)
    }

    /// [`Self::of`] with whether the target has code given apart, for facts built without
    /// the lookup (routing defers it to the pairs actually scored).
    pub fn with_code(tx: &TxFacts, rates: &RateTable, to_has_code: bool) -> Self {
        Self {
            rate: rates.get(tx.call_key()),
            log_gas: log_gas(tx.gas_limit),
            to_has_code,
        }
    }
}

/// Features of the pair `(a, b)`: `a` at block index `i`, `b` at `j > i`, in a block of `n`.
pub fn pair_features(
    a: &TxFacts,
    b: &TxFacts,
    i: usize,
    j: usize,
    n: usize,
    rates: &RateTable,
) -> Features {
    let (pa, pb) = (TxPart::of(a, rates), TxPart::of(b, rates));
    pair_features_from((a, &pa), (b, &pb), j - i, n, log_distance(j - i, n))
}

/// The log-scaled distance feature of two transactions `distance` apart in a block of `n`
/// (computed once per distance by a block's scorer, as it costs a logarithm).
pub fn log_distance(distance: usize, n: usize) -> f32 {
    (distance as f32).ln_1p() / (n.max(2) as f32).ln_1p()
}

/// [`pair_features`] from the transactions' precomputed [`TxPart`]s; the same numbers.
/// Inlined into the block scorer, which sums the features as they are made.
#[inline(always)]
pub fn pair_features_from(
    (a, pa): (&TxFacts, &TxPart),
    (b, pb): (&TxFacts, &TxPart),
    distance: usize,
    n: usize,
    log_distance: f32,
) -> Features {
    let same_to = a.to.is_some() && a.to == b.to;
    let same_selector = a.selector.is_some() && a.selector == b.selector;

    let mut shared = 0usize;
    let mut same_position = false;
    let mut first_argument = false;
    for ca in &a.calldata {
        if let Some(pos) = b.calldata_position(&ca.address) {
            shared += 1;
            same_position |= pos == ca.position;
            first_argument |= pos == 0 && ca.position == 0;
        }
    }
    let in_calldata = |tx: &TxFacts, address: &Address| tx.calldata_position(address).is_some();
    let to_in_other =
        a.to.is_some_and(|to| in_calldata(b, &to)) || b.to.is_some_and(|to| in_calldata(a, &to));
    let sender_touched = b.to == Some(a.sender)
        || a.to == Some(b.sender)
        || in_calldata(b, &a.sender)
        || in_calldata(a, &b.sender);
    let shared_keys =
        shared + usize::from(same_to) + usize::from(to_in_other) + usize::from(sender_touched);

    let (ra, rb) = (pa.rate, pb.rate);
    // The same (contract, selector): `same_to` and `same_selector` hold only for a target and
    // a selector.
    let rate_same = if same_to && same_selector {
        ra.same
    } else {
        0.0
    };

    let distance = distance as f32;
    let n = n.max(2) as f32;
    [
        flag(same_to),
        flag(same_to && same_selector),
        flag(same_selector),
        flag(same_to && !pa.to_has_code),
        (shared.min(4) as f32) / 4.0,
        flag(same_position),
        flag(first_argument),
        flag(to_in_other),
        flag(sender_touched),
        flag(a.moved_value && b.moved_value),
        flag(a.moved_value || b.moved_value),
        flag(pa.to_has_code && pb.to_has_code),
        flag(!pa.to_has_code && !pb.to_has_code),
        flag(a.to.is_none() || b.to.is_none()),
        // log_gas is monotonic: the log of the smaller gas limit is the smaller log.
        pa.log_gas.min(pb.log_gas),
        pa.log_gas.max(pb.log_gas),
        log_distance,
        distance / n,
        rate_same,
        ra.any.max(rb.any),
        ra.any.min(rb.any),
        (flag(ra.seen) + flag(rb.seen)) / 2.0,
        (shared_keys.min(4) as f32) / 4.0,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::CalldataAddress;
    use alloy_primitives::Selector;

    #[test]
    fn same_token_transfer_to_same_recipient() {
        let token = Address::repeat_byte(7);
        let recipient = Address::repeat_byte(8);
        let tx = |sender: u8| TxFacts {
            sender: Address::repeat_byte(sender),
            to: Some(token),
            selector: Some(Selector::repeat_byte(0xa9)),
            calldata: vec![CalldataAddress {
                position: 0,
                address: recipient,
            }],
            gas_limit: 60_000,
            moved_value: false,
            to_has_code: true,
        };
        let f = pair_features(&tx(1), &tx(2), 0, 3, 10, &RateTable::empty(0.5, 0.25));
        let get = |name: &str| f[FEATURE_NAMES.iter().position(|n| *n == name).unwrap()];
        assert_eq!(get("same_to_selector"), 1.0);
        assert_eq!(get("shared_calldata_first_argument"), 1.0);
        assert_eq!(get("rate_same"), 0.5);
        assert_eq!(get("rate_any_max"), 0.25);
        assert_eq!(get("rate_seen"), 0.0);
        assert!(f.iter().all(|x| x.is_finite() && (0.0..=1.5).contains(x)));
        assert_eq!(schema_hash().len(), 16);
    }
}
