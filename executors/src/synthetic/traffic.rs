//! Workloads over the benchmark contracts: peer-to-peer transfers, ERC20 transfers, AMM swaps
//! and a blend, with a hot spot. One generator ([`Traffic`]) draws the actions, so the load
//! generator's signed traffic and the synthetic blocks of `switchyard bench` are the same mix.

use super::{BlockBuilder, SplitMix, account};
use crate::{
    Block, State,
    contracts::{self, Pair, Token},
};
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_sol_types::SolCall;
use std::{fmt, str::FromStr};

/// Constant-product pairs deployed for `amm` and `mixed`; pair 0 is the hot one.
pub const AMM_PAIRS: usize = 8;
/// Gas limit of an ERC20 transfer (it uses about 35,000 to 52,000).
pub const TOKEN_TRANSFER_GAS: u64 = 60_000;
/// Gas limit of a swap (it uses about 60,000 to 90,000).
pub const SWAP_GAS: u64 = 150_000;
/// Gas limit of an `approve`.
pub const APPROVE_GAS: u64 = 60_000;
/// Token units every account holds of each token before traffic starts (10,000 tokens of 18
/// decimals: about a million of the largest swaps).
pub const ACCOUNT_TOKENS: u128 = 10u128.pow(22);
/// Each pair's starting reserve of each token.
pub const PAIR_RESERVE: u128 = 10u128.pow(24);

/// What kind of traffic to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// Value transfers among the accounts (Block-STM's peer-to-peer experiment).
    P2p,
    /// Token transfers among the accounts.
    Erc20,
    /// Swaps on the constant-product pairs.
    Amm,
    /// Each transaction one of the three above, uniformly (after grevm's hybrid workload).
    Mixed,
}

impl Workload {
    /// Every workload, in report order.
    pub const ALL: [Workload; 4] = [Self::P2p, Self::Erc20, Self::Amm, Self::Mixed];

    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::P2p => "p2p",
            Self::Erc20 => "erc20",
            Self::Amm => "amm",
            Self::Mixed => "mixed",
        }
    }

    /// Whether it needs the token contracts.
    pub fn uses_tokens(self) -> bool {
        self != Self::P2p
    }

    /// Whether it needs the pairs (and the accounts' approvals of them).
    pub fn uses_pairs(self) -> bool {
        matches!(self, Self::Amm | Self::Mixed)
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| format!("unknown scenario {s:?}; expected p2p, erc20, amm or mixed"))
    }
}

/// One transaction's intent, over account indices and pair indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `from` pays `to` `wei`.
    Transfer {
        /// Sender index.
        from: usize,
        /// Recipient index.
        to: usize,
        /// Value in wei.
        wei: u64,
    },
    /// `from` sends `amount` of token 0 to `to`.
    TokenTransfer {
        /// Sender index.
        from: usize,
        /// Recipient index.
        to: usize,
        /// Token units.
        amount: u128,
    },
    /// `from` swaps `amount_in` on pair `pair`.
    Swap {
        /// Trader index.
        from: usize,
        /// Pair index (0 is hot).
        pair: usize,
        /// Token 0 in, token 1 out; else the reverse.
        zero_for_one: bool,
        /// Input amount.
        amount_in: u128,
    },
}

impl Action {
    /// The sending account's index.
    pub fn from(&self) -> usize {
        match *self {
            Self::Transfer { from, .. }
            | Self::TokenTransfer { from, .. }
            | Self::Swap { from, .. } => from,
        }
    }

    /// The call that carries it out against `deployment`.
    pub fn call(&self, deployment: &Deployment) -> Call {
        match *self {
            Self::Transfer { to, wei, .. } => Call {
                to: deployment.accounts[to],
                value: U256::from(wei),
                data: Bytes::new(),
                gas_limit: 21_000,
            },
            Self::TokenTransfer { to, amount, .. } => Call {
                to: deployment.tokens[0],
                value: U256::ZERO,
                data: Token::transferCall {
                    to: deployment.accounts[to],
                    value: U256::from(amount),
                }
                .abi_encode()
                .into(),
                gas_limit: TOKEN_TRANSFER_GAS,
            },
            Self::Swap {
                pair,
                zero_for_one,
                amount_in,
                ..
            } => Call {
                to: deployment.pairs[pair],
                value: U256::ZERO,
                data: Pair::swapCall {
                    zeroForOne: zero_for_one,
                    amountIn: U256::from(amount_in),
                    minOut: U256::ZERO,
                }
                .abi_encode()
                .into(),
                gas_limit: SWAP_GAS,
            },
        }
    }
}

