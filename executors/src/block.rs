//! Blocks: the environment a block executes in, and its ordered, sender-checked transactions.
//!
//! Real blocks come from RPC JSON (`eth_getBlockByNumber(n, true)`, as alloy types) with their
//! pre-state beside them; the gateway builds blocks directly from admitted envelopes.

use crate::{
    error::{Error, Result},
    state::{State, read_json},
};
use alloy_consensus::{BlockHeader, Transaction as _, TxEnvelope, transaction::SignerRecoverable};
use alloy_eips::Typed2718;
use alloy_hardforks::{EthereumChainHardforks, EthereumHardfork, EthereumHardforks};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use revm::{
    context::{BlockEnv, TxEnv, either::Either},
    primitives::{
        eip4844::{BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN, BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE},
        hardfork::SpecId,
    },
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Mainnet's chain id.
pub const MAINNET_CHAIN_ID: u64 = 1;

/// What a block executes in: the EVM spec, the chain id and revm's block environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockEnvironment {
    /// The fork rules in force.
    pub spec: SpecId,
    /// Chain id, checked against EIP-155 and typed transactions.
    pub chain_id: u64,
    /// Number, beneficiary, timestamp, gas limit, base fee, randomness and blob price.
    pub block: BlockEnv,
}

impl BlockEnvironment {
    /// The block number.
    pub fn number(&self) -> u64 {
        self.block.number.saturating_to()
    }

    /// The fee recipient.
    pub fn beneficiary(&self) -> Address {
        self.block.beneficiary
    }
}

/// One transaction of a block, ready for revm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockTx {
    /// Position in the block.
    pub index: usize,
    /// Transaction hash.
    pub hash: B256,
    /// Sender, recovered from the signature.
    pub sender: Address,
    /// The EVM's view of the transaction.
    pub env: TxEnv,
}

impl BlockTx {
    /// Builds the EVM view of a signed envelope whose sender is already known.
    pub fn new(index: usize, envelope: &TxEnvelope, sender: Address) -> Self {
        Self {
            index,
            hash: *envelope.tx_hash(),
            sender,
            env: tx_env(envelope, sender),
        }
    }

    /// The call target, or `None` for a contract creation.
    pub fn to(&self) -> Option<Address> {
        match self.env.kind {
            TxKind::Call(to) => Some(to),
            TxKind::Create => None,
        }
    }

    /// Call data or init code.
    pub fn input(&self) -> &Bytes {
        &self.env.data
    }

    /// The gas limit.
    pub fn gas_limit(&self) -> u64 {
        self.env.gas_limit
    }

    /// Value transferred.
    pub fn value(&self) -> U256 {
        self.env.value
    }
}

/// Converts a signed envelope into revm's transaction environment.
pub fn tx_env(envelope: &TxEnvelope, sender: Address) -> TxEnv {
    let authorization_list = envelope
        .authorization_list()
        .map(|list| list.iter().cloned().map(Either::Left).collect())
        .unwrap_or_default();
    TxEnv {
        tx_type: envelope.ty(),
        caller: sender,
        gas_limit: envelope.gas_limit(),
        // For legacy and EIP-2930 this is the gas price; for EIP-1559 and later the fee cap.
        gas_price: envelope.max_fee_per_gas(),
        kind: envelope.kind(),
        value: envelope.value(),
        data: envelope.input().clone(),
        nonce: envelope.nonce(),
        chain_id: envelope.chain_id(),
        access_list: envelope.access_list().cloned().unwrap_or_default(),
        gas_priority_fee: envelope.max_priority_fee_per_gas(),
        blob_hashes: envelope
            .blob_versioned_hashes()
            .map(<[B256]>::to_vec)
            .unwrap_or_default(),
        max_fee_per_blob_gas: envelope.max_fee_per_blob_gas().unwrap_or_default(),
        authorization_list,
    }
}

/// The header facts the chain committed to, for checking an execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderFacts {
    /// Block hash.
    pub hash: B256,
    /// Parent block hash (EIP-2935 history contract).
    pub parent_hash: B256,
    /// Total gas used by the block's transactions.
    pub gas_used: u64,
    /// Root of the receipts trie.
    pub receipts_root: B256,
    /// Parent beacon block root (EIP-4788), from Cancun on.
    pub parent_beacon_block_root: Option<B256>,
}

