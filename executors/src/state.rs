//! In-memory state: a base snapshot ([`State`]) and a block's changes over it ([`Overlay`]).
//!
//! The base is shared read-only (`Arc`) by every pool executing a block; each pool, and the
//! ordered commit, keeps its own [`Overlay`] of writes on top. Both implement [`StateReader`],
//! the narrow read interface that the EVM adapter ([`crate::capture`]) and validation use.

use crate::{
    access::{AccountSummary, AccountWrite, WriteSet},
    error::{Error, Result, StateError},
};
use alloy_primitives::{
    Address, B256, Bytes, U256,
    map::{Entry, HashMap},
};
use revm::{
    bytecode::Bytecode,
    primitives::{KECCAK_EMPTY, hardfork::SpecId},
    state::AccountInfo,
};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, path::Path, sync::Arc};

/// Read access to world state, as the EVM and the validator need it.
pub trait StateReader {
    /// The account at `address`, with its code attached, or `None` if it does not exist.
    fn account(&self, address: &Address) -> Option<AccountInfo>;
    /// Balance, nonce and code hash only; cheaper than [`StateReader::account`].
    fn summary(&self, address: &Address) -> Option<AccountSummary>;
    /// A storage slot's value; zero when unset or when the account does not exist.
    fn storage(&self, address: &Address, slot: &U256) -> U256;
    /// The hash of block `number`, when known.
    fn block_hash(&self, number: u64) -> Option<B256>;
    /// Bytecode by its hash, when known.
    fn code(&self, hash: &B256) -> Option<Bytecode>;
}

/// One account of the base state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Balance, nonce, code hash and code.
    pub info: AccountInfo,
    /// Storage slots that are set.
    pub storage: HashMap<U256, U256>,
}

/// A snapshot of world state: accounts, code, storage and block hashes. Serializable, so a
/// remote executor can be sent a snapshot of the gateway's head.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    accounts: HashMap<Address, Account>,
    codes: HashMap<B256, Bytecode>,
    block_hashes: HashMap<u64, B256>,
}

impl State {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces an account; its code is indexed by hash.
    pub fn insert_account(
        &mut self,
        address: Address,
        balance: U256,
        nonce: u64,
        code: Option<Bytes>,
        storage: impl IntoIterator<Item = (U256, U256)>,
    ) {
        let info = match code.filter(|c| !c.is_empty()) {
            Some(code) => {
                let bytecode = Bytecode::new_raw(code);
                let hash = bytecode.hash_slow();
                self.codes.insert(hash, bytecode.clone());
                AccountInfo::new(balance, nonce, hash, bytecode)
            }
            None => AccountInfo::from_balance(balance).with_nonce(nonce),
        };
        let storage = storage.into_iter().filter(|(_, v)| !v.is_zero()).collect();
        self.accounts.insert(address, Account { info, storage });
    }

    /// Sets an account's balance, keeping its nonce, code and storage; creates the account
    /// when there is none.
    pub fn set_balance(&mut self, address: Address, balance: U256) {
        self.accounts.entry(address).or_default().info.balance = balance;
    }

    /// Records the hash of a past block, for BLOCKHASH.
    pub fn insert_block_hash(&mut self, number: u64, hash: B256) {
        self.block_hashes.insert(number, hash);
    }

    /// Sets a storage slot of an existing account; returns `false` when there is no account.
    pub fn set_storage(&mut self, address: Address, slot: U256, value: U256) -> bool {
        let Some(account) = self.accounts.get_mut(&address) else {
            return false;
        };
        if value.is_zero() {
            account.storage.remove(&slot);
        } else {
            account.storage.insert(slot, value);
        }
        true
    }

    /// Number of accounts.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Returns `true` when the state holds no account.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// Iterates over the accounts.
    pub fn accounts(&self) -> impl Iterator<Item = (&Address, &Account)> {
        self.accounts.iter()
    }

    /// Loads the shared prestate format: `{"0xaddr": {"balance", "nonce", "code", "storage"}}`.
    pub fn from_prestate_file(path: &Path) -> Result<Self> {
        let raw: BTreeMap<Address, PrestateAccount> = read_json(path, "prestate")?;
        let mut state = Self::new();
        for (address, account) in raw {
            let storage = account
                .storage
                .into_iter()
                .map(|(k, v)| (k.0, v.0))
                .collect::<Vec<_>>();
            state.insert_account(
                address,
                account.balance.0,
                account.nonce.0.to::<u64>(),
                account.code,
                storage,
            );
        }
        Ok(state)
    }