/// A transaction's target, value, calldata and gas limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The callee.
    pub to: Address,
    /// Value sent.
    pub value: U256,
    /// Calldata.
    pub data: Bytes,
    /// Gas limit.
    pub gas_limit: u64,
}

/// Where the traffic goes: the accounts, the two tokens and the pairs (each of token 0 and
/// token 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// The sending accounts; index 0 is the hot recipient.
    pub accounts: Vec<Address>,
    /// Token 0 (the `erc20` token) and token 1.
    pub tokens: Vec<Address>,
    /// The pairs; index 0 is hot.
    pub pairs: Vec<Address>,
}

/// Draws actions of a workload among `accounts` accounts; a share `hot_ratio` of them aims at
/// the hot spot (account 0 as recipient, pair 0), the rest uniformly.
#[derive(Debug, Clone)]
pub struct Traffic {
    workload: Workload,
    accounts: usize,
    hot_ratio: f64,
    rng: SplitMix,
}

impl Traffic {
    /// A generator; `accounts` is raised to 2 (a transfer needs two parties) and `hot_ratio`
    /// clamped to `0..=1`.
    pub fn new(workload: Workload, accounts: usize, hot_ratio: f64, seed: u64) -> Self {
        Self {
            workload,
            accounts: accounts.max(2),
            hot_ratio: hot_ratio.clamp(0.0, 1.0),
            rng: SplitMix(seed),
        }
    }

    /// The next action.
    pub fn next_action(&mut self) -> Action {
        let kind = match self.workload {
            Workload::Mixed => [Workload::P2p, Workload::Erc20, Workload::Amm][self.rng.below(3)],
            other => other,
        };
        let hot = self.unit() < self.hot_ratio;
        let from = self.rng.below(self.accounts);
        let to = if hot && from != 0 {
            0
        } else {
            (from + 1 + self.rng.below(self.accounts - 1)) % self.accounts
        };
        match kind {
            Workload::P2p => Action::Transfer {
                from,
                to,
                wei: 1 + self.rng.below(1_000) as u64,
            },
            Workload::Erc20 => Action::TokenTransfer {
                from,
                to,
                amount: (1 + self.rng.below(1_000) as u128) * 10u128.pow(12),
            },
            _ => Action::Swap {
                from,
                pair: if hot { 0 } else { self.rng.below(AMM_PAIRS) },
                zero_for_one: self.rng.below(2) == 0,
                amount_in: (1 + self.rng.below(10) as u128) * 10u128.pow(15),
            },
        }
    }

