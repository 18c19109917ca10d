//! Synthetic traffic, and the shared mainnet blocks executed and logged, for tests and
//! benchmarks (feature `test-utils`).
//!
//! A toy world of EOAs, ERC-20-like tokens and swap pools whose transactions read and write
//! the keys such contracts would: a transfer touches two balance slots of its token, a swap
//! touches its pool's reserves and the pool's balances of two tokens. Popularity is skewed,
//! so blocks have hot keys, real conflicts and many independent pairs.

use crate::{
    facts::CalldataAddress,
    keys::KeyHash,
    traffic::{BlockRecord, FORMAT_VERSION, TxRecord},
};
use alloy_primitives::{Address, B256, Selector, U256};
use std::sync::Arc;
use switchyard_executors::{
    Block, BlockFixture, State, TxOutcome, block::find_block_dirs, execute_sequential,
    fixtures::mainnet_dir, synthetic::SplitMix, system,
};

const TRANSFER: [u8; 4] = [0xa9, 0x05, 0x9c, 0xbb];
const SWAP: [u8; 4] = [0x12, 0x8a, 0xcb, 0x08];

/// A seedable, reproducible generator (the executors' SplitMix64) with a skewed index.
#[derive(Debug, Clone)]
pub struct Rng(SplitMix);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(SplitMix(seed))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// An index below `n`, skewed towards 0 when `skewed` (popular items first).
    pub fn index(&mut self, n: usize, skewed: bool) -> usize {
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let u = if skewed { u * u * u } else { u };
        ((u * n as f64) as usize).min(n - 1)
    }
}

fn address(kind: u8, i: usize) -> Address {
    let mut bytes = [0x5au8; 20];
    bytes[0] = kind;
    bytes[12..20].copy_from_slice(&(i as u64).to_be_bytes());
    Address::from(bytes)
}

fn balance_slot(token: &Address, holder: &Address) -> KeyHash {
    KeyHash::storage(token, &U256::from_be_slice(holder.as_slice()))
}

fn tx(sender: Address, to: Address, selector: Option<[u8; 4]>, calldata: &[Address]) -> TxRecord {
    let calldata_addresses: Vec<CalldataAddress> = calldata
        .iter()
        .enumerate()
        .map(|(position, address)| CalldataAddress {
            position: position as u16,
            address: *address,
        })
        .collect();
    let mut candidate_keys: Vec<KeyHash> = [sender, to]
        .iter()
        .chain(calldata)
        .map(KeyHash::account)
        .collect();
    candidate_keys.sort_unstable();
    candidate_keys.dedup();
    let calldata_bytes = if selector.is_some() {
        4 + 32 * calldata.len() as u32
    } else {
        0
    };
    TxRecord {
        hash: B256::ZERO,
        sender,
        to: Some(to),
        selector: selector.map(Selector::from),
        calldata_addresses,
        gas_limit: if selector.is_some() { 150_000 } else { 21_000 },
        calldata_bytes: Some(calldata_bytes),
        gas_used: 0,
        moved_value: selector.is_none(),
        to_has_code: selector.is_some(),
        success: true,
        candidate_keys,
        reads: vec![KeyHash::account(&sender), KeyHash::account(&to)],
        writes: vec![KeyHash::account(&sender)],
        reads_beneficiary: false,
        pool: 0,
        reexecuted: false,
        // Calls take longer the more calldata they carry, as on mainnet.
        nanos: if selector.is_some() {
            3_000 + 20 * u64::from(calldata_bytes)
        } else {
            1_000
        },
    }
}

