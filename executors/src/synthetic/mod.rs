//! Synthetic blocks: transfers, shared-slot contracts, same-sender runs, creations and reverts.
//!
//! Used by property tests and benchmarks (after Block-STM's peer-to-peer experiment). The
//! transactions are not signed: they are built directly as revm environments, with a hash that
//! is unique per block.
//!
//! - this file: [`BlockBuilder`], peer-to-peer blocks and small test contracts.
//! - [`traffic`]: the p2p, erc20, amm and mixed workloads over the benchmark contracts
//!   ([`crate::contracts`]), shared with the load generator.

pub mod traffic;

pub use traffic::{Action, Deployment, Traffic, Workload, workload_block};

use crate::{
    block::{Block, BlockEnvironment, BlockTx},
    execute::{ExecFailure, TxExecutor, TxOutcome},
    state::{Overlay, State},
};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256, map::HashMap};
use revm::{
    context::{BlockEnv, TxEnv},
    primitives::hardfork::SpecId,
};
use std::sync::Arc;

/// Increments the slot named by calldata word 0.
pub const COUNTER_CODE: &[u8] = &[
    0x60, 0x00, 0x35, // PUSH1 0 CALLDATALOAD          [slot]
    0x80, 0x54, // DUP1 SLOAD                           [slot, v]
    0x60, 0x01, 0x01, // PUSH1 1 ADD                    [slot, v+1]
    0x90, 0x55, 0x00, // SWAP1 SSTORE STOP
];

/// Like [`COUNTER_CODE`], but reverts once the slot has reached 3: whether it reverts depends on
/// the transactions before it.
pub const CAPPED_COUNTER_CODE: &[u8] = &[
    0x60, 0x00, 0x35, 0x80, 0x54, // [slot, v]
    0x80, 0x60, 0x03, 0x11, // DUP1 PUSH1 3 GT          [slot, v, 3>v]
    0x60, 0x10, 0x57, // PUSH1 16 JUMPI
    0x60, 0x00, 0x80, 0xfd, // PUSH1 0 DUP1 REVERT
    0x5b, 0x60, 0x01, 0x01, 0x90, 0x55, 0x00, // JUMPDEST; v+1 -> slot
];

/// Stores the beneficiary's balance in slot 0: a transaction that truly reads the fee recipient.
pub const COINBASE_READER_CODE: &[u8] = &[0x41, 0x31, 0x60, 0x00, 0x55, 0x00];

/// Accepts any payment and does nothing: its balance only ever moves by deltas.
pub const SINK_CODE: &[u8] = &[0x00];

/// Stores its own balance (`SELFBALANCE`) under the caller's address: it observes a balance
/// every payment into it changes.
pub const SELF_BALANCE_RECORDER_CODE: &[u8] = &[0x47, 0x33, 0x55, 0x00];

/// Pays one wei to its caller, and carries on if it cannot: a payment out whose success
/// depends on the balance left.
pub const FAUCET_CODE: &[u8] = &[
    0x60, 0x00, 0x60, 0x00, 0x60, 0x00, 0x60, 0x00, // no return data, no input
    0x60, 0x01, 0x33, 0x5a, 0xf1, // CALL(gas, caller, 1 wei, ...)
    0x00,
];

/// Init code that deploys the one-byte runtime `STOP`.
pub const CREATE_STOP_INIT: &[u8] = &[
    0x60, 0x01, 0x60, 0x0c, 0x60, 0x00, 0x39, // CODECOPY(0, 12, 1)
    0x60, 0x01, 0x60, 0x00, 0xf3, // RETURN(0, 1)
    0x00,
];

/// Base fee of synthetic blocks; with [`GAS_PRICE`] every transaction pays a non-zero tip.
pub const BASE_FEE: u64 = 7;
/// Gas price of synthetic transactions.
pub const GAS_PRICE: u128 = 10;

/// Builds a synthetic block and its pre-state.
#[derive(Debug)]
pub struct BlockBuilder {
    state: State,
    env: BlockEnvironment,
    txs: Vec<BlockTx>,
    nonces: HashMap<Address, u64>,
    gas: u64,
}

impl BlockBuilder {
    /// A Cancun block whose first `accounts` accounts ([`account`]) hold 1,000 ETH each.
    pub fn new(accounts: usize) -> Self {
        let mut state = State::new();
        let funds = U256::from(10u128.pow(21));
        for i in 0..accounts {
            state.insert_account(account(i), funds, 0, None, []);
        }
        let block = BlockEnv {
            number: U256::from(1),
            beneficiary: Address::repeat_byte(0xcb),
            timestamp: U256::from(1_700_000_000u64),
            gas_limit: 30_000_000,
            basefee: BASE_FEE,
            prevrandao: Some(B256::repeat_byte(0x11)),
            ..Default::default()
        };
        let mut env = BlockEnvironment {
            spec: SpecId::CANCUN,
            chain_id: 1337,
            block,
        };
        env.block.set_blob_excess_gas_and_price(
            0,
            revm::primitives::eip4844::BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN,
        );
        Self {
            state,
            env,
            txs: Vec::new(),
            nonces: HashMap::default(),
            gas: 0,
        }
    }

    /// The block beneficiary.
    pub fn beneficiary(&self) -> Address {
        self.env.block.beneficiary
    }

