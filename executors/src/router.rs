//! Routers: how a block's transactions are grouped and which pool runs each group.
//!
//! A [`Router`] proposes groups (transactions that should run together, in block order) and,
//! optionally, their pools. [`Routing`] is the result. Routing only changes speed: the ordered
//! commit ([`crate::commit`]) makes any routing exact, including [`ScatterRouter`], which
//! ignores every affinity on purpose.
//!
//! Every production router keeps a sender's transactions in one group ([`merge_by_sender`]):
//! nonces make them a chain, so splitting them can only cause re-execution.

use crate::{
    access::{AccessKey, AccountSummary, AccountWrite, ReadSet},
    block::{Block, BlockTx},
    execute::TxOutcome,
    state::StateReader,
};
use alloy_primitives::{
    Address, U256,
    map::{AddressMap, HashMap},
};
use std::{fmt, hash::BuildHasher};

/// A set of transactions (block indices, ascending) that run in one pool, in block order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    /// Block indices, ascending.
    pub txs: Vec<usize>,
    /// Estimated cost (gas units of [`RouteInput::costs`]).
    pub cost: u64,
}

/// What a router may use besides the block.
#[derive(Clone, Copy)]
pub struct RouteInput<'a> {
    /// The block to route.
    pub block: &'a Block,
    /// Estimated cost of each transaction, in block order (gas limit when nothing better is known).
    pub costs: &'a [u64],
    /// Relative throughput of each pool (any positive scale); its length is the pool count.
    pub pool_weights: &'a [f64],
    /// The state the block executes on (committed state before it), when the router wants
    /// to look at it (is the recipient a contract?).
    pub state: Option<&'a dyn StateReader>,
    /// What a sequential run of the block found, for the oracle only.
    pub oracle: Option<&'a OracleFacts>,
}

impl fmt::Debug for RouteInput<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteInput")
            .field("block", &self.block.number())
            .field("txs", &self.block.txs.len())
            .field("pools", &self.pool_weights.len())
            .field("oracle", &self.oracle.is_some())
            .finish()
    }
}

impl RouteInput<'_> {
    /// Number of pools.
    pub fn pools(&self) -> usize {
        self.pool_weights.len()
    }
}

/// Work units per pool in a block ([`Routing::work_units`]). Finer units balance the pools'
/// ends better; in-process pools take the next unit themselves, so a unit costs a lock, not a
/// round trip. On the shared mainnet blocks 8 beat 4 (1.38 against 1.36× with the fallback)
/// and 16 (1.36×), which split more mispredicted dependencies (4.6% re-executed gas against
/// 4.3%).
pub const UNIT_SHARES_PER_POOL: u64 = 8;

/// Groups with their pools.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routing {
    /// The groups, each with its transactions in block order.
    pub groups: Vec<Group>,
    /// The pool of each group, parallel to `groups` (the planned packing).
    pub pools: Vec<usize>,
    /// The router's pool choice is part of its identity (round-robin, sender hash, …) and must
    /// be kept; otherwise an executor may hand groups to whichever pool frees up first.
    pub pinned: bool,
}

impl Routing {
    /// Work units for dispatch to whichever pool is free: every group larger than a share
    /// (`total ÷ (UNIT_SHARES_PER_POOL × pools)`) alone, smaller groups bundled up to that
    /// share. Large units come first so they start early; then block order, so the ordered
    /// commit behind the pools finds the block's first transactions early. Each unit is
    /// ascending.
    pub fn work_units(&self, pools: usize) -> Vec<Vec<usize>> {
        let total: u64 = self.groups.iter().map(|g| g.cost).sum();
        let share = (total / (UNIT_SHARES_PER_POOL * pools.max(1) as u64)).max(1);
        let mut units: Vec<(bool, Vec<usize>)> = Vec::new();
        let mut bundle: Vec<usize> = Vec::new();
        let mut bundle_cost = 0;
        for group in &self.groups {
            if group.cost >= share {
                units.push((true, group.txs.clone()));
                continue;
            }
            bundle.extend_from_slice(&group.txs);
            bundle_cost += group.cost;
            if bundle_cost >= share {
                units.push((false, std::mem::take(&mut bundle)));
                bundle_cost = 0;
            }
        }
        if !bundle.is_empty() {
            units.push((false, bundle));
        }
        for (_, txs) in &mut units {
            txs.sort_unstable();
        }
        units.sort_by_key(|(large, txs)| (!*large, txs[0]));
        units.into_iter().map(|(_, txs)| txs).collect()
    }