/// A block ready to execute.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Block {
    /// Where it executes.
    pub env: BlockEnvironment,
    /// Its transactions, in block order.
    pub txs: Vec<BlockTx>,
    /// What the chain recorded, when the block came from a chain.
    pub header: Option<HeaderFacts>,
}

impl Block {
    /// The block number.
    pub fn number(&self) -> u64 {
        self.env.number()
    }

    /// Returns `true` when receipts carry a status (Byzantium, EIP-658) rather than an
    /// intermediate state root, so the receipts root can be computed from execution alone.
    pub fn receipts_root_checkable(&self) -> bool {
        self.env.spec.is_enabled_in(SpecId::BYZANTIUM)
    }

    /// Parses an RPC block (`eth_getBlockByNumber(n, true)`) for a chain with the given fork
    /// schedule, recovering every sender and checking it against `from`.
    pub fn from_rpc(
        rpc: &alloy_rpc_types_eth::Block,
        chain_id: u64,
        forks: &impl EthereumHardforks,
    ) -> Result<Self> {
        let header = &rpc.header.inner;
        let number = header.number;
        let spec = spec_at(forks, number, header.timestamp);
        let invalid = |reason: String| Error::InvalidBlock { number, reason };

        let mut block = BlockEnv {
            number: U256::from(number),
            beneficiary: header.beneficiary,
            timestamp: U256::from(header.timestamp),
            gas_limit: header.gas_limit,
            basefee: header.base_fee_per_gas.unwrap_or_default(),
            difficulty: header.difficulty,
            prevrandao: None,
            blob_excess_gas_and_price: None,
            ..Default::default()
        };
        if spec.is_enabled_in(SpecId::LONDON) && header.base_fee_per_gas.is_none() {
            return Err(invalid("London block without baseFeePerGas".into()));
        }
        if spec.is_enabled_in(SpecId::MERGE) {
            block.prevrandao = Some(header.mix_hash);
            block.difficulty = U256::ZERO;
        }
        if spec.is_enabled_in(SpecId::CANCUN) {
            let excess = header
                .excess_blob_gas
                .ok_or_else(|| invalid("Cancun block without excessBlobGas".into()))?;
            let fraction = if spec.is_enabled_in(SpecId::PRAGUE) {
                BLOB_BASE_FEE_UPDATE_FRACTION_PRAGUE
            } else {
                BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN
            };
            block.set_blob_excess_gas_and_price(excess, fraction);
        }

        let rpc_txs = rpc.transactions.as_transactions().ok_or_else(|| {
            invalid("transactions are hashes only; fetch with full transactions".into())
        })?;
        let mut txs = Vec::with_capacity(rpc_txs.len());
        for (index, tx) in rpc_txs.iter().enumerate() {
            let envelope = tx.inner.inner();
            let claimed = tx.inner.signer();
            let hash = *envelope.tx_hash();
            // EIP-2 (Homestead) made high-s signatures invalid; Frontier accepted them.
            let recovered = if spec.is_enabled_in(SpecId::HOMESTEAD) {
                envelope.recover_signer()
            } else {
                envelope.recover_signer_unchecked()
            };
            let recovered = recovered.map_err(|e| Error::MalformedTransaction {
                index,
                hash,
                reason: format!("signature does not recover: {e}"),
            })?;
            if recovered != claimed {
                return Err(Error::SenderMismatch {
                    index,
                    hash,
                    claimed,
                    recovered,
                });
            }
            txs.push(BlockTx::new(index, envelope, recovered));
        }

        Ok(Self {
            env: BlockEnvironment {
                spec,
                chain_id,
                block,
            },
            txs,
            header: Some(HeaderFacts {
                hash: rpc.header.hash,
                parent_hash: header.parent_hash(),
                gas_used: header.gas_used,
                receipts_root: header.receipts_root,
                parent_beacon_block_root: header.parent_beacon_block_root,
            }),
        })
    }
}

