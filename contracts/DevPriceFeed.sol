// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// A Chainlink AggregatorV3Interface-compatible price feed for the development chain: anyone may
/// set its answer and updatedAt, so tests can move the ETH/USD rate and make it stale.
contract DevPriceFeed {
    uint8 public decimals;
    string public description;
    uint256 public version = 4;

    uint80 private roundId;
    int256 private answer;
    uint256 private updatedAt;

    constructor(uint8 _decimals, string memory _description, int256 _answer) {
        decimals = _decimals;
        description = _description;
        setAnswer(_answer, block.timestamp);
    }

    /// A new round with this answer, updated at `_updatedAt` (seconds since the epoch).
    function setAnswer(int256 _answer, uint256 _updatedAt) public {
        roundId += 1;
        answer = _answer;
        updatedAt = _updatedAt;
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return (roundId, answer, updatedAt, updatedAt, roundId);
    }

    function getRoundData(uint80 _roundId) external view returns (uint80, int256, uint256, uint256, uint80) {
        require(_roundId == roundId, "No data present");
        return (roundId, answer, updatedAt, updatedAt, roundId);
    }
}