    fn unit(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Addresses of the synthetic blocks' contracts: token `i` at `0xe0…0i`, pair `i` at
/// `0xe1…0i`.
fn synthetic_contract(kind: u8, i: usize) -> Address {
    let mut bytes = [0u8; 20];
    bytes[0] = kind;
    bytes[12..].copy_from_slice(&(i as u64).to_be_bytes());
    Address::from(bytes)
}

/// The deployment of the synthetic blocks: [`account`]s, tokens and pairs placed directly in
/// the pre-state.
pub fn synthetic_deployment(accounts: usize) -> Deployment {
    Deployment {
        accounts: (0..accounts.max(2)).map(account).collect(),
        tokens: (0..2).map(|i| synthetic_contract(0xe0, i)).collect(),
        pairs: (0..AMM_PAIRS)
            .map(|i| synthetic_contract(0xe1, i))
            .collect(),
    }
}

/// A block of `txs` transactions of `workload` among `accounts` accounts, and its pre-state:
/// the state the load generator's setup leaves behind (every account holding
/// [`ACCOUNT_TOKENS`] of each token and having approved every pair without limit, every pair
/// holding [`PAIR_RESERVE`] of each token), written directly from the contracts' storage
/// layout instead of deployed.
pub fn workload_block(
    workload: Workload,
    accounts: usize,
    txs: usize,
    hot_ratio: f64,
    seed: u64,
) -> (Block, State) {
    let deployment = synthetic_deployment(accounts);
    let mut builder = BlockBuilder::new(deployment.accounts.len());
    if workload.uses_tokens() {
        place_contracts(&mut builder, &deployment);
    }
    let mut traffic = Traffic::new(workload, accounts, hot_ratio, seed);
    for _ in 0..txs {
        let action = traffic.next_action();
        let call = action.call(&deployment);
        builder.push(
            deployment.accounts[action.from()],
            TxKind::Call(call.to),
            call.value,
            call.data,
            call.gas_limit,
        );
    }
    builder.build()
}

/// Writes the tokens and pairs of `deployment` into the builder's pre-state.
fn place_contracts(builder: &mut BlockBuilder, deployment: &Deployment) {
    let account_tokens = U256::from(ACCOUNT_TOKENS);
    let reserve = U256::from(PAIR_RESERVE);
    let supply = account_tokens * U256::from(deployment.accounts.len())
        + reserve * U256::from(deployment.pairs.len());
    for &token in &deployment.tokens {
        let mut storage = vec![(U256::from(contracts::TOKEN_SUPPLY_SLOT), supply)];
        for &owner in &deployment.accounts {
            storage.push((contracts::balance_slot(owner), account_tokens));
            for &pair in &deployment.pairs {
                storage.push((contracts::allowance_slot(owner, pair), U256::MAX));
            }
        }
        for &pair in &deployment.pairs {
            storage.push((contracts::balance_slot(pair), reserve));
        }
        builder.deploy_with_storage(token, &contracts::token().deployed_bytecode, storage);
    }
    let [token0_slot, token1_slot, reserve0_slot, reserve1_slot] = contracts::PAIR_SLOTS;
    for &pair in &deployment.pairs {
        let storage = [
            (
                token0_slot,
                U256::from_be_slice(deployment.tokens[0].as_slice()),
            ),
            (
                token1_slot,
                U256::from_be_slice(deployment.tokens[1].as_slice()),
            ),
            (reserve0_slot, reserve),
            (reserve1_slot, reserve),
        ];
        builder.deploy_with_storage(
            pair,
            &contracts::pair().deployed_bytecode,
            storage.map(|(slot, value)| (U256::from(slot), value)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TxStatus, execute_sequential};
    use std::sync::Arc;

    #[test]
    fn every_workload_block_succeeds_transaction_by_transaction() {
        for workload in Workload::ALL {
            let (block, state) = workload_block(workload, 10, 200, 0.2, 7);
            let run = execute_sequential(&block, Arc::new(state)).expect("executes");
            for (i, outcome) in run.result.outcomes.iter().enumerate() {
                assert!(
                    outcome.status == TxStatus::Success,
                    "{workload} tx {i}: {:?}",
                    outcome.status
                );
            }
        }
    }

    #[test]
    fn hot_ratio_one_sends_every_swap_to_pair_zero() {
        let mut traffic = Traffic::new(Workload::Amm, 100, 1.0, 1);
        for _ in 0..100 {
            assert!(matches!(
                traffic.next_action(),
                Action::Swap { pair: 0, .. }
            ));
        }
        let mut cold = Traffic::new(Workload::Amm, 100, 0.0, 1);
        let pairs: std::collections::HashSet<usize> = (0..200)
            .filter_map(|_| match cold.next_action() {
                Action::Swap { pair, .. } => Some(pair),
                _ => None,
            })
            .collect();
        assert_eq!(pairs.len(), AMM_PAIRS);
    }

    #[test]
    fn scenario_names_parse_and_bad_ones_say_what_is_expected() {
        for workload in Workload::ALL {
            assert_eq!(workload.name().parse::<Workload>(), Ok(workload));
        }
        let err = "nft".parse::<Workload>().unwrap_err();
        assert!(err.contains("p2p, erc20, amm or mixed"), "{err}");
    }
}
