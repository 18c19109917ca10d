//! Stable hashes of state keys and candidate keys, as stored in traffic logs.
//!
//! Logs keep keys hashed: they stay small and do not spell out storage layouts, yet equal keys
//! still compare equal across transactions, which is all labels need. The hash is the first 8
//! bytes of keccak-256 over a tagged encoding, so it is stable across builds and platforms.

use alloy_primitives::{Address, U256, keccak256};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use switchyard_executors::AccessKey;

/// A 64-bit hash of a state key, written in logs as 16 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyHash(pub u64);

const TAG_ACCOUNT: u8 = 1;
const TAG_STORAGE: u8 = 2;
const TAG_BLOCK_HASH: u8 = 3;
/// "Any storage slot of this account": read by every slot read, written by a storage wipe.
const TAG_STORAGE_OF: u8 = 4;

impl KeyHash {
    fn of(bytes: &[u8]) -> Self {
        let digest = keccak256(bytes);
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        Self(u64::from_be_bytes(first))
    }

    /// The hash of an access key.
    pub fn access(key: &AccessKey) -> Self {
        match key {
            AccessKey::Account(address) => Self::account(address),
            AccessKey::Storage(address, slot) => Self::storage(address, slot),
            AccessKey::BlockHash(number) => {
                let mut buf = [0u8; 9];
                buf[0] = TAG_BLOCK_HASH;
                buf[1..].copy_from_slice(&number.to_be_bytes());
                Self::of(&buf)
            }
        }
    }

    /// The hash of an account key; also the hash of an address as a candidate key, so the
    /// two can be joined.
    pub fn account(address: &Address) -> Self {
        let mut buf = [0u8; 21];
        buf[0] = TAG_ACCOUNT;
        buf[1..].copy_from_slice(address.as_slice());
        Self::of(&buf)
    }

    /// The hash of one storage slot.
    pub fn storage(address: &Address, slot: &U256) -> Self {
        let mut buf = [0u8; 53];
        buf[0] = TAG_STORAGE;
        buf[1..21].copy_from_slice(address.as_slice());
        buf[21..].copy_from_slice(&slot.to_be_bytes::<32>());
        Self::of(&buf)
    }

    /// The pseudo-key "some storage slot of `address`": a wipe (self-destruct or re-creation)
    /// writes it, and every slot read reads it, so a wipe conflicts with later slot reads.
    pub fn storage_of(address: &Address) -> Self {
        let mut buf = [0u8; 21];
        buf[0] = TAG_STORAGE_OF;
        buf[1..].copy_from_slice(address.as_slice());
        Self::of(&buf)
    }
}

impl fmt::Display for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl Serialize for KeyHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for KeyHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        if text.len() != 16 {
            return Err(serde::de::Error::custom(format!(
                "key hash must be 16 hex digits, got {text:?}"
            )));
        }
        u64::from_str_radix(&text, 16)
            .map(Self)
            .map_err(|e| serde::de::Error::custom(format!("key hash {text:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_stable_and_round_trip() {
        let a = Address::repeat_byte(0x11);
        assert_eq!(
            KeyHash::account(&a),
            KeyHash::access(&AccessKey::Account(a))
        );
        assert_ne!(KeyHash::account(&a), KeyHash::storage_of(&a));
        let h = KeyHash::storage(&a, &U256::from(7));
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json.len(), 18);
        assert_eq!(serde_json::from_str::<KeyHash>(&json).unwrap(), h);
        assert!(serde_json::from_str::<KeyHash>("\"xyz\"").is_err());
    }
}
