// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

interface IController {
    function owner() external view returns (address);
    function getContract(bytes32 _id) external view returns (address);
}

interface IRoundsManager {
    function currentRound() external view returns (uint256);
    function lastInitializedRound() external view returns (uint256);
    function currentRoundInitialized() external view returns (bool);
    function blockHashForRound(uint256 _round) external view returns (bytes32);
}

interface IBondingManager {
    function isActiveTranscoder(address _transcoder) external view returns (bool);
}
