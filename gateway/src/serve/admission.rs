//! Admission of raw transactions: decode the EIP-2718 envelope, recover the sender and check
//! everything that does not depend on the sender's account. The account checks (nonce,
//! balance, replacement, capacity) happen in [`super::txpool::TxPool::insert`] under the pool's
//! lock, against the committed state plus what is pending.
//!
//! Everything revm would reject at execution is rejected here first, so a block never carries
//! an invalid transaction: chain id, intrinsic and floor gas, gas limit against the block, fee
//! cap against the next base fee, tip against fee cap, init code size, sender with code.

use super::{
    error::{RejectReason, Rejection},
    txpool::PooledTx,
};
use alloy_consensus::{Transaction as _, TxEnvelope, transaction::SignerRecoverable};
use alloy_eips::Decodable2718;
use alloy_primitives::{Address, U256};
use revm::{
    bytecode::Bytecode,
    context_interface::cfg::gas_params::GasParams,
    primitives::{KECCAK_EMPTY, hardfork::SpecId},
};
use switchyard_executors::{StateReader, block::tx_env};

/// EIP-3860's init code limit (twice the EIP-170 code limit).
pub const MAX_INITCODE_SIZE: usize = 2 * 24_576;

/// The chain rules admission checks against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Chain id transactions must be signed for.
    pub chain_id: u64,
    /// Fork rules (intrinsic gas, floor gas).
    pub spec: SpecId,
    /// Block gas limit.
    pub block_gas_limit: u64,
    /// Largest encoded transaction.
    pub max_tx_bytes: usize,
}

/// A decoded, sender-recovered transaction that passed the stateless checks.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The pool entry (arrival is assigned on insertion).
    pub tx: PooledTx,
}

/// Decodes and checks `raw` without the sender's account; recovers the sender (the expensive
/// part: do it outside any lock). `base_fee` is the next block's base fee.
pub fn decode(raw: &[u8], rules: &Rules, base_fee: u128) -> Result<Decoded, Rejection> {
    if raw.len() > rules.max_tx_bytes {
        return Err(Rejection::new(
            RejectReason::Oversized,
            format!(
                "oversized data: transaction size {}, limit {}",
                raw.len(),
                rules.max_tx_bytes
            ),
        ));
    }
    let envelope = decode_envelope(raw)?;
    let sender = recover(&envelope)?;
    let tx = check_stateless(envelope, sender, rules, base_fee)?;
    Ok(Decoded { tx })
}

/// Decodes an EIP-2718 envelope; blob transactions are refused with a clear message.
pub fn decode_envelope(raw: &[u8]) -> Result<TxEnvelope, Rejection> {
    if raw.is_empty() {
        return Err(Rejection::new(
            RejectReason::Malformed,
            "typed transaction too short",
        ));
    }
    let mut buf = raw;
    let envelope = TxEnvelope::decode_2718(&mut buf)
        .map_err(|e| Rejection::new(RejectReason::Malformed, format!("rlp: {e}")))?;
    if !buf.is_empty() {
        return Err(Rejection::new(
            RejectReason::Malformed,
            format!("rlp: {} trailing bytes after the transaction", buf.len()),
        ));
    }
    if envelope.is_eip4844() {
        return Err(Rejection::new(
            RejectReason::UnsupportedType,
            "transaction type not supported: EIP-4844 blob transactions are not accepted by this gateway",
        ));
    }
    Ok(envelope)
}

/// Recovers the signer; rejects high-s signatures (EIP-2).
pub fn recover(envelope: &TxEnvelope) -> Result<Address, Rejection> {
    envelope
        .recover_signer()
        .map_err(|e| Rejection::new(RejectReason::InvalidSender, format!("invalid sender: {e}")))
}

