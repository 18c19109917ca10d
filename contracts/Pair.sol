// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.20;

interface IERC20 {
    function transferFrom(address from, address to, uint256 value) external returns (bool);
    function transfer(address to, uint256 value) external returns (bool);
}

/// @title A constant-product AMM pair (x * y = k, 0.3% fee) after Uniswap V2's pricing.
/// @notice Swaps pull the input with `transferFrom` (the trader approves the pair once), so
///         one transaction is one swap. Liquidity can be added but has no shares: this pair
///         exists to generate realistic contended traffic, not to hold anyone's funds.
/// @dev Every reserve change emits `Sync`, so the reserves can be rebuilt from receipts.
///      Storage layout is relied on by `executors/src/synthetic.rs`: slot 0 `token0`,
///      slot 1 `token1`, slot 2 `reserve0`, slot 3 `reserve1`.
contract Pair {
    address public token0;
    address public token1;
    uint256 public reserve0;
    uint256 public reserve1;

    event Swap(address indexed trader, bool zeroForOne, uint256 amountIn, uint256 amountOut);
    event Sync(uint256 reserve0, uint256 reserve1);

    constructor(address _token0, address _token1) {
        token0 = _token0;
        token1 = _token1;
    }

    function getReserves() external view returns (uint256, uint256) {
        return (reserve0, reserve1);
    }

    /// Output for `amountIn` against reserves `reserveIn`/`reserveOut`, after the 0.3% fee.
    function quote(uint256 amountIn, uint256 reserveIn, uint256 reserveOut) public pure returns (uint256) {
        uint256 inWithFee = amountIn * 997;
        return (inWithFee * reserveOut) / (reserveIn * 1000 + inWithFee);
    }

    function addLiquidity(uint256 amount0, uint256 amount1) external {
        require(IERC20(token0).transferFrom(msg.sender, address(this), amount0), "token0");
        require(IERC20(token1).transferFrom(msg.sender, address(this), amount1), "token1");
        reserve0 += amount0;
        reserve1 += amount1;
        emit Sync(reserve0, reserve1);
    }

    /// Swaps `amountIn` of token0 for token1 (`zeroForOne`) or the reverse; reverts when the
    /// output is below `minOut`.
    function swap(bool zeroForOne, uint256 amountIn, uint256 minOut) external returns (uint256 amountOut) {
        (address tokenIn, address tokenOut) = zeroForOne ? (token0, token1) : (token1, token0);
        (uint256 reserveIn, uint256 reserveOut) = zeroForOne ? (reserve0, reserve1) : (reserve1, reserve0);
        amountOut = quote(amountIn, reserveIn, reserveOut);
        require(amountOut > 0 && amountOut >= minOut, "output");
        require(IERC20(tokenIn).transferFrom(msg.sender, address(this), amountIn), "in");
        require(IERC20(tokenOut).transfer(msg.sender, amountOut), "out");
        if (zeroForOne) {
            reserve0 = reserveIn + amountIn;
            reserve1 = reserveOut - amountOut;
        } else {
            reserve1 = reserveIn + amountIn;
            reserve0 = reserveOut - amountOut;
        }
        emit Swap(msg.sender, zeroForOne, amountIn, amountOut);
        emit Sync(reserve0, reserve1);
    }
}