    /// Loads `block_hashes.json` (`{"<decimal number>": "0xhash"}`) into this state.
    pub fn load_block_hashes(&mut self, path: &Path) -> Result<()> {
        let raw: BTreeMap<String, B256> = read_json(path, "block hashes")?;
        for (number, hash) in raw {
            let number = number.parse::<u64>().map_err(|e| Error::Malformed {
                what: "block hashes",
                path: path.to_owned(),
                reason: format!("key {number:?} is not a block number: {e}"),
            })?;
            self.insert_block_hash(number, hash);
        }
        Ok(())
    }

    /// Builds a state from a geth-style genesis `alloc`.
    pub fn from_genesis_alloc<'a>(
        alloc: impl IntoIterator<Item = (&'a Address, &'a alloy_genesis::GenesisAccount)>,
    ) -> Self {
        let mut state = Self::new();
        for (address, account) in alloc {
            let storage = account
                .storage
                .iter()
                .flatten()
                .map(|(k, v)| (U256::from_be_bytes(k.0), U256::from_be_bytes(v.0)));
            state.insert_account(
                *address,
                account.balance,
                account.nonce.unwrap_or_default(),
                account.code.clone(),
                storage.collect::<Vec<_>>(),
            );
        }
        state
    }

    /// Loads a geth genesis file and builds the state from its `alloc`.
    pub fn from_genesis_file(path: &Path) -> Result<Self> {
        let genesis: alloy_genesis::Genesis = read_json(path, "genesis")?;
        Ok(Self::from_genesis_alloc(&genesis.alloc))
    }

    /// Folds a block's changes into this snapshot, producing the next block's base.
    pub fn apply(&mut self, overlay: &Overlay) {
        let settled = overlay.settled_fee_change();
        let pending = settled.as_ref().map(|(address, _)| *address);
        let changes = overlay
            .changes
            .iter()
            .filter(|(address, _)| Some(**address) != pending)
            .chain(settled.as_ref().map(|(address, change)| (address, change)));
        self.apply_changes(changes);
    }

    /// Folds a committed block's diff (from [`Overlay::diff`]) into this snapshot: what a
    /// remote executor's replica does with the diffs the gateway streams.
    pub fn apply_diff(&mut self, diff: &StateDiff) {
        self.apply_changes(
            diff.changes
                .iter()
                .map(|(address, change)| (address, change)),
        );
        for (number, hash) in &diff.block_hashes {
            self.insert_block_hash(*number, *hash);
        }
    }

    fn apply_changes<'a>(&mut self, changes: impl Iterator<Item = (&'a Address, &'a Change)>) {
        for (address, change) in changes {
            match change {
                Change::Deleted => {
                    self.accounts.remove(address);
                }
                Change::Live {
                    info,
                    storage_cleared,
                    storage,
                } => {
                    if let Some(code) = &info.code {
                        self.codes
                            .entry(info.code_hash)
                            .or_insert_with(|| code.clone());
                    }
                    let account = self.accounts.entry(*address).or_default();
                    account.info = info.clone();
                    if *storage_cleared {
                        account.storage.clear();
                    }
                    for (slot, value) in storage {
                        if value.is_zero() {
                            account.storage.remove(slot);
                        } else {
                            account.storage.insert(*slot, *value);
                        }
                    }
                }
            }
        }
    }
}

/// A committed block's changes as plain data: every changed account (fee credits settled) and
/// the block hashes to record. Applying it to the block's pre-state gives its post-state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateDiff {
    /// Changed accounts, in no particular order (each address once).
    pub changes: Vec<(Address, Change)>,
    /// Block hashes to record (the committed block's own, for BLOCKHASH later).
    pub block_hashes: Vec<(u64, B256)>,
}

impl StateReader for State {
    fn account(&self, address: &Address) -> Option<AccountInfo> {
        self.accounts.get(address).map(|a| a.info.clone())
    }

    fn summary(&self, address: &Address) -> Option<AccountSummary> {
        self.accounts.get(address).map(|a| (&a.info).into())
    }

