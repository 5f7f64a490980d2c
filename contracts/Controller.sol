// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Controller: the registry of protocol contracts, looked up by keccak256(name).
/// @notice Same lookup surface as Livepeer's Controller (setContractInfo / getContract / getContractInfo).
contract Controller {
    struct ContractInfo {
        address contractAddress;
        bytes20 gitCommitHash;
    }

    address public owner;
    mapping(bytes32 => ContractInfo) private registry;

    event SetContractInfo(bytes32 id, address contractAddress, bytes20 gitCommitHash);

    constructor() {
        owner = msg.sender;
    }

    function setContractInfo(bytes32 _id, address _contractAddress, bytes20 _gitCommitHash) external {
        require(msg.sender == owner, "caller must be owner");
        registry[_id] = ContractInfo(_contractAddress, _gitCommitHash);
        emit SetContractInfo(_id, _contractAddress, _gitCommitHash);
    }

    function getContractInfo(bytes32 _id) external view returns (address, bytes20) {
        ContractInfo storage info = registry[_id];
        return (info.contractAddress, info.gitCommitHash);
    }

    function getContract(bytes32 _id) public view returns (address) {
        return registry[_id].contractAddress;
    }
}