/// The checks that need neither the signature nor the account.
pub fn check_stateless(
    envelope: TxEnvelope,
    sender: Address,
    rules: &Rules,
    base_fee: u128,
) -> Result<PooledTx, Rejection> {
    let reject = |reason, message: String| Err(Rejection::new(reason, message));
    match envelope.chain_id() {
        Some(id) if id != rules.chain_id => {
            return reject(
                RejectReason::ChainId,
                format!(
                    "invalid chain id for signer: have {id} want {}",
                    rules.chain_id
                ),
            );
        }
        // Legacy without EIP-155 is accepted: it is valid on every chain.
        _ => {}
    }
    let gas_limit = envelope.gas_limit();
    if gas_limit > rules.block_gas_limit {
        return reject(
            RejectReason::GasLimit,
            format!(
                "exceeds block gas limit: gas {gas_limit}, block gas limit {}",
                rules.block_gas_limit
            ),
        );
    }
    let env = tx_env(&envelope, sender);
    let gas = GasParams::new_spec(rules.spec).initial_tx_gas_for_tx(&env, None);
    let intrinsic = gas.initial_total_gas();
    if gas_limit < intrinsic {
        return reject(
            RejectReason::IntrinsicGas,
            format!("intrinsic gas too low: gas {gas_limit}, minimum needed {intrinsic}"),
        );
    }
    if rules.spec.is_enabled_in(SpecId::PRAGUE) && gas_limit < gas.floor_gas() {
        return reject(
            RejectReason::IntrinsicGas,
            format!(
                "insufficient gas for floor data gas cost: gas {gas_limit}, minimum needed {}",
                gas.floor_gas()
            ),
        );
    }
    if envelope.kind().is_create() && envelope.input().len() > MAX_INITCODE_SIZE {
        return reject(
            RejectReason::Oversized,
            format!(
                "max initcode size exceeded: code size {} limit {MAX_INITCODE_SIZE}",
                envelope.input().len()
            ),
        );
    }
    if envelope.is_eip7702()
        && envelope
            .authorization_list()
            .is_none_or(|list| list.is_empty())
    {
        return reject(
            RejectReason::Malformed,
            "EIP-7702 transaction with empty auth list".into(),
        );
    }
    let max_fee = envelope.max_fee_per_gas();
    let max_priority_fee = envelope.max_priority_fee_per_gas().unwrap_or(max_fee);
    if max_priority_fee > max_fee {
        return reject(
            RejectReason::TipAboveFeeCap,
            format!(
                "max priority fee per gas higher than max fee per gas: address {sender}, maxPriorityFeePerGas: {max_priority_fee}, maxFeePerGas: {max_fee}"
            ),
        );
    }
    if max_fee < base_fee {
        return reject(
            RejectReason::FeeCapTooLow,
            format!(
                "max fee per gas less than block base fee: address {sender}, maxFeePerGas: {max_fee}, baseFee: {base_fee}"
            ),
        );
    }
    if envelope.nonce() == u64::MAX {
        return reject(RejectReason::NonceGap, "nonce has max value".into());
    }
    let cost = U256::from(gas_limit)
        .saturating_mul(U256::from(max_fee))
        .saturating_add(envelope.value());
    Ok(PooledTx {
        hash: *envelope.tx_hash(),
        sender,
        nonce: envelope.nonce(),
        gas_limit,
        max_fee,
        max_priority_fee,
        cost,
        envelope,
        arrival: 0,
    })
}