    fn storage(&self, address: &Address, slot: &U256) -> U256 {
        self.accounts
            .get(address)
            .and_then(|a| a.storage.get(slot).copied())
            .unwrap_or_default()
    }

    fn block_hash(&self, number: u64) -> Option<B256> {
        self.block_hashes.get(&number).copied()
    }

    fn code(&self, hash: &B256) -> Option<Bytecode> {
        if *hash == KECCAK_EMPTY {
            return Some(Bytecode::default());
        }
        self.codes.get(hash).cloned()
    }
}

/// A block's changes to one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// The account no longer exists.
    Deleted,
    /// The account exists with this info; slots not in `storage` come from the base unless the
    /// storage was cleared.
    Live {
        /// Current balance, nonce, code hash and code.
        info: AccountInfo,
        /// Base storage no longer applies (the account was deleted or recreated in this block).
        storage_cleared: bool,
        /// Slots written in this block.
        storage: HashMap<U256, U256>,
    },
}

/// Overwrites `current` with `info`, keeping its code when the hash says it is the same: the
/// code is shared by every pool that runs the contract, and cloning it bumps a reference count
/// that the other cores then have to fetch back.
fn set_info(current: &mut AccountInfo, info: &AccountInfo) {
    // Field by field, so that a field revm adds is a compile error here, not a silent loss.
    let AccountInfo {
        balance,
        nonce,
        code_hash,
        account_id,
        code,
    } = info;
    if current.code_hash != *code_hash || current.code.is_none() {
        current.code.clone_from(code);
    }
    current.balance = *balance;
    current.nonce = *nonce;
    current.code_hash = *code_hash;
    current.account_id = *account_id;
}

/// Writes accumulated over a shared base state.
///
/// The sequential reference, each pool and the ordered commit each own one. Two overlays over
/// the same base that compare equal describe the same post-state.
#[derive(Debug, Clone)]
pub struct Overlay {
    base: Arc<State>,
    changes: HashMap<Address, Change>,
    fees: PendingFees,
}

/// Fee credits to the beneficiary not yet folded into its account.
///
/// Crediting is O(1) per transaction; the sum is applied whenever the beneficiary is read and
/// folded in when a transaction writes the account (its write already includes the sum, since
/// it read through this) or when the block is settled.
#[derive(Debug, Clone, Copy)]
struct PendingFees {
    beneficiary: Address,
    amount: U256,
    /// At least one credit happened: the account counts as touched (EIP-161).
    touched: bool,
    spec: SpecId,
}

impl PendingFees {
    const NONE: Self = Self {
        beneficiary: Address::ZERO,
        amount: U256::ZERO,
        touched: false,
        spec: SpecId::FRONTIER,
    };

    fn applies_to(&self, address: &Address) -> bool {
        self.touched && self.beneficiary == *address
    }

    /// The beneficiary's account after the pending credits, as revm's `reward_beneficiary`
    /// leaves it: touched even for a zero fee, so under EIP-161 an empty account is cleared,
    /// and before it a missing one is created.
    fn resolve(&self, info: Option<AccountInfo>) -> Option<AccountInfo> {
        let mut info = info.unwrap_or_default();
        info.balance = info.balance.saturating_add(self.amount);
        (!(self.spec.is_enabled_in(SpecId::SPURIOUS_DRAGON) && info.is_empty())).then_some(info)
    }
}

impl PartialEq for Overlay {
    /// Equal when both describe the same post-state, however they got there.
    fn eq(&self, other: &Self) -> bool {
        self.post_state() == other.post_state()
    }
}

/// One account after a block: `None` if it does not exist, else its summary and every non-zero
/// storage slot known to the base or the block.
pub type PostAccount = Option<(AccountSummary, BTreeMap<U256, U256>)>;

impl Overlay {
    /// An overlay with no changes yet.
    pub fn new(base: Arc<State>) -> Self {
        Self {
            base,
            changes: HashMap::default(),
            fees: PendingFees::NONE,
        }
    }

    /// The shared base.
    pub fn base(&self) -> &Arc<State> {
        &self.base
    }

    /// The changes made so far, by account.
    pub fn changes(&self) -> &HashMap<Address, Change> {
        &self.changes
    }