/// One synthetic block of `n` transactions.
pub fn synthetic_block(number: u64, n: usize, rng: &mut Rng) -> BlockRecord {
    let (eoas, tokens, pools) = (50_000, 200, 60);
    let mut txs = Vec::with_capacity(n);
    for i in 0..n {
        // Senders mostly distinct; a few repeat within a block.
        let sender = address(1, rng.index(eoas, false) + i);
        let mut record = match rng.index(10, false) {
            0..=2 => {
                let to = address(1, rng.index(eoas, true));
                let mut t = tx(sender, to, None, &[]);
                t.writes.push(KeyHash::account(&to));
                t
            }
            3..=6 => {
                let token = address(2, rng.index(tokens, true));
                let to = address(1, rng.index(eoas, true));
                let mut t = tx(sender, token, Some(TRANSFER), &[to]);
                let slots = [balance_slot(&token, &sender), balance_slot(&token, &to)];
                t.reads.extend(slots);
                t.reads.push(KeyHash::storage_of(&token));
                t.writes.extend(slots);
                t
            }
            7..=8 => {
                let p = rng.index(pools, true);
                let pool = address(3, p);
                let (a, b) = (address(2, p % tokens), address(2, (p * 7 + 1) % tokens));
                let mut t = tx(sender, pool, Some(SWAP), &[a, b, sender]);
                let reserves = KeyHash::storage(&pool, &U256::from(8));
                let moved = [
                    balance_slot(&a, &pool),
                    balance_slot(&b, &pool),
                    balance_slot(&a, &sender),
                    balance_slot(&b, &sender),
                ];
                t.reads.push(reserves);
                t.reads.extend(moved);
                t.reads.push(KeyHash::storage_of(&pool));
                t.writes.push(reserves);
                t.writes.extend(moved);
                t
            }
            _ => {
                let contract = address(4, rng.index(1 << 20, false));
                tx(sender, contract, Some([9, 9, 9, 9]), &[])
            }
        };
        record.reads.sort_unstable();
        record.reads.dedup();
        record.writes.sort_unstable();
        record.writes.dedup();
        txs.push(record);
    }
    block(number, txs)
}

/// A synthetic block record holding `txs`.
fn block(number: u64, txs: Vec<TxRecord>) -> BlockRecord {
    BlockRecord {
        version: FORMAT_VERSION,
        number,
        hash: None,
        beneficiary: address(9, 0),
        txs,
    }
}

/// `blocks` synthetic blocks of `n` transactions, numbered from 1.
pub fn synthetic_records(blocks: usize, n: usize, seed: u64) -> Vec<BlockRecord> {
    let mut rng = Rng::new(seed);
    (1..=blocks as u64)
        .map(|b| synthetic_block(b, n, &mut rng))
        .collect()
}

/// A block of `n` plain transfers between distinct parties: no two share a candidate key.
pub fn unrelated_block(number: u64, n: usize) -> BlockRecord {
    let txs = (0..n)
        .map(|i| tx(address(1, 2 * i), address(1, 2 * i + 1), None, &[]))
        .collect();
    block(number, txs)
}

/// A shared mainnet block executed sequentially once.
#[derive(Debug)]
pub struct MainnetBlock {
    /// The block.
    pub block: Block,
    /// Its pre-state, with the block's system calls applied.
    pub state: Arc<State>,
    /// Its transactions' outcomes.
    pub outcomes: Vec<TxOutcome>,
}

/// The shared mainnet blocks, executed, and their traffic records (as `replay --log` writes
/// them), both in the same order: training takes the records as one slice.
#[derive(Debug)]
pub struct Mainnet {
    /// The blocks.
    pub blocks: Vec<MainnetBlock>,
    /// Their records.
    pub records: Vec<BlockRecord>,
}

/// Every shared mainnet block (`switchyard_executors::fixtures::mainnet_dir`), executed and
/// logged; `None` when the data is absent. Panics on a block that does not load or run.
pub fn mainnet_blocks() -> Option<Mainnet> {
    let dir = mainnet_dir()?;
    let mut mainnet = Mainnet {
        blocks: Vec::new(),
        records: Vec::new(),
    };
    for path in find_block_dirs(&dir).expect("block folders") {
        let fixture = BlockFixture::load(&path).expect("fixture");
        let mut state = fixture.state;
        system::apply_pre_block(&mut state, &fixture.block);
        let state = Arc::new(state);
        let run = execute_sequential(&fixture.block, state.clone()).expect("sequential run");
        mainnet.records.push(
            BlockRecord::from_execution(
                &fixture.block,
                &run.result.outcomes,
                &crate::TxExec::sequential(&run.tx_nanos),
                Some(state.as_ref()),
            )
            .expect("record"),
        );
        mainnet.blocks.push(MainnetBlock {
            block: fixture.block,
            state,
            outcomes: run.result.outcomes,
        });
    }
    Some(mainnet)
}