/// EIP-3607: a sender with code cannot send, unless the code is an EIP-7702 delegation.
pub fn check_sender_code(state: &impl StateReader, sender: &Address) -> Result<(), Rejection> {
    let Some(summary) = state.summary(sender) else {
        return Ok(());
    };
    if summary.code_hash == KECCAK_EMPTY {
        return Ok(());
    }
    let delegated = state
        .code(&summary.code_hash)
        .is_some_and(|code: Bytecode| code.is_eip7702());
    if delegated {
        return Ok(());
    }
    Err(Rejection::new(
        RejectReason::InvalidSender,
        format!(
            "sender not an eoa: address {sender}, codehash: {}",
            summary.code_hash
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::{SignableTransaction, TxEip1559, TxLegacy};
    use alloy_eips::Encodable2718;
    use alloy_primitives::{Bytes, TxKind};
    use alloy_signer::SignerSync;
    use alloy_signer_local::PrivateKeySigner;

    fn rules() -> Rules {
        Rules {
            chain_id: 1337,
            spec: SpecId::PRAGUE,
            block_gas_limit: 30_000_000,
            max_tx_bytes: 128 * 1024,
        }
    }

    fn signer() -> PrivateKeySigner {
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
            .parse()
            .unwrap()
    }

    fn raw(tx: TxEip1559) -> Vec<u8> {
        let sig = signer().sign_hash_sync(&tx.signature_hash()).unwrap();
        TxEnvelope::from(tx.into_signed(sig)).encoded_2718()
    }

    fn transfer() -> TxEip1559 {
        TxEip1559 {
            chain_id: 1337,
            nonce: 0,
            gas_limit: 21_000,
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            to: TxKind::Call(Address::with_last_byte(1)),
            value: U256::from(1),
            access_list: Default::default(),
            input: Bytes::new(),
        }
    }

    fn reason(raw: &[u8]) -> RejectReason {
        decode(raw, &rules(), 1_000_000_000).unwrap_err().reason
    }

    #[test]
    fn accepts_a_transfer_and_recovers_the_sender() {
        let decoded = decode(&raw(transfer()), &rules(), 1_000_000_000).unwrap();
        assert_eq!(decoded.tx.sender, signer().address());
        assert_eq!(decoded.tx.cost, U256::from(21_000u64 * 2_000_000_000 + 1));
    }

    #[test]
    fn rejects_each_stateless_fault() {
        assert_eq!(reason(&[0x02, 0xc0]), RejectReason::Malformed);
        assert_eq!(reason(&[]), RejectReason::Malformed);
        assert_eq!(
            reason(&raw(TxEip1559 {
                chain_id: 1,
                ..transfer()
            })),
            RejectReason::ChainId
        );
        assert_eq!(
            reason(&raw(TxEip1559 {
                gas_limit: 20_000,
                ..transfer()
            })),
            RejectReason::IntrinsicGas
        );
        assert_eq!(
            reason(&raw(TxEip1559 {
                gas_limit: 30_000_001,
                ..transfer()
            })),
            RejectReason::GasLimit
        );
        assert_eq!(
            reason(&raw(TxEip1559 {
                max_fee_per_gas: 10,
                max_priority_fee_per_gas: 1,
                ..transfer()
            })),
            RejectReason::FeeCapTooLow
        );
        assert_eq!(
            reason(&raw(TxEip1559 {
                max_priority_fee_per_gas: 3_000_000_000,
                ..transfer()
            })),
            RejectReason::TipAboveFeeCap
        );
        // r = s = 0 recovers no key.
        let zero = alloy_primitives::Signature::new(U256::ZERO, U256::ZERO, false);
        let bad_sig = TxEnvelope::from(transfer().into_signed(zero)).encoded_2718();
        assert_eq!(reason(&bad_sig), RejectReason::InvalidSender);
    }

    #[test]
    fn legacy_without_replay_protection_is_accepted() {
        let tx = TxLegacy {
            chain_id: None,
            nonce: 0,
            gas_price: 2_000_000_000,
            gas_limit: 21_000,
            to: TxKind::Call(Address::with_last_byte(1)),
            value: U256::ZERO,
            input: Bytes::new(),
        };
        let sig = signer().sign_hash_sync(&tx.signature_hash()).unwrap();
        let raw = TxEnvelope::from(tx.into_signed(sig)).encoded_2718();
        let decoded = decode(&raw, &rules(), 1_000_000_000).unwrap();
        assert_eq!(decoded.tx.max_priority_fee, 2_000_000_000);
    }
}