    /// The accounts whose state differs from the base, in full.
    pub fn post_state(&self) -> BTreeMap<Address, PostAccount> {
        let mut out = BTreeMap::new();
        let pending = self.fees.touched.then_some(&self.fees.beneficiary);
        for address in self.changes.keys().chain(pending) {
            let resolve = |reader: &dyn StateReader| -> PostAccount {
                let summary = reader.summary(address)?;
                let base_slots = self.base.accounts.get(address).into_iter();
                let block_slots = match self.changes.get(address) {
                    Some(Change::Live { storage, .. }) => Some(storage.keys()),
                    _ => None,
                };
                let slots = base_slots
                    .flat_map(|a| a.storage.keys())
                    .chain(block_slots.into_iter().flatten())
                    .map(|slot| (*slot, reader.storage(address, slot)))
                    .filter(|(_, v)| !v.is_zero())
                    .collect();
                Some((summary, slots))
            };
            let after = resolve(self);
            if after != resolve(self.base.as_ref()) {
                out.insert(*address, after);
            }
        }
        out
    }

    /// Applies a transaction's write set.
    pub fn apply(&mut self, writes: &WriteSet) {
        for (address, write) in &writes.accounts {
            if self.fees.applies_to(address) {
                // The writer read the account through the pending credits: its value has them.
                self.fees.amount = U256::ZERO;
                self.fees.touched = false;
            }
            match write {
                AccountWrite::Deleted => {
                    self.changes.insert(*address, Change::Deleted);
                }
                AccountWrite::Updated {
                    info,
                    storage_cleared,
                    storage,
                    ..
                } => match self.changes.entry(*address) {
                    Entry::Occupied(mut entry) => match entry.get_mut() {
                        Change::Live {
                            info: current,
                            storage: slots,
                            ..
                        } if !*storage_cleared => {
                            set_info(current, info);
                            slots.extend(storage.iter().copied());
                        }
                        // Deleted earlier in the block, or recreated: the base's storage is
                        // gone.
                        change => {
                            *change = Change::Live {
                                info: info.clone(),
                                storage_cleared: true,
                                storage: storage.iter().copied().collect(),
                            };
                        }
                    },
                    Entry::Vacant(entry) => {
                        entry.insert(Change::Live {
                            info: info.clone(),
                            storage_cleared: *storage_cleared,
                            storage: storage.iter().copied().collect(),
                        });
                    }
                },
            }
        }
    }

    /// Credits the block beneficiary with a transaction's fee, lazily: the sum is added on reads
    /// of the beneficiary and folded in when it is written or the block settles.
    pub fn credit_fee(&mut self, beneficiary: Address, fee: U256, spec: SpecId) {
        if self.fees.touched && self.fees.beneficiary != beneficiary {
            self.settle_fees();
        }
        self.fees.beneficiary = beneficiary;
        self.fees.spec = spec;
        self.fees.amount = self.fees.amount.saturating_add(fee);
        self.fees.touched = true;
    }

    /// Folds pending fee credits into the beneficiary's account.
    pub fn settle_fees(&mut self) {
        if let Some((address, change)) = self.settled_fee_change() {
            self.changes.insert(address, change);
        }
        self.fees = PendingFees::NONE;
    }

    /// The block's changes with pending fee credits settled, as plain data (no base).
    pub fn diff(&self) -> StateDiff {
        let settled = self.settled_fee_change();
        let pending = settled.as_ref().map(|(address, _)| *address);
        let changes = self
            .changes
            .iter()
            .filter(|(address, _)| Some(**address) != pending)
            .map(|(address, change)| (*address, change.clone()))
            .chain(settled)
            .collect();
        StateDiff {
            changes,
            block_hashes: Vec::new(),
        }
    }

    /// The beneficiary's change with pending credits folded in, if any are pending.
    fn settled_fee_change(&self) -> Option<(Address, Change)> {
        if !self.fees.touched {
            return None;
        }
        let address = self.fees.beneficiary;
        let change = match self.fees.resolve(self.account_without_fees(&address)) {
            None => Change::Deleted,
            Some(info) => match self.changes.get(&address) {
                Some(Change::Live {
                    storage_cleared,
                    storage,
                    ..
                }) => Change::Live {
                    info,
                    storage_cleared: *storage_cleared,
                    storage: storage.clone(),
                },
                Some(Change::Deleted) => Change::Live {
                    info,
                    storage_cleared: true,
                    storage: HashMap::default(),
                },
                None => Change::Live {
                    info,
                    storage_cleared: false,
                    storage: HashMap::default(),
                },
            },
        };
        Some((address, change))
    }

