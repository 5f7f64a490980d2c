// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title BondingManager (minimal): a pool of active transcoders, kept as a linked list.
/// @notice Pool walking uses Livepeer's names (getFirstTranscoderInPool / getNextTranscoderInPool).
/// There is no stake here: a transcoder that registers is active until it resigns.
contract BondingManager {
    struct Transcoder {
        bool active;
        uint256 rewardCut;
        uint256 feeShare;
        address next;
        address prev;
    }

    mapping(address => Transcoder) private transcoders;
    address private first;
    address private last;
    uint256 private poolSize;

    event TranscoderUpdate(address indexed transcoder, uint256 rewardCut, uint256 feeShare);
    event TranscoderDeactivated(address indexed transcoder);

    /// Registers (or updates) the caller as an active transcoder.
    function transcoder(uint256 _rewardCut, uint256 _feeShare) external {
        Transcoder storage t = transcoders[msg.sender];
        t.rewardCut = _rewardCut;
        t.feeShare = _feeShare;
        if (!t.active) {
            t.active = true;
            t.prev = last;
            t.next = address(0);
            if (last == address(0)) {
                first = msg.sender;
            } else {
                transcoders[last].next = msg.sender;
            }
            last = msg.sender;
            poolSize += 1;
        }
        emit TranscoderUpdate(msg.sender, _rewardCut, _feeShare);
    }

    /// Removes the caller from the active pool.
    function resignTranscoder() external {
        Transcoder storage t = transcoders[msg.sender];
        require(t.active, "caller must be an active transcoder");
        if (t.prev == address(0)) first = t.next; else transcoders[t.prev].next = t.next;
        if (t.next == address(0)) last = t.prev; else transcoders[t.next].prev = t.prev;
        t.active = false;
        t.next = address(0);
        t.prev = address(0);
        poolSize -= 1;
        emit TranscoderDeactivated(msg.sender);
    }

    function isActiveTranscoder(address _transcoder) external view returns (bool) {
        return transcoders[_transcoder].active;
    }

    function isRegisteredTranscoder(address _transcoder) external view returns (bool) {
        return transcoders[_transcoder].active;
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
}