    /// The transactions of each pool, in block order.
    pub fn batches(&self, pools: usize) -> Vec<Vec<usize>> {
        let mut batches = vec![Vec::new(); pools];
        for (group, pool) in self.groups.iter().zip(&self.pools) {
            batches[*pool].extend_from_slice(&group.txs);
        }
        for batch in &mut batches {
            batch.sort_unstable();
        }
        batches
    }

    /// The pool of each transaction, in block order.
    pub fn pool_of_tx(&self, txs: usize) -> Vec<usize> {
        let mut out = vec![0; txs];
        for (group, pool) in self.groups.iter().zip(&self.pools) {
            for tx in &group.txs {
                out[*tx] = *pool;
            }
        }
        out
    }

    /// The estimated cost each pool carries.
    pub fn pool_costs(&self, pools: usize) -> Vec<u64> {
        let mut costs = vec![0; pools];
        for (group, pool) in self.groups.iter().zip(&self.pools) {
            costs[*pool] += group.cost;
        }
        costs
    }
}

/// What a sequential run of a block tells about it: which transactions depend on which, and
/// what each one cost. Only the [`OracleRouter`] uses it, as the upper bound of this scheme:
/// prediction and cost estimates both perfect, so that the distance to the DAG bound is what
/// dispatch, pools and commit lose. Derived once per block, outside any timed run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OracleFacts {
    /// [`true_dependencies`] of the run.
    pub dependencies: Vec<(usize, usize)>,
    /// Measured time of each transaction, in nanoseconds (empty when unknown).
    pub tx_nanos: Vec<u64>,
}

impl OracleFacts {
    /// The facts of a sequential run: its outcomes and each transaction's measured time
    /// (`tx_nanos` may be empty, and the oracle keeps the executor's cost estimates).
    pub fn from_run(block: &Block, outcomes: &[TxOutcome], tx_nanos: &[u64]) -> Self {
        Self {
            dependencies: true_dependencies(block, outcomes),
            tx_nanos: tx_nanos.to_vec(),
        }
    }

    /// The measured times as costs in the units of `estimates`: their total is kept, and
    /// shared out in proportion to the times. `None` when the times are unknown.
    pub fn costs(&self, estimates: &[u64]) -> Option<Vec<u64>> {
        share_in_proportion(estimates, &self.tx_nanos)
    }
}

/// The total of `estimates`, shared out in proportion to `weights` (each share at least 1):
/// costs known better than the estimates, in the estimates' units, so that the executor's
/// cost model, which rates the total, is unchanged. `None` when the lengths differ or every
/// weight is 0.
pub fn share_in_proportion(estimates: &[u64], weights: &[u64]) -> Option<Vec<u64>> {
    let sum: u128 = weights.iter().map(|w| u128::from(*w)).sum();
    if weights.len() != estimates.len() || sum == 0 {
        return None;
    }
    let total: u128 = estimates.iter().map(|c| u128::from(*c)).sum();
    Some(
        weights
            .iter()
            .map(|w| {
                u64::try_from(u128::from(*w) * total / sum)
                    .unwrap_or(u64::MAX)
                    .max(1)
            })
            .collect(),
    )
}

/// Decides groups and pools for a block.
pub trait Router: Send + Sync + fmt::Debug {
    /// A short, stable name (used on the command line and as a metric label).
    fn name(&self) -> &str;