    fn account_without_fees(&self, address: &Address) -> Option<AccountInfo> {
        match self.changes.get(address) {
            Some(Change::Deleted) => None,
            Some(Change::Live { info, .. }) => Some(info.clone()),
            None => self.base.account(address),
        }
    }

    /// Applies a raw storage write outside any transaction (system contracts before a block).
    pub fn set_storage(&mut self, address: Address, slot: U256, value: U256) {
        let Some(info) = self.account(&address) else {
            return;
        };
        self.apply(&WriteSet {
            accounts: vec![(
                address,
                AccountWrite::Updated {
                    info,
                    storage_cleared: false,
                    info_changed: false,
                    storage: vec![(slot, value)],
                },
            )],
        });
    }
}

impl StateReader for Overlay {
    fn account(&self, address: &Address) -> Option<AccountInfo> {
        let info = self.account_without_fees(address);
        if self.fees.applies_to(address) {
            return self.fees.resolve(info);
        }
        info
    }

    fn summary(&self, address: &Address) -> Option<AccountSummary> {
        if self.fees.applies_to(address) {
            return self.account(address).as_ref().map(Into::into);
        }
        match self.changes.get(address) {
            Some(Change::Deleted) => None,
            Some(Change::Live { info, .. }) => Some(info.into()),
            None => self.base.summary(address),
        }
    }

    fn storage(&self, address: &Address, slot: &U256) -> U256 {
        if self.fees.applies_to(address) && self.account(address).is_none() {
            // Cleared by the fee touch (EIP-161): nothing of it remains.
            return U256::ZERO;
        }
        match self.changes.get(address) {
            Some(Change::Deleted) => U256::ZERO,
            Some(Change::Live {
                storage_cleared,
                storage,
                ..
            }) => match storage.get(slot) {
                Some(value) => *value,
                None if *storage_cleared => U256::ZERO,
                None => self.base.storage(address, slot),
            },
            None => self.base.storage(address, slot),
        }
    }

    fn block_hash(&self, number: u64) -> Option<B256> {
        self.base.block_hash(number)
    }

    fn code(&self, hash: &B256) -> Option<Bytecode> {
        if let Some(code) = self.base.code(hash) {
            return Some(code);
        }
        // Code deployed earlier in this block lives only in the overlay.
        self.changes.values().find_map(|change| match change {
            Change::Live { info, .. } if info.code_hash == *hash => info.code.clone(),
            _ => None,
        })
    }
}

/// Adapts any [`StateReader`] to revm's read-only database interface.
#[derive(Debug, Clone)]
pub struct ReaderDb<S>(pub S);

impl<S: StateReader> revm::DatabaseRef for ReaderDb<S> {
    type Error = StateError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, StateError> {
        Ok(self.0.account(&address))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, StateError> {
        self.0
            .code(&code_hash)
            .ok_or(StateError::MissingCode(code_hash))
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, StateError> {
        Ok(self.0.storage(&address, &index))
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, StateError> {
        self.0
            .block_hash(number)
            .ok_or(StateError::MissingBlockHash(number))
    }
}

/// A prestate account; numbers may be JSON numbers or hex strings.
#[derive(Debug, Deserialize)]
struct PrestateAccount {
    #[serde(default)]
    balance: Quantity,
    #[serde(default)]
    nonce: Quantity,
    #[serde(default)]
    code: Option<Bytes>,
    #[serde(default)]
    storage: BTreeMap<Quantity, Quantity>,
}

/// A 256-bit quantity written as a JSON number, a hex string or a decimal string.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Quantity(U256);

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Number(n) => Ok(Self(U256::from(n))),
            Raw::Text(s) => {
                let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                    Some("") => Ok(U256::ZERO),
                    Some(hex) => U256::from_str_radix(hex, 16),
                    None => U256::from_str_radix(&s, 10),
                };
                parsed
                    .map(Self)
                    .map_err(|e| serde::de::Error::custom(format!("bad quantity {s:?}: {e}")))
            }
        }
    }
}