/// The revm spec in force at a block, from a fork schedule.
///
/// Forks that changed no EVM rule (DAO, Muir/Arrow/Gray Glacier) map to the fork they extend;
/// Constantinople shipped on mainnet only together with Petersburg.
pub fn spec_at(forks: &impl EthereumHardforks, number: u64, timestamp: u64) -> SpecId {
    use EthereumHardfork as F;
    const SCHEDULE: &[(EthereumHardfork, SpecId)] = &[
        (F::Osaka, SpecId::OSAKA),
        (F::Prague, SpecId::PRAGUE),
        (F::Cancun, SpecId::CANCUN),
        (F::Shanghai, SpecId::SHANGHAI),
        (F::Paris, SpecId::MERGE),
        (F::London, SpecId::LONDON),
        (F::Berlin, SpecId::BERLIN),
        (F::Istanbul, SpecId::ISTANBUL),
        (F::Petersburg, SpecId::PETERSBURG),
        (F::Constantinople, SpecId::PETERSBURG),
        (F::Byzantium, SpecId::BYZANTIUM),
        (F::SpuriousDragon, SpecId::SPURIOUS_DRAGON),
        (F::Tangerine, SpecId::TANGERINE),
        (F::Homestead, SpecId::HOMESTEAD),
    ];
    SCHEDULE
        .iter()
        .find(|(fork, _)| {
            forks
                .ethereum_fork_activation(*fork)
                .active_at_timestamp_or_number(timestamp, number)
        })
        .map_or(SpecId::FRONTIER, |(_, spec)| *spec)
}

/// A block on disk with the state it executes on.
#[derive(Debug, Clone)]
pub struct BlockFixture {
    /// The folder it came from.
    pub path: PathBuf,
    /// The block.
    pub block: Block,
    /// Its pre-state, with block hashes.
    pub state: State,
}

impl BlockFixture {
    /// Loads a mainnet block folder: `block.json`, `prestate.json` and, when present,
    /// `block_hashes.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let rpc: alloy_rpc_types_eth::Block = read_json(&dir.join("block.json"), "block")?;
        let block = Block::from_rpc(&rpc, MAINNET_CHAIN_ID, &EthereumChainHardforks::mainnet())?;
        let mut state = State::from_prestate_file(&dir.join("prestate.json"))?;
        let hashes = dir.join("block_hashes.json");
        if hashes.exists() {
            state.load_block_hashes(&hashes)?;
        }
        Ok(Self {
            path: dir.to_owned(),
            block,
            state,
        })
    }
}

/// Expands a path into block folders: the folder itself if it holds `block.json`, otherwise its
/// immediate sub-folders that do, sorted by block number where the name is one.
pub fn find_block_dirs(path: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    if path.join("block.json").is_file() {
        return Ok(vec![path.to_owned()]);
    }
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        let dir = entry.map_err(io)?.path();
        if dir.join("block.json").is_file() {
            dirs.push(dir);
        }
    }
    if dirs.is_empty() {
        return Err(Error::Malformed {
            what: "block folder",
            path: path.to_owned(),
            reason: "no block.json here or in any sub-folder".into(),
        });
    }
    dirs.sort_by_key(|d| {
        let name = d.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        (name.parse::<u64>().unwrap_or(u64::MAX), name.to_owned())
    });
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mainnet_schedule_maps_fork_boundaries() {
        let mainnet = EthereumChainHardforks::mainnet();
        assert_eq!(spec_at(&mainnet, 1_149_999, 0), SpecId::FRONTIER);
        assert_eq!(spec_at(&mainnet, 1_150_000, 0), SpecId::HOMESTEAD);
        assert_eq!(spec_at(&mainnet, 4_369_999, 0), SpecId::SPURIOUS_DRAGON);
        assert_eq!(spec_at(&mainnet, 4_370_000, 0), SpecId::BYZANTIUM);
        assert_eq!(spec_at(&mainnet, 7_280_000, 0), SpecId::PETERSBURG);
        assert_eq!(spec_at(&mainnet, 15_537_393, 1_663_224_162), SpecId::LONDON);
        assert_eq!(spec_at(&mainnet, 15_537_394, 1_663_224_179), SpecId::MERGE);
        assert_eq!(spec_at(&mainnet, 19_426_587, 1_710_338_135), SpecId::CANCUN);
    }
}