    /// Partitions the block's transactions into groups.
    fn groups(&self, input: &RouteInput<'_>) -> Vec<Vec<usize>>;

    /// Assigns groups to pools; by default largest first onto the least loaded pool, weighted by
    /// pool throughput ([`pack_largest_first`]).
    fn assign(&self, input: &RouteInput<'_>, groups: &[Group]) -> Vec<usize> {
        pack_largest_first(groups, input.pool_weights)
    }

    /// Returns `true` when [`Router::assign`] is part of the router's identity and an executor
    /// must keep it; routers that only group leave the pool choice to the executor.
    fn pins_pools(&self) -> bool {
        false
    }

    /// Returns `true` when every group keeps its senders' transactions whole
    /// ([`merge_by_sender`]), so that no routing puts less than the heaviest sender's work in
    /// one pool; the executor then declines such blocks before routing. Only the router for
    /// tests that ignores every affinity does not.
    fn keeps_senders_together(&self) -> bool {
        true
    }

    /// Costs of `block`'s transactions the router knows better than the executor's
    /// `estimates` (gas limits), in the same units ([`share_in_proportion`]); `None` keeps the
    /// estimates. The oracle knows measured times; a learned router may predict them.
    fn known_costs(
        &self,
        _block: &Block,
        _estimates: &[u64],
        _oracle: Option<&OracleFacts>,
    ) -> Option<Vec<u64>> {
        None
    }

    /// Routes a block: groups, costs and pools.
    fn route(&self, input: &RouteInput<'_>) -> Routing {
        let groups: Vec<Group> = self
            .groups(input)
            .into_iter()
            .filter(|txs| !txs.is_empty())
            .map(|mut txs| {
                txs.sort_unstable();
                let cost = txs.iter().map(|i| input.costs[*i]).sum();
                Group { txs, cost }
            })
            .collect();
        let pools = if input.pools() <= 1 {
            vec![0; groups.len()]
        } else {
            self.assign(input, &groups)
        };
        Routing {
            groups,
            pools,
            pinned: self.pins_pools(),
        }
    }
}

/// Longest-processing-time packing: groups by descending cost, each onto the pool that would
/// finish it earliest given the pool's relative throughput.
pub fn pack_largest_first(groups: &[Group], pool_weights: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..groups.len()).collect();
    // Ties keep block order, so packing is deterministic.
    order.sort_by_key(|g| (std::cmp::Reverse(groups[*g].cost), groups[*g].txs[0]));
    let mut load = vec![0f64; pool_weights.len()];
    let mut out = vec![0; groups.len()];
    for g in order {
        let finish =
            |p: usize| (load[p] + groups[g].cost as f64) / pool_weights[p].max(f64::EPSILON);
        let pool = (0..load.len())
            .min_by(|a, b| finish(*a).total_cmp(&finish(*b)))
            .unwrap_or(0);
        load[pool] += groups[g].cost as f64;
        out[g] = pool;
    }
    out
}

/// Union-find over transaction indices.
#[derive(Debug, Clone)]
pub struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    /// `n` singletons.
    pub fn new(n: usize) -> Self {
        Self {
            parent: (0..n).collect(),
        }
    }

    /// The representative of `x`.
    pub fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    /// Merges the sets of `a` and `b`.
    pub fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            // The smaller index leads, so groups are named by their first transaction.
            self.parent[a.max(b)] = a.min(b);
        }
    }

    /// Merges every pair of items that share an address.
    pub fn union_by_key(&mut self, keys: impl IntoIterator<Item = (usize, Address)>) {
        let mut first: AddressMap<usize> = AddressMap::default();
        first.reserve(self.parent.len());
        for (tx, key) in keys {
            match first.get(&key) {
                Some(&leader) => self.union(leader, tx),
                None => {
                    first.insert(key, tx);
                }
            }
        }
    }

    /// The sets, each ascending, ordered by their first element.
    pub fn groups(mut self) -> Vec<Vec<usize>> {
        let n = self.parent.len();
        // A set's root is its smallest element, so sets come out ordered by it.
        let mut by_root: Vec<Vec<usize>> = vec![Vec::new(); n];
        for i in 0..n {
            let root = self.find(i);
            by_root[root].push(i);
        }
        by_root.retain(|set| !set.is_empty());
        by_root
    }
}