    /// Gives `address` a balance in the pre-state (e.g. to let the beneficiary send), keeping
    /// whatever code it was deployed with.
    pub fn fund(&mut self, address: Address, wei: U256) {
        self.state.set_balance(address, wei);
    }

    /// Places `code` at `address` in the pre-state, with the given storage.
    pub fn deploy(&mut self, address: Address, code: &[u8], storage: &[(u64, u64)]) {
        let storage = storage
            .iter()
            .map(|(k, v)| (U256::from(*k), U256::from(*v)));
        self.state.insert_account(
            address,
            U256::ZERO,
            1,
            Some(Bytes::copy_from_slice(code)),
            storage.collect::<Vec<_>>(),
        );
    }

    /// Places `code` at `address` in the pre-state, with full-word storage.
    pub fn deploy_with_storage(
        &mut self,
        address: Address,
        code: &[u8],
        storage: impl IntoIterator<Item = (U256, U256)>,
    ) {
        self.state.insert_account(
            address,
            U256::ZERO,
            1,
            Some(Bytes::copy_from_slice(code)),
            storage,
        );
    }

    /// Appends a transaction from `from`, with its next nonce.
    pub fn push(&mut self, from: Address, kind: TxKind, value: U256, data: Bytes, gas_limit: u64) {
        let nonce = self.nonces.entry(from).or_default();
        let index = self.txs.len();
        let env = TxEnv {
            tx_type: 2,
            caller: from,
            gas_limit,
            gas_price: GAS_PRICE,
            gas_priority_fee: Some(GAS_PRICE - u128::from(BASE_FEE)),
            kind,
            value,
            data,
            nonce: *nonce,
            chain_id: Some(self.env.chain_id),
            ..Default::default()
        };
        *nonce += 1;
        let mut preimage = Vec::with_capacity(36);
        preimage.extend_from_slice(&(index as u64).to_be_bytes());
        preimage.extend_from_slice(from.as_slice());
        preimage.extend_from_slice(&env.nonce.to_be_bytes());
        self.txs.push(BlockTx {
            index,
            hash: keccak256(&preimage),
            sender: from,
            env,
        });
        self.gas += gas_limit;
    }

    /// A plain value transfer.
    pub fn transfer(&mut self, from: Address, to: Address, value: u64) {
        self.push(
            from,
            TxKind::Call(to),
            U256::from(value),
            Bytes::new(),
            21_000,
        );
    }

    /// A call to a counter-style contract naming `slot`.
    pub fn bump(&mut self, from: Address, contract: Address, slot: u64) {
        let data = Bytes::from(U256::from(slot).to_be_bytes::<32>().to_vec());
        self.push(from, TxKind::Call(contract), U256::ZERO, data, 100_000);
    }

    /// A contract creation deploying `STOP`.
    pub fn create(&mut self, from: Address) {
        let init = Bytes::from_static(CREATE_STOP_INIT);
        self.push(from, TxKind::Create, U256::ZERO, init, 100_000);
    }

    /// Number of transactions so far.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// Returns `true` when no transaction was added.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// The block (its gas limit raised to fit every transaction) and its pre-state.
    pub fn build(mut self) -> (Block, State) {
        self.env.block.gas_limit = self.env.block.gas_limit.max(self.gas);
        let block = Block {
            env: self.env,
            txs: self.txs,
            header: None,
        };
        (block, self.state)
    }
}

/// The `i`-th funded synthetic account.
pub fn account(i: usize) -> Address {
    let mut bytes = [0u8; 20];
    bytes[0] = 0xa0;
    bytes[12..].copy_from_slice(&(i as u64).to_be_bytes());
    Address::from(bytes)
}

/// A block of `txs` transfers among `accounts` accounts, sender and recipient drawn at random
/// (never equal), after Block-STM's peer-to-peer experiment. Two accounts make it fully serial.
pub fn p2p_block(accounts: usize, txs: usize, seed: u64) -> (Block, State) {
    let accounts = accounts.max(2);
    let mut builder = BlockBuilder::new(accounts);
    let mut rng = SplitMix(seed);
    for _ in 0..txs {
        let from = rng.below(accounts);
        let to = (from + 1 + rng.below(accounts - 1)) % accounts;
        builder.transfer(account(from), account(to), 1 + rng.below(1000) as u64);
    }
    builder.build()
}

/// A block of `txs` transfers with no two touching the same account: sender `i` pays
/// recipient `txs + i`. Nothing conflicts, so running it across pools measures overhead alone.
pub fn independent_transfers(txs: usize) -> (Block, State) {
    let mut builder = BlockBuilder::new(2 * txs);
    for i in 0..txs {
        builder.transfer(account(i), account(txs + i), 1);
    }
    builder.build()
}

/// Each transaction of `block` executed alone on `base`: speculative results that are stale
/// wherever an earlier transaction wrote what they read, for tests of the commit.
pub fn each_alone_on(block: &Block, base: &Arc<State>) -> Vec<Result<TxOutcome, ExecFailure>> {
    block
        .txs
        .iter()
        .map(|tx| {
            TxExecutor::new(&block.env, Overlay::new(base.clone()))
                .execute(&tx.env)
                .map_err(|(e, _)| e)
        })
        .collect()
}

/// A small deterministic generator (SplitMix64), so synthetic blocks need no dependency.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}
