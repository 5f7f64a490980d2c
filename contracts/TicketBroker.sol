// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IController, IRoundsManager, IBondingManager} from "./IController.sol";

/// @title TicketBroker: holds senders' deposits and reserves and pays winning PM tickets.
/// @notice ABI shapes (Ticket, Sender, ReserveInfo, getSenderInfo, redeemWinningTicket,
/// fundDepositAndReserve[For]) follow Livepeer's TicketBroker, and so do the checks a winning
/// ticket must pass. Differences: winnings are sent as ETH straight to the recipient, and the
/// reserve is not split between active transcoders.
contract TicketBroker {
    struct Ticket {
        address recipient;
        address sender;
        uint256 faceValue;
        uint256 winProb;
        uint256 senderNonce;
        bytes32 recipientRandHash;
        bytes auxData;
    }

    struct Sender {
        uint256 deposit;
        uint256 withdrawRound;
    }

    struct ReserveInfo {
        uint256 fundsRemaining;
        uint256 claimedInCurrentRound;
    }

    struct Reserve {
        uint256 funds;
        uint256 claimedRound;
        uint256 claimedInRound;
    }

    /// secp256k1 order / 2: signatures with a larger s are malleable copies and are refused.
    uint256 private constant MAX_S = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    IController public immutable controller;
    uint256 public unlockPeriod;
    uint256 public ticketValidityPeriod;

    mapping(address => Sender) private senders;
    mapping(address => Reserve) private reserves;
    mapping(bytes32 => bool) public usedTickets;

    event DepositFunded(address indexed sender, uint256 amount);
    event ReserveFunded(address indexed reserveHolder, uint256 amount);
    event WinningTicketRedeemed(
        address indexed sender,
        address indexed recipient,
        uint256 faceValue,
        uint256 winProb,
        uint256 senderNonce,
        uint256 recipientRand,
        bytes auxData
    );
    event WinningTicketTransfer(address indexed sender, address indexed recipient, uint256 amount);
    event Unlock(address indexed sender, uint256 startRound, uint256 endRound);
    event UnlockCancelled(address indexed sender);
    event Withdrawal(address indexed sender, uint256 deposit, uint256 reserve);

    constructor(IController _controller, uint256 _unlockPeriod, uint256 _ticketValidityPeriod) {
        controller = _controller;
        unlockPeriod = _unlockPeriod;
        ticketValidityPeriod = _ticketValidityPeriod;
    }

    // Funding

    function fundDeposit() external payable {
        addDeposit(msg.sender, msg.value);
    }

    function fundReserve() external payable {
        addReserve(msg.sender, msg.value);
    }

    function fundDepositAndReserve(uint256 _depositAmount, uint256 _reserveAmount) external payable {
        fundDepositAndReserveFor(msg.sender, _depositAmount, _reserveAmount);
    }

    /// Funds another address's deposit and reserve; anyone may pay for anyone.
    function fundDepositAndReserveFor(address _addr, uint256 _depositAmount, uint256 _reserveAmount) public payable {
        require(msg.value == _depositAmount + _reserveAmount, "msg.value does not equal sum of deposit amount and reserve amount");
        addDeposit(_addr, _depositAmount);
        addReserve(_addr, _reserveAmount);
    }

    function addDeposit(address _addr, uint256 _amount) private {
        if (_amount == 0) return;
        cancelUnlockIfPending(_addr);
        senders[_addr].deposit += _amount;
        emit DepositFunded(_addr, _amount);
    }

    function addReserve(address _addr, uint256 _amount) private {
        if (_amount == 0) return;
        cancelUnlockIfPending(_addr);
        reserves[_addr].funds += _amount;
        emit ReserveFunded(_addr, _amount);
    }

    // Unlock and withdraw

    function unlock() external {
        Sender storage sender = senders[msg.sender];
        require(sender.deposit > 0 || reserves[msg.sender].funds > 0, "sender deposit and reserve are zero");
        require(sender.withdrawRound == 0, "unlock already initiated");
        uint256 round = roundsManager().currentRound();
        sender.withdrawRound = round + unlockPeriod;
        emit Unlock(msg.sender, round, sender.withdrawRound);
    }

    function cancelUnlock() external {
        require(senders[msg.sender].withdrawRound > 0, "no unlock request in progress");
        cancelUnlockIfPending(msg.sender);
    }

    function withdraw() external {
        Sender storage sender = senders[msg.sender];
        uint256 deposit = sender.deposit;
        uint256 reserve = reserves[msg.sender].funds;
        require(deposit > 0 || reserve > 0, "sender deposit and reserve are zero");
        require(sender.withdrawRound > 0, "no unlock request in progress");
        require(sender.withdrawRound <= roundsManager().currentRound(), "account is locked");
        sender.deposit = 0;
        sender.withdrawRound = 0;
        reserves[msg.sender].funds = 0;
        emit Withdrawal(msg.sender, deposit, reserve);
        (bool ok, ) = payable(msg.sender).call{value: deposit + reserve}("");
        require(ok, "withdrawal transfer failed");
    }

    function isUnlockInProgress(address _sender) external view returns (bool) {
        return senders[_sender].withdrawRound > 0;
    }

    function cancelUnlockIfPending(address _addr) private {
        if (senders[_addr].withdrawRound > 0) {
            senders[_addr].withdrawRound = 0;
            emit UnlockCancelled(_addr);
        }
    }

    // Reading

    function getSenderInfo(address _sender) external view returns (Sender memory sender, ReserveInfo memory reserve) {
        sender = senders[_sender];
        Reserve storage r = reserves[_sender];
        uint256 claimed = r.claimedRound == roundsManager().currentRound() ? r.claimedInRound : 0;
        reserve = ReserveInfo({fundsRemaining: r.funds, claimedInCurrentRound: claimed});
    }

    function getTicketHash(Ticket memory _ticket) public pure returns (bytes32) {
        return keccak256(
            abi.encodePacked(
                _ticket.recipient,
                _ticket.sender,
                _ticket.faceValue,
                _ticket.winProb,
                _ticket.senderNonce,
                _ticket.recipientRandHash,
                _ticket.auxData
            )
        );
    }

    // Redemption

    function redeemWinningTicket(Ticket memory _ticket, bytes memory _sig, uint256 _recipientRand) public {
        require(roundsManager().currentRoundInitialized(), "current round is not initialized");
        bytes32 ticketHash = getTicketHash(_ticket);
        requireValidWinningTicket(_ticket, ticketHash, _sig, _recipientRand);
        require(bondingManager().isActiveTranscoder(_ticket.recipient), "transcoder must be active");

        Sender storage sender = senders[_ticket.sender];
        Reserve storage reserve = reserves[_ticket.sender];
        require(sender.deposit > 0 || reserve.funds > 0, "sender deposit and reserve are zero");

        usedTickets[ticketHash] = true;

        uint256 amount;
        if (_ticket.faceValue > sender.deposit) {
            uint256 fromReserve = _ticket.faceValue - sender.deposit;
            if (fromReserve > reserve.funds) fromReserve = reserve.funds;
            amount = sender.deposit + fromReserve;
            sender.deposit = 0;
            reserve.funds -= fromReserve;
            uint256 round = roundsManager().currentRound();
            if (reserve.claimedRound != round) {
                reserve.claimedRound = round;
                reserve.claimedInRound = 0;
            }
            reserve.claimedInRound += fromReserve;
        } else {
            amount = _ticket.faceValue;
            sender.deposit -= amount;
        }

        emit WinningTicketRedeemed(
            _ticket.sender,
            _ticket.recipient,
            _ticket.faceValue,
            _ticket.winProb,
            _ticket.senderNonce,
            _recipientRand,
            _ticket.auxData
        );

        if (amount > 0) {
            emit WinningTicketTransfer(_ticket.sender, _ticket.recipient, amount);
            (bool ok, ) = payable(_ticket.recipient).call{value: amount}("");
            require(ok, "winning ticket transfer failed");
        }
    }

    function requireValidWinningTicket(
        Ticket memory _ticket,
        bytes32 _ticketHash,
        bytes memory _sig,
        uint256 _recipientRand
    ) internal view {
        require(_ticket.recipient != address(0), "ticket recipient is null address");
        require(_ticket.sender != address(0), "ticket sender is null address");
        requireValidTicketAuxData(_ticket.auxData);
        require(
            keccak256(abi.encodePacked(_recipientRand)) == _ticket.recipientRandHash,
            "recipientRand does not match recipientRandHash"
        );
        require(!usedTickets[_ticketHash], "ticket is used");
        require(isValidTicketSig(_ticket.sender, _sig, _ticketHash), "invalid signature over ticket hash");
        require(isWinningTicket(_sig, _recipientRand, _ticket.winProb), "ticket did not win");
    }

    /// auxData is (creationRound, creationRoundBlockHash); the hash must be the one RoundsManager
    /// recorded for that round, and the round must be within ticketValidityPeriod of the current one.
    function requireValidTicketAuxData(bytes memory _auxData) internal view {
        require(_auxData.length == 64, "invalid length for ticket auxData: must be 64 bytes");
        uint256 creationRound;
        bytes32 creationRoundBlockHash;
        assembly {
            creationRound := mload(add(_auxData, 32))
            creationRoundBlockHash := mload(add(_auxData, 64))
        }
        bytes32 blockHash = roundsManager().blockHashForRound(creationRound);
        require(blockHash != bytes32(0), "ticket creationRound does not have a block hash");
        require(creationRoundBlockHash == blockHash, "ticket creationRoundBlockHash invalid for creationRound");
        require(creationRound + ticketValidityPeriod > roundsManager().currentRound(), "ticket is expired");
    }

    function isValidTicketSig(address _sender, bytes memory _sig, bytes32 _ticketHash) internal pure returns (bool) {
        address signer = recoverEthSigned(_ticketHash, _sig);
        return signer != address(0) && signer == _sender;
    }

    function isWinningTicket(bytes memory _sig, uint256 _recipientRand, uint256 _winProb) internal pure returns (bool) {
        return uint256(keccak256(abi.encodePacked(_sig, _recipientRand))) < _winProb;
    }

    /// ECDSA recovery over the EIP-191 personal-sign hash of a 32-byte message: 65-byte r||s||v
    /// signatures only, v must be 27 or 28, s must be in the lower half of the curve order.
    function recoverEthSigned(bytes32 _hash, bytes memory _sig) internal pure returns (address) {
        require(_sig.length == 65, "ECDSA: invalid signature length");
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly {
            r := mload(add(_sig, 32))
            s := mload(add(_sig, 64))
            v := byte(0, mload(add(_sig, 96)))
        }
        require(uint256(s) <= MAX_S, "ECDSA: invalid signature 's' value");
        require(v == 27 || v == 28, "ECDSA: invalid signature 'v' value");
        bytes32 digest = keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", _hash));
        address signer = ecrecover(digest, v, r, s);
        require(signer != address(0), "ECDSA: invalid signature");
        return signer;
    }

    function roundsManager() private view returns (IRoundsManager) {
        return IRoundsManager(controller.getContract(keccak256("RoundsManager")));
    }

    function bondingManager() private view returns (IBondingManager) {
        return IBondingManager(controller.getContract(keccak256("BondingManager")));
    }
}