/// Unions transactions of the same sender.
pub fn merge_by_sender(block: &Block, uf: &mut UnionFind) {
    uf.union_by_key(block.txs.iter().map(|tx| (tx.index, tx.sender)));
}

/// Everything in one group: the sequential baseline on one pool.
#[derive(Debug, Clone, Copy, Default)]
pub struct SequentialRouter;

impl Router for SequentialRouter {
    fn name(&self) -> &str {
        "sequential"
    }
    fn groups(&self, input: &RouteInput<'_>) -> Vec<Vec<usize>> {
        vec![(0..input.block.txs.len()).collect()]
    }
    fn pins_pools(&self) -> bool {
        true
    }
    fn assign(&self, _: &RouteInput<'_>, groups: &[Group]) -> Vec<usize> {
        vec![0; groups.len()]
    }
}

/// One group per sender, dealt to pools in turn by first appearance.
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobinRouter;

impl Router for RoundRobinRouter {
    fn name(&self) -> &str {
        "round-robin"
    }
    fn groups(&self, input: &RouteInput<'_>) -> Vec<Vec<usize>> {
        let mut uf = UnionFind::new(input.block.txs.len());
        merge_by_sender(input.block, &mut uf);
        uf.groups()
    }
    fn pins_pools(&self) -> bool {
        true
    }
    fn assign(&self, input: &RouteInput<'_>, groups: &[Group]) -> Vec<usize> {
        (0..groups.len()).map(|g| g % input.pools()).collect()
    }
}

/// One group per sender, on the pool its address hashes to.
#[derive(Debug, Clone, Copy, Default)]
pub struct SenderRouter;

impl Router for SenderRouter {
    fn name(&self) -> &str {
        "sender"
    }
    fn groups(&self, input: &RouteInput<'_>) -> Vec<Vec<usize>> {
        RoundRobinRouter.groups(input)
    }
    fn pins_pools(&self) -> bool {
        true
    }
    fn assign(&self, input: &RouteInput<'_>, groups: &[Group]) -> Vec<usize> {
        groups
            .iter()
            .map(|g| sender_slot(&input.block.txs[g.txs[0]].sender, input.pools()))
            .collect()
    }
}

/// A stable hash of an address onto `pools` slots (independent of process and run).
fn sender_slot(sender: &Address, pools: usize) -> usize {
    let hasher = alloy_primitives::map::foldhash::fast::FixedState::with_seed(0x5357_4954_4348);
    (hasher.hash_one(sender) % pools as u64) as usize
}

/// Groups by sender and by call target: everything touching one contract runs together.
#[derive(Debug, Clone, Copy, Default)]
pub struct ContractRouter;

impl Router for ContractRouter {
    fn name(&self) -> &str {
        "contract"
    }
    fn groups(&self, input: &RouteInput<'_>) -> Vec<Vec<usize>> {
        let mut uf = UnionFind::new(input.block.txs.len());
        merge_by_sender(input.block, &mut uf);
        uf.union_by_key(
            input
                .block
                .txs
                .iter()
                .filter_map(|tx| tx.to().map(|to| (tx.index, to))),
        );
        uf.groups()
    }
}

/// Groups by the true read-after-write dependencies of a sequential run, and costs each
/// transaction at its measured time ([`OracleFacts`]): the upper bound of this scheme. For
/// comparison only; it needs the block executed first.
#[derive(Debug, Clone, Copy, Default)]
pub struct OracleRouter;

impl Router for OracleRouter {
    fn name(&self) -> &str {
        "oracle"
    }
    fn groups(&self, input: &RouteInput<'_>) -> Vec<Vec<usize>> {
        let n = input.block.txs.len();
        let mut uf = UnionFind::new(n);
        merge_by_sender(input.block, &mut uf);
        if let Some(facts) = input.oracle {
            for (reader, writer) in &facts.dependencies {
                uf.union(*reader, *writer);
            }
        }
        uf.groups()
    }

    fn known_costs(
        &self,
        _block: &Block,
        estimates: &[u64],
        oracle: Option<&OracleFacts>,
    ) -> Option<Vec<u64>> {
        oracle.and_then(|facts| facts.costs(estimates))
    }
}

