// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IController} from "./IController.sol";

/// @title RoundsManager: rounds of roundLength blocks; initializing a round records a block hash for it.
/// @notice Read surface as Livepeer's RoundsManager. devSkipRounds is a development-chain addition.
contract RoundsManager {
    IController public immutable controller;
    uint256 public roundLength;
    uint256 public lastInitializedRound;
    /// Rounds added by the owner on top of block.number / roundLength (development only).
    uint256 public roundOffset;
    mapping(uint256 => bytes32) private roundBlockHash;

    event NewRound(uint256 indexed round, bytes32 blockHash);

    constructor(IController _controller, uint256 _roundLength) {
        require(_roundLength > 0, "round length cannot be 0");
        controller = _controller;
        roundLength = _roundLength;
    }

    function blockNum() public view returns (uint256) {
        return block.number;
    }

    function currentRound() public view returns (uint256) {
        return block.number / roundLength + roundOffset;
    }

    function currentRoundStartBlock() external view returns (uint256) {
        return (block.number / roundLength) * roundLength;
    }

    function currentRoundInitialized() public view returns (bool) {
        return lastInitializedRound == currentRound();
    }

    function blockHashForRound(uint256 _round) external view returns (bytes32) {
        return roundBlockHash[_round];
    }

    /// Starts the current round, recording the hash of the previous block as the round's block hash.
    function initializeRound() external {
        uint256 round = currentRound();
        require(round > lastInitializedRound, "round already initialized");
        lastInitializedRound = round;
        bytes32 hash = blockhash(block.number - 1);
        roundBlockHash[round] = hash;
        emit NewRound(round, hash);
    }

    /// Development only: moves the current round forward by _rounds without mining blocks.
    function devSkipRounds(uint256 _rounds) external {
        require(msg.sender == controller.owner(), "caller must be controller owner");
        roundOffset += _rounds;
    }

    function setRoundLength(uint256 _roundLength) external {
        require(msg.sender == controller.owner(), "caller must be controller owner");
        require(_roundLength > 0, "round length cannot be 0");
        roundLength = _roundLength;
    }
}
