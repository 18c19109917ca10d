//! The benchmark contracts of `contracts/` (an ERC20 token and a constant-product pair): their
//! compiled artifacts, committed beside the sources by `scripts/compile-contracts.sh`, and ABI
//! bindings for the calls the load generator and the synthetic blocks make.
//!
//! The storage slots below follow the artifacts' storage layouts; a unit test checks them, so
//! recompiling a contract with another layout fails here rather than in a benchmark.

use alloy_primitives::{Address, Bytes, U256, keccak256};
use alloy_sol_types::{SolConstructor, sol};
use std::sync::OnceLock;

sol! {
    /// The ERC20 token of `contracts/Token.sol`.
    #[derive(Debug)]
    contract Token {
        constructor(uint256 supply);
        function balanceOf(address owner) external view returns (uint256);
        function totalSupply() external view returns (uint256);
        function transfer(address to, uint256 value) external returns (bool);
        function approve(address spender, uint256 value) external returns (bool);
        function transferFrom(address from, address to, uint256 value) external returns (bool);
        event Transfer(address indexed from, address indexed to, uint256 value);
    }

    /// The constant-product pair of `contracts/Pair.sol`.
    #[derive(Debug)]
    contract Pair {
        constructor(address token0, address token1);
        function getReserves() external view returns (uint256, uint256);
        function addLiquidity(uint256 amount0, uint256 amount1) external;
        function swap(bool zeroForOne, uint256 amountIn, uint256 minOut) external returns (uint256);
        event Swap(address indexed trader, bool zeroForOne, uint256 amountIn, uint256 amountOut);
        event Sync(uint256 reserve0, uint256 reserve1);
    }
}

/// A compiled contract: what `scripts/compile-contracts.sh` writes to `contracts/out/`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// Contract name.
    pub contract: String,
    /// The exact compiler, e.g. `solc-js 0.8.30+commit.73712a01...`.
    pub compiler: String,
    /// Creation code (constructor arguments are appended to it).
    pub bytecode: Bytes,
    /// Runtime code, as deployed.
    pub deployed_bytecode: Bytes,
    /// State variables and their slots.
    pub storage_layout: Vec<StorageVar>,
}

/// One state variable of an [`Artifact`]'s storage layout.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct StorageVar {
    /// Its name in the source.
    pub label: String,
    /// Its slot, in decimal.
    pub slot: String,
}

impl Artifact {
    fn parse(json: &str) -> Self {
        // The artifacts are committed and checked by the unit tests below: a parse failure is
        // a broken build, not bad input.
        serde_json::from_str(json).expect("contracts/out artifact is valid JSON")
    }

    /// The slot of the state variable `label`, if the layout has it.
    pub fn slot_of(&self, label: &str) -> Option<u64> {
        self.storage_layout
            .iter()
            .find(|v| v.label == label)
            .and_then(|v| v.slot.parse().ok())
    }
}

/// The compiled token.
pub fn token() -> &'static Artifact {
    static TOKEN: OnceLock<Artifact> = OnceLock::new();
    TOKEN.get_or_init(|| Artifact::parse(include_str!("../../contracts/out/Token.json")))
}

/// The compiled pair.
pub fn pair() -> &'static Artifact {
    static PAIR: OnceLock<Artifact> = OnceLock::new();
    PAIR.get_or_init(|| Artifact::parse(include_str!("../../contracts/out/Pair.json")))
}

/// Creation code deploying a token that mints `supply` to its deployer.
pub fn token_init_code(supply: U256) -> Bytes {
    let mut code = token().bytecode.to_vec();
    code.extend(Token::constructorCall { supply }.abi_encode());
    code.into()
}

/// Creation code deploying a pair of `token0` and `token1` with empty reserves.
pub fn pair_init_code(token0: Address, token1: Address) -> Bytes {
    let mut code = pair().bytecode.to_vec();
    code.extend(Pair::constructorCall { token0, token1 }.abi_encode());
    code.into()
}

/// `Token.balanceOf` slot (`balanceOf` is a mapping in slot 0).
pub const TOKEN_BALANCES_SLOT: u64 = 0;
/// `Token.allowance` slot.
pub const TOKEN_ALLOWANCES_SLOT: u64 = 1;
/// `Token.totalSupply` slot.
pub const TOKEN_SUPPLY_SLOT: u64 = 2;
/// `Pair.token0`, `token1`, `reserve0`, `reserve1` slots.
pub const PAIR_SLOTS: [u64; 4] = [0, 1, 2, 3];

/// The storage slot of `mapping[key]` for a mapping declared at `slot` (Solidity's rule:
/// keccak256 of the key, padded to 32 bytes, then the slot).
pub fn mapping_slot(key: Address, slot: U256) -> U256 {
    let mut preimage = [0u8; 64];
    preimage[12..32].copy_from_slice(key.as_slice());
    preimage[32..].copy_from_slice(&slot.to_be_bytes::<32>());
    U256::from_be_bytes(keccak256(preimage).0)
}

/// The slot of `balanceOf[owner]`.
pub fn balance_slot(owner: Address) -> U256 {
    mapping_slot(owner, U256::from(TOKEN_BALANCES_SLOT))
}

/// The slot of `allowance[owner][spender]`.
pub fn allowance_slot(owner: Address, spender: Address) -> U256 {
    mapping_slot(
        spender,
        mapping_slot(owner, U256::from(TOKEN_ALLOWANCES_SLOT)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifacts_name_their_compiler_and_have_code() {
        for artifact in [token(), pair()] {
            assert!(
                artifact.compiler.starts_with("solc"),
                "{}",
                artifact.compiler
            );
            assert!(!artifact.deployed_bytecode.is_empty());
            assert!(artifact.bytecode.len() > artifact.deployed_bytecode.len());
        }
    }

    #[test]
    fn slots_match_the_compiled_layout() {
        let token = token();
        assert_eq!(token.slot_of("balanceOf"), Some(TOKEN_BALANCES_SLOT));
        assert_eq!(token.slot_of("allowance"), Some(TOKEN_ALLOWANCES_SLOT));
        assert_eq!(token.slot_of("totalSupply"), Some(TOKEN_SUPPLY_SLOT));
        let pair = pair();
        for (label, slot) in ["token0", "token1", "reserve0", "reserve1"]
            .into_iter()
            .zip(PAIR_SLOTS)
        {
            assert_eq!(pair.slot_of(label), Some(slot), "{label}");
        }
    }
}
