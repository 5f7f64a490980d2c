// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IController, IRoundsManager} from "./IController.sol";

/// @title BondingManager (minimal): a pool of transcoders, kept as a linked list, with Livepeer's
/// activation rounds.
/// @notice Pool walking and getTranscoder use Livepeer's names and shapes. There is no stake here:
/// a transcoder that registers joins the pool and is active from the next round (as Livepeer's
/// activationRound = currentRound + 1) until it resigns, which removes it from the pool and ends
/// its activity after the current round (deactivationRound = currentRound + 1).
/// devActivateNow is a development-chain addition.
contract BondingManager {
    uint256 private constant MAX_FUTURE_ROUND = type(uint256).max;

    struct Transcoder {
        bool inPool;
        uint256 rewardCut;
        uint256 feeShare;
        uint256 activationRound;
        uint256 deactivationRound;
        address next;
        address prev;
    }

    IController public immutable controller;
    mapping(address => Transcoder) private transcoders;
    address private first;
    address private last;
    uint256 private poolSize;

    event TranscoderUpdate(address indexed transcoder, uint256 rewardCut, uint256 feeShare);
    event TranscoderActivated(address indexed transcoder, uint256 activationRound);
    event TranscoderDeactivated(address indexed transcoder, uint256 deactivationRound);

    constructor(IController _controller) {
        controller = _controller;
    }

    /// Registers (or updates) the caller; a new pool member is active from the next round.
    function transcoder(uint256 _rewardCut, uint256 _feeShare) external {
        Transcoder storage t = transcoders[msg.sender];
        t.rewardCut = _rewardCut;
        t.feeShare = _feeShare;
        if (!t.inPool) {
            t.inPool = true;
            t.prev = last;
            t.next = address(0);
            if (last == address(0)) {
                first = msg.sender;
            } else {
                transcoders[last].next = msg.sender;
            }
            last = msg.sender;
            poolSize += 1;
            t.activationRound = roundsManager().currentRound() + 1;
            t.deactivationRound = MAX_FUTURE_ROUND;
            emit TranscoderActivated(msg.sender, t.activationRound);
        }
        emit TranscoderUpdate(msg.sender, _rewardCut, _feeShare);
    }

    /// Removes the caller from the pool; it stays active until the current round ends.
    function resignTranscoder() external {
        Transcoder storage t = transcoders[msg.sender];
        require(t.inPool, "caller must be in the transcoder pool");
        if (t.prev == address(0)) first = t.next; else transcoders[t.prev].next = t.next;
        if (t.next == address(0)) last = t.prev; else transcoders[t.next].prev = t.prev;
        t.inPool = false;
        t.next = address(0);
        t.prev = address(0);
        poolSize -= 1;
        t.deactivationRound = roundsManager().currentRound() + 1;
        emit TranscoderDeactivated(msg.sender, t.deactivationRound);
    }

    /// Development only: a pool member becomes active in the last initialized round, as if it had
    /// joined a round earlier.
    function devActivateNow(address _transcoder) external {
        require(msg.sender == controller.owner(), "caller must be controller owner");
        Transcoder storage t = transcoders[_transcoder];
        require(t.inPool, "transcoder must be in the pool");
        t.activationRound = roundsManager().lastInitializedRound();
        emit TranscoderActivated(_transcoder, t.activationRound);
    }

    /// Livepeer's rule: activationRound <= currentRound < deactivationRound.
    function isActiveTranscoder(address _transcoder) public view returns (bool) {
        Transcoder storage t = transcoders[_transcoder];
        uint256 round = roundsManager().currentRound();
        return t.activationRound <= round && round < t.deactivationRound;
    }

    function isRegisteredTranscoder(address _transcoder) external view returns (bool) {
        return transcoders[_transcoder].inPool;
    }

    /// Livepeer's getTranscoder shape; the stake and reward fields are always 0 here.
    function getTranscoder(address _transcoder)
        external
        view
        returns (
            uint256 lastRewardRound,
            uint256 rewardCut,
            uint256 feeShare,
            uint256 lastActiveStakeUpdateRound,
            uint256 activationRound,
            uint256 deactivationRound,
            uint256 activeCumulativeRewards,
            uint256 cumulativeRewards,
            uint256 cumulativeFees,
            uint256 lastFeeRound
        )
    {
        Transcoder storage t = transcoders[_transcoder];
        return (0, t.rewardCut, t.feeShare, 0, t.activationRound, t.deactivationRound, 0, 0, 0, 0);
    }

    function getFirstTranscoderInPool() external view returns (address) {
        return first;
    }

    function getNextTranscoderInPool(address _transcoder) external view returns (address) {
        return transcoders[_transcoder].next;
    }

    function getTranscoderPoolSize() external view returns (uint256) {
        return poolSize;
    }

    function roundsManager() internal view returns (IRoundsManager) {
        return IRoundsManager(controller.getContract(keccak256("RoundsManager")));
    }
}
