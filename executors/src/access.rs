//! What a transaction read and wrote: the currency of validation, routing and training.
//!
//! Reads carry the **values** seen, so the ordered commit can validate a speculative result by
//! value. Writes are the state diff. The beneficiary's fee credit is neither; it travels beside
//! them as a commutative delta (see [`crate::execute::TxOutcome::fee`]).

pub use crate::observe::BalanceUses;
use alloy_primitives::{Address, B256, U256};
use revm::state::AccountInfo;
use serde::{Deserialize, Serialize};

/// The parts of an account that a transaction can observe, besides its storage and code bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccountSummary {
    /// Balance in wei.
    pub balance: U256,
    /// Account nonce.
    pub nonce: u64,
    /// Keccak of the code (`KECCAK_EMPTY` for none).
    pub code_hash: B256,
}

impl From<&AccountInfo> for AccountSummary {
    fn from(info: &AccountInfo) -> Self {
        Self {
            balance: info.balance,
            nonce: info.nonce,
            code_hash: info.code_hash,
        }
    }
}

/// One piece of state, as a key. Used for conflict labels and the oracle router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum AccessKey {
    /// An account's balance, nonce or code hash.
    Account(Address),
    /// One storage slot.
    Storage(Address, U256),
    /// The hash of a past block.
    BlockHash(u64),
}

/// Every value a transaction read from state, captured at the `Database` boundary.
///
/// Each key appears once: revm's journal caches what it loaded, so the database sees the first
/// read only, which is the one whose value matters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadSet {
    /// Accounts and what they held; `None` means the account did not exist.
    pub accounts: Vec<(Address, Option<AccountSummary>)>,
    /// Storage slots and their values.
    pub storage: Vec<(Address, U256, U256)>,
    /// Block hashes read by BLOCKHASH.
    pub block_hashes: Vec<(u64, B256)>,
    /// Which balances the execution depended on; `None` (from an executor that does not
    /// record it) counts every balance as depended on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_uses: Option<Box<BalanceUses>>,
}

impl ReadSet {
    /// All keys read, in capture order.
    pub fn keys(&self) -> impl Iterator<Item = AccessKey> + '_ {
        let accounts = self.accounts.iter().map(|(a, _)| AccessKey::Account(*a));
        let slots = self
            .storage
            .iter()
            .map(|(a, s, _)| AccessKey::Storage(*a, *s));
        let hashes = self
            .block_hashes
            .iter()
            .map(|(n, _)| AccessKey::BlockHash(*n));
        accounts.chain(slots).chain(hashes)
    }

    /// What was read of `address`: `None` when the account was not read, `Some(None)` when it
    /// was read and did not exist.
    pub fn account(&self, address: &Address) -> Option<Option<AccountSummary>> {
        self.accounts
            .iter()
            .find(|(a, _)| a == address)
            .map(|(_, seen)| *seen)
    }

    /// Number of keys read.
    pub fn len(&self) -> usize {
        self.accounts.len() + self.storage.len() + self.block_hashes.len()
    }

    /// Returns `true` when nothing was read.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a transaction did to one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountWrite {
    /// The account no longer exists: self-destructed, or emptied and cleared under EIP-161.
    Deleted,
    /// The account exists with this info.
    Updated {
        /// Balance, nonce, code hash and code.
        info: AccountInfo,
        /// Storage was wiped before `storage` applies (the account was (re)created).
        storage_cleared: bool,
        /// Balance, nonce or code changed (or the account was created). A write of storage
        /// alone leaves the account's own key untouched: callers that only load the account
        /// (to run its code) do not depend on it.
        info_changed: bool,
        /// Slots whose value changed.
        storage: Vec<(U256, U256)>,
    },
}

impl AccountWrite {
    /// Whether the write covers the account's own key (deleted, recreated, or its balance,
    /// nonce or code changed), and the slots it writes. A write of storage alone leaves the
    /// account key untouched.
    pub fn written(&self) -> (bool, &[(U256, U256)]) {
        match self {
            Self::Deleted => (true, &[]),
            Self::Updated {
                storage,
                storage_cleared,
                info_changed,
                ..
            } => (*info_changed || *storage_cleared, storage),
        }
    }

    /// Whether the write deletes the account or wipes its storage, which invalidates every
    /// slot of it.
    pub fn wipes_storage(&self) -> bool {
        matches!(
            self,
            Self::Deleted
                | Self::Updated {
                    storage_cleared: true,
                    ..
                }
        )
    }
}

/// The state diff of one transaction, excluding the beneficiary's fee credit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteSet {
    /// Changed accounts, in no particular order.
    pub accounts: Vec<(Address, AccountWrite)>,
}

impl WriteSet {
    /// All keys written. A deleted or recreated account writes its account key; its wiped
    /// storage is implied by that key. An account whose storage alone changed writes only
    /// those slots.
    pub fn keys(&self) -> impl Iterator<Item = AccessKey> + '_ {
        self.accounts.iter().flat_map(|(address, write)| {
            let (account, slots) = write.written();
            account
                .then_some(AccessKey::Account(*address))
                .into_iter()
                .chain(slots.iter().map(|(s, _)| AccessKey::Storage(*address, *s)))
        })
    }

    /// Returns `true` when the write set touches `address` with a deletion or storage wipe, which
    /// invalidates every slot of that account.
    pub fn wipes(&self, address: &Address) -> bool {
        self.accounts
            .iter()
            .any(|(a, w)| a == address && w.wipes_storage())
    }
}