/// Read-after-write dependencies: `(j, i)` when transaction `j` read a key whose last writer
/// before it was `i`, sorted. Fee credits are not writes, so reads of the beneficiary's account
/// are left out here; see [`beneficiary_readers`]. An account whose balance `j` took only as a
/// delta ([`crate::commit::takes_balance_as_delta`]) depends on its last writer of nonce or
/// code, not of balance: the commit shifts such a result instead of re-executing it.
pub fn true_dependencies(block: &Block, outcomes: &[TxOutcome]) -> Vec<(usize, usize)> {
    let beneficiary = block.env.beneficiary();
    // Last writers, one map per kind of key: an address hashes faster alone than inside an
    // `AccessKey`. Each transaction's reads and writes are walked once, without looking one
    // up in the other's list (a 2016 DoS transaction touches thousands of accounts).
    let mut account_writer: AddressMap<usize> = AddressMap::default();
    let mut identity_writer: AddressMap<usize> = AddressMap::default();
    let mut wiped: AddressMap<usize> = AddressMap::default();
    let mut slot_writer: HashMap<(Address, U256), usize> = HashMap::default();
    let mut deps = Vec::new();
    for (j, (tx, outcome)) in block.txs.iter().zip(outcomes).enumerate() {
        let reads = &outcome.reads;
        let uses = reads.balance_uses.as_deref();
        for (address, seen) in &reads.accounts {
            if *address == beneficiary {
                continue;
            }
            let delta = uses.zip(seen.as_ref()).is_some_and(|(uses, seen)| {
                crate::commit::takes_balance_as_delta(tx, uses, address, seen)
            });
            let writers = if delta {
                &identity_writer
            } else {
                &account_writer
            };
            deps.extend(writers.get(address).map(|i| (j, *i)));
        }
        for (address, slot, _) in &reads.storage {
            let writer = slot_writer.get(&(*address, *slot)).copied();
            deps.extend(writer.max(wiped.get(address).copied()).map(|i| (j, i)));
        }
        // Block hashes are read, never written, by transactions: no dependency.
        let seen = SeenAccounts::new(reads);
        for (address, write) in &outcome.writes.accounts {
            let (account_key, slots) = write.written();
            if account_key {
                account_writer.insert(*address, j);
                if write.wipes_storage() {
                    wiped.insert(*address, j);
                }
                if changes_identity(write, seen.get(address)) {
                    identity_writer.insert(*address, j);
                }
            }
            for (slot, _) in slots {
                slot_writer.insert((*address, *slot), j);
            }
        }
    }
    deps.sort_unstable();
    deps.dedup();
    deps
}

/// What a transaction saw of each account it read, found by address: [`ReadSet::account`]'s
/// linear search for a few, a map for many.
enum SeenAccounts<'a> {
    Few(&'a ReadSet),
    Many(AddressMap<Option<AccountSummary>>),
}

impl<'a> SeenAccounts<'a> {
    /// Above this many accounts read, a map beats searching the list per account written.
    const FEW: usize = 16;

    fn new(reads: &'a ReadSet) -> Self {
        if reads.accounts.len() <= Self::FEW {
            Self::Few(reads)
        } else {
            Self::Many(reads.accounts.iter().copied().collect())
        }
    }

    /// The account as read; `None` when it was not read or did not exist.
    fn get(&self, address: &Address) -> Option<AccountSummary> {
        match self {
            Self::Few(reads) => reads.account(address).flatten(),
            Self::Many(accounts) => accounts.get(address).copied().flatten(),
        }
    }
}

/// Whether `tx` (with `outcome`) took `address`'s balance only as a delta.
fn balance_is_delta(tx: &BlockTx, outcome: &TxOutcome, address: Address) -> bool {
    let Some(uses) = outcome.reads.balance_uses.as_deref() else {
        return false;
    };
    outcome
        .reads
        .account(&address)
        .flatten()
        .is_some_and(|seen| crate::commit::takes_balance_as_delta(tx, uses, &address, &seen))
}

