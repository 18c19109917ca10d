//! Pre-block system contract updates (EIP-4788 beacon roots, EIP-2935 block history).
//!
//! Clients run these as system calls before the first transaction. Their effect is fixed by the
//! EIPs (two slots and one slot respectively), so they are applied as storage writes. A
//! transaction that reads the contracts then sees what it saw on chain. They apply only where
//! the contract exists in the pre-state: a pre-state that omits it has no transaction touching it.

use crate::{block::Block, state::State};
use alloy_eips::{
    eip2935::{HISTORY_SERVE_WINDOW, HISTORY_STORAGE_ADDRESS},
    eip4788::BEACON_ROOTS_ADDRESS,
};
use alloy_primitives::U256;
use revm::primitives::hardfork::SpecId;

/// EIP-4788's ring buffer length (the EIP's `HISTORY_BUFFER_LENGTH`).
const HISTORY_BUFFER_LENGTH: u64 = 8191;

/// Applies the pre-block system updates of `block` to its pre-state.
pub fn apply_pre_block(state: &mut State, block: &Block) {
    let Some(header) = &block.header else {
        return;
    };
    let spec = block.env.spec;
    if spec.is_enabled_in(SpecId::CANCUN)
        && let Some(root) = header.parent_beacon_block_root
    {
        let timestamp: u64 = block.env.block.timestamp.saturating_to();
        let index = timestamp % HISTORY_BUFFER_LENGTH;
        let timestamp_slot = U256::from(index);
        let root_slot = U256::from(index + HISTORY_BUFFER_LENGTH);
        state.set_storage(BEACON_ROOTS_ADDRESS, timestamp_slot, U256::from(timestamp));
        state.set_storage(BEACON_ROOTS_ADDRESS, root_slot, root.into());
    }
    let number = block.number();
    if spec.is_enabled_in(SpecId::PRAGUE) && number > 0 {
        let slot = U256::from((number - 1) % HISTORY_SERVE_WINDOW as u64);
        state.set_storage(HISTORY_STORAGE_ADDRESS, slot, header.parent_hash.into());
    }
}
