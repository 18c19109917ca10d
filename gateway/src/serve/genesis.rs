//! The dev genesis: accounts from the well-known test mnemonic, prefunded as anvil and hardhat
//! do, so existing tools and keys work unchanged.

use super::error::ServeError;
use alloy_primitives::{Address, U256};
use alloy_signer_local::{
    PrivateKeySigner,
    coins_bip39::{English, Mnemonic},
};
use coins_bip32::prelude::{Parent, XPriv};
use switchyard_executors::State;

/// The BIP-44 account path of Ethereum; account `i` is its child `i`.
pub const DEV_PATH: &str = "m/44'/60'/0'/0";

/// Derives the first `n` dev keys of `mnemonic` (m/44'/60'/0'/0/i).
///
/// The seed and the parent key are derived once, so large `n` costs one child derivation each.
pub fn dev_signers(mnemonic: &str, n: usize) -> Result<Vec<PrivateKeySigner>, ServeError> {
    let bad = |e: &dyn std::fmt::Display| ServeError::Genesis(format!("mnemonic: {e}"));
    let mnemonic = Mnemonic::<English>::new_from_phrase(mnemonic).map_err(|e| bad(&e))?;
    let parent: XPriv = mnemonic.derive_key(DEV_PATH, None).map_err(|e| bad(&e))?;
    (0..n)
        .map(|i| {
            let index = u32::try_from(i).map_err(|e| bad(&e))?;
            let child = parent.derive_child(index).map_err(|e| bad(&e))?;
            let key: &alloy_signer::k256::ecdsa::SigningKey = child.as_ref();
            Ok(PrivateKeySigner::from_signing_key(key.clone()))
        })
        .collect()
}

/// The dev accounts' addresses.
pub fn dev_addresses(mnemonic: &str, n: usize) -> Result<Vec<Address>, ServeError> {
    Ok(dev_signers(mnemonic, n)?
        .iter()
        .map(PrivateKeySigner::address)
        .collect())
}

/// The genesis state: every dev account with `balance` wei and nothing else.
pub fn dev_state(accounts: &[Address], balance: U256) -> State {
    let mut state = State::new();
    for address in accounts {
        state.insert_account(*address, balance, 0, None, []);
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::config::DEV_MNEMONIC;
    use alloy_primitives::address;

    #[test]
    fn derives_the_anvil_accounts() {
        let addresses = dev_addresses(DEV_MNEMONIC, 3).unwrap();
        assert_eq!(
            addresses,
            [
                address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
                address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"),
                address!("3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
            ]
        );
    }

    #[test]
    fn bad_mnemonic_is_an_error() {
        assert!(dev_addresses("not a mnemonic at all", 1).is_err());
    }
}