/// Reads and parses a JSON file, naming the file in any error.
pub(crate) fn read_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &'static str,
) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Malformed {
        what,
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::address;

    #[test]
    fn prestate_quantities_accept_numbers_hex_and_decimal() {
        let json = r#"{"0x00000000000000000000000000000000000000aa":
            {"balance":"0x10","nonce":5,"storage":{"0x0":"0x1","0x2":"7"}}}"#;
        let raw: BTreeMap<Address, PrestateAccount> = serde_json::from_str(json).unwrap();
        let account = &raw[&address!("00000000000000000000000000000000000000aa")];
        assert_eq!(account.balance.0, U256::from(16));
        assert_eq!(account.nonce.0, U256::from(5));
        assert_eq!(account.storage[&Quantity(U256::from(2))].0, U256::from(7));
    }

    #[test]
    fn overlay_reads_through_deletes_and_recreations() {
        let a = address!("00000000000000000000000000000000000000aa");
        let mut base = State::new();
        base.insert_account(a, U256::from(1), 0, None, [(U256::from(1), U256::from(9))]);
        let mut overlay = Overlay::new(Arc::new(base));
        assert_eq!(overlay.storage(&a, &U256::from(1)), U256::from(9));

        overlay.apply(&WriteSet {
            accounts: vec![(a, AccountWrite::Deleted)],
        });
        assert_eq!(overlay.summary(&a), None);
        assert_eq!(overlay.storage(&a, &U256::from(1)), U256::ZERO);

        // A recreated account must not see the storage it had before deletion.
        overlay.apply(&WriteSet {
            accounts: vec![(
                a,
                AccountWrite::Updated {
                    info: AccountInfo::from_balance(U256::from(3)),
                    storage_cleared: false,
                    info_changed: true,
                    storage: vec![(U256::from(2), U256::from(4))],
                },
            )],
        });
        assert_eq!(overlay.storage(&a, &U256::from(1)), U256::ZERO);
        assert_eq!(overlay.storage(&a, &U256::from(2)), U256::from(4));

        let mut folded = (**overlay.base()).clone();
        folded.apply(&overlay);
        assert_eq!(folded.storage(&a, &U256::from(1)), U256::ZERO);
        assert_eq!(folded.summary(&a).unwrap().balance, U256::from(3));
    }

    #[test]
    fn overlay_updates_keep_slots_and_code_until_recreated() {
        let a = address!("00000000000000000000000000000000000000aa");
        let mut base = State::new();
        base.insert_account(a, U256::from(1), 0, None, [(U256::from(1), U256::from(9))]);
        let mut overlay = Overlay::new(Arc::new(base));
        let code = Bytecode::new_raw(Bytes::from_static(&[0x60, 0x01]));
        let with_code = AccountInfo {
            code_hash: code.hash_slow(),
            code: Some(code.clone()),
            ..AccountInfo::from_balance(U256::from(2))
        };
        let write = |info: AccountInfo, storage_cleared: bool, slot: u64| WriteSet {
            accounts: vec![(
                a,
                AccountWrite::Updated {
                    info,
                    storage_cleared,
                    info_changed: true,
                    storage: vec![(U256::from(slot), U256::from(slot + 10))],
                },
            )],
        };
        let slot = |overlay: &Overlay, slot: u64| overlay.storage(&a, &U256::from(slot));

        overlay.apply(&write(with_code.clone(), false, 2));
        // The same code by hash, without the code itself: the code known stays.
        let richer = AccountInfo {
            balance: U256::from(7),
            code: None,
            ..with_code.clone()
        };
        overlay.apply(&write(richer, false, 3));
        let info = overlay.account(&a).expect("live");
        assert_eq!((info.balance, info.code), (U256::from(7), Some(code)));
        assert_eq!(
            [slot(&overlay, 1), slot(&overlay, 2), slot(&overlay, 3)],
            [9, 12, 13].map(U256::from)
        );

        // Recreated without code: the base's slots and the block's earlier ones are gone.
        overlay.apply(&write(AccountInfo::from_balance(U256::from(8)), true, 4));
        let info = overlay.account(&a).expect("live");
        assert_eq!(
            (info.code_hash, info.code),
            (KECCAK_EMPTY, AccountInfo::default().code)
        );
        assert_eq!(
            [
                slot(&overlay, 1),
                slot(&overlay, 2),
                slot(&overlay, 3),
                slot(&overlay, 4)
            ],
            [0, 0, 0, 14].map(U256::from)
        );
    }
}