/// Whether `write` changed the account's nonce or code, created it or destroyed it: more than
/// its balance. `seen` is the account as the transaction read it.
fn changes_identity(write: &AccountWrite, seen: Option<AccountSummary>) -> bool {
    match (write, seen) {
        (AccountWrite::Updated { info, .. }, Some(seen)) => {
            info.nonce != seen.nonce || info.code_hash != seen.code_hash
        }
        _ => true,
    }
}

/// Transactions that read the beneficiary's account (read its balance from a contract, or
/// called it), other than plain transfers from or to it and payments that took its balance
/// only as a delta, which the commit settles as balance deltas. The value they saw includes
/// the fee of every earlier transaction, so they depend on all of them. Routers do not group
/// them with everything before; the commit re-executes them when another pool ran earlier
/// transactions, which costs only their own time.
pub fn beneficiary_readers(block: &Block, outcomes: &[TxOutcome]) -> Vec<usize> {
    let beneficiary = AccessKey::Account(block.env.beneficiary());
    outcomes
        .iter()
        .enumerate()
        .filter(|(j, o)| {
            let tx = &block.txs[*j];
            o.reads.keys().any(|k| k == beneficiary)
                && !crate::commit::is_plain_transfer(tx, &o.reads)
                && !balance_is_delta(tx, o, block.env.beneficiary())
        })
        .map(|(j, _)| j)
        .collect()
}

/// Every transaction alone, on a pseudo-random pool: ignores sender and contract affinity, so
/// only the commit keeps results exact. For tests.
#[derive(Debug, Clone, Copy)]
pub struct ScatterRouter {
    /// Seed of the deterministic assignment.
    pub seed: u64,
}

impl Router for ScatterRouter {
    fn name(&self) -> &str {
        "scatter"
    }
    fn groups(&self, input: &RouteInput<'_>) -> Vec<Vec<usize>> {
        (0..input.block.txs.len()).map(|i| vec![i]).collect()
    }
    fn keeps_senders_together(&self) -> bool {
        false
    }
    fn pins_pools(&self) -> bool {
        true
    }
    fn assign(&self, input: &RouteInput<'_>, groups: &[Group]) -> Vec<usize> {
        let mut x = self.seed | 1;
        groups
            .iter()
            .map(|_| {
                // xorshift64: reproducible without a dependency.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % input.pools() as u64) as usize
            })
            .collect()
    }
}

/// The routers selectable by name, besides the model router (which lives in the model crate).
pub const ROUTER_NAMES: &[&str] = &[
    "sequential",
    "round-robin",
    "sender",
    "contract",
    "oracle",
    "scatter",
];

/// A built-in router by name.
pub fn by_name(name: &str) -> Option<Box<dyn Router>> {
    Some(match name {
        "sequential" => Box::new(SequentialRouter),
        "round-robin" => Box::new(RoundRobinRouter),
        "sender" => Box::new(SenderRouter),
        "contract" => Box::new(ContractRouter),
        "oracle" => Box::new(OracleRouter),
        "scatter" => Box::new(ScatterRouter { seed: 0x5eed }),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oracle_costs_share_the_estimated_total_by_measured_time() {
        let facts = OracleFacts {
            dependencies: Vec::new(),
            tx_nanos: vec![100, 300, 0, 600],
        };
        // 1,000 units shared as 10%, 30%, 0% (at least 1) and 60%.
        assert_eq!(facts.costs(&[250; 4]), Some(vec![100, 300, 1, 600]));
        assert_eq!(facts.costs(&[1; 3]), None, "times of another block");
        let unknown = OracleFacts {
            tx_nanos: Vec::new(),
            ..facts.clone()
        };
        assert_eq!(unknown.costs(&[250; 4]), None);
        let (block, _) = crate::synthetic::independent_transfers(4);
        assert_eq!(
            OracleRouter.known_costs(&block, &[250; 4], Some(&facts)),
            facts.costs(&[250; 4])
        );
        assert_eq!(
            ContractRouter.known_costs(&block, &[250; 4], Some(&facts)),
            None
        );
    }
}
