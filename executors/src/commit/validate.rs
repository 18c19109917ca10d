//! Validation by value, and balance deltas: when a stale result may be shifted instead of
//! re-executed.

use crate::{
    access::{AccountSummary, AccountWrite, BalanceUses, ReadSet},
    block::BlockTx,
    execute::TxOutcome,
    state::StateReader,
};
use alloy_primitives::{Address, U256};
use revm::primitives::KECCAK_EMPTY;

/// Returns `true` when every value in `reads` equals the value in `state`.
pub fn validate(reads: &ReadSet, state: &impl StateReader) -> bool {
    reads
        .accounts
        .iter()
        .all(|(address, seen)| state.summary(address) == *seen)
        && slots_and_hashes_match(reads, state)
}

/// Returns `true` when every storage slot and block hash in `reads` equals the value in
/// `state`: all of [`validate`] but the accounts.
fn slots_and_hashes_match(reads: &ReadSet, state: &impl StateReader) -> bool {
    reads
        .storage
        .iter()
        .all(|(address, slot, seen)| state.storage(address, slot) == *seen)
        && reads
            .block_hashes
            .iter()
            .all(|(number, seen)| state.block_hash(*number) == Some(*seen))
}

/// Returns `true` for a plain value transfer: empty input to an account without code (as read),
/// no authorizations, no blobs. Its outcome depends on the balances it touches only through the
/// up-front funds check, so a balance it read may differ at commit by any amount that still
/// covers that check: its balance changes are deltas.
pub fn is_plain_transfer(tx: &BlockTx, reads: &ReadSet) -> bool {
    let Some(to) = tx.to() else {
        return false;
    };
    let env = &tx.env;
    let target_has_code = reads
        .account(&to)
        .is_none_or(|seen| seen.is_some_and(|s| s.code_hash != KECCAK_EMPTY));
    env.data.is_empty()
        && !target_has_code
        && env.authorization_list.is_empty()
        && env.blob_hashes.is_empty()
}

/// Validates a result whose only stale reads are balances its outcome did not depend on, and
/// shifts its writes of those balances by the difference: they were deltas. Returns the
/// adjusted outcome, or `None` when it must be re-executed.
///
/// A balance may differ when the execution did not observe it ([`crate::observe`]: no
/// `BALANCE`, no failed payment, every payment still covered), it is not the sender's (the
/// up-front funds check sees it), and the account is not empty in either view (emptiness decides
/// gas and EIP-161 clearing). A plain transfer may also differ on the beneficiary's balance when
/// the beneficiary sends it and can still pay for it.
pub(super) fn rebase_balances(
    tx: &BlockTx,
    mut outcome: TxOutcome,
    state: &impl StateReader,
    beneficiary: Address,
) -> Option<TxOutcome> {
    let plain = is_plain_transfer(tx, &outcome.reads);
    let mut shifts: Vec<(Address, U256, U256)> = Vec::new();
    for (address, seen) in &outcome.reads.accounts {
        let now = state.summary(address);
        if now == *seen {
            continue;
        }
        let (Some(seen), Some(now)) = (seen, now) else {
            return None;
        };
        if seen.nonce != now.nonce || seen.code_hash != now.code_hash {
            return None;
        }
        let delta = if plain && *address == beneficiary {
            tx.sender != beneficiary || now.balance >= upfront_cost(tx)?
        } else {
            let uses = outcome.reads.balance_uses.as_ref()?;
            is_delta(tx, uses, address, seen, &now)
        };
        if !delta {
            return None;
        }
        shifts.push((*address, seen.balance, now.balance));
    }
    if shifts.is_empty() || !slots_and_hashes_match(&outcome.reads, state) {
        return None;
    }
    for (address, write) in &mut outcome.writes.accounts {
        let Some((_, seen, now)) = shifts.iter().find(|(a, _, _)| a == address) else {
            continue;
        };
        let AccountWrite::Updated { info, .. } = write else {
            return None;
        };
        info.balance = if info.balance >= *seen {
            now.checked_add(info.balance - seen)?
        } else {
            now.checked_sub(seen - info.balance)?
        };
    }
    for (address, read) in &mut outcome.reads.accounts {
        if let (Some((_, _, now)), Some(read)) =
            (shifts.iter().find(|(a, _, _)| a == address), read)
        {
            read.balance = *now;
        }
    }
    Some(outcome)
}

/// Returns `true` when `address`'s balance entered the outcome only as a delta, so a start
/// at `now` instead of `seen` changes nothing else.
fn is_delta(
    tx: &BlockTx,
    uses: &BalanceUses,
    address: &Address,
    seen: &AccountSummary,
    now: &AccountSummary,
) -> bool {
    if !takes_balance_as_delta(tx, uses, address, seen) || is_empty(seen, now.balance) {
        return false;
    }
    // Every payment out succeeded with `headroom` to spare; starting lower by more would fail one.
    uses.headroom(address).is_none_or(|headroom| {
        now.balance
            .checked_add(headroom)
            .is_none_or(|covered| covered >= seen.balance)
    })
}

/// Returns `true` when, as far as its own run tells, `tx` took `address`'s balance (read as
/// `seen`) only as a delta: it did not observe it, it is not the sender's (the up-front funds
/// check sees that), and the account was not empty (emptiness decides gas and EIP-161
/// clearing). Shared with [`crate::router::true_dependencies`].
pub fn takes_balance_as_delta(
    tx: &BlockTx,
    uses: &BalanceUses,
    address: &Address,
    seen: &AccountSummary,
) -> bool {
    *address != tx.sender && !uses.observed(address) && !is_empty(seen, seen.balance)
}

/// Whether an account with `seen`'s nonce and code and this balance is empty (EIP-161).
fn is_empty(seen: &AccountSummary, balance: U256) -> bool {
    seen.nonce == 0 && seen.code_hash == KECCAK_EMPTY && balance.is_zero()
}

/// The most a transaction can cost its sender up front: gas limit at its price, plus value.
fn upfront_cost(tx: &BlockTx) -> Option<U256> {
    let env = &tx.env;
    U256::from(env.gas_limit)
        .checked_mul(U256::from(env.gas_price))?
        .checked_add(env.value)
}
