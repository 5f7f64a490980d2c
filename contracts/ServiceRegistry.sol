// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title ServiceRegistry: each address publishes the URI it serves at.
contract ServiceRegistry {
    mapping(address => string) private serviceUris;

    event ServiceURIUpdate(address indexed addr, string serviceURI);

    function setServiceURI(string calldata _serviceURI) external {
        serviceUris[msg.sender] = _serviceURI;
        emit ServiceURIUpdate(msg.sender, _serviceURI);
    }

    function getServiceURI(address _addr) external view returns (string memory) {
        return serviceUris[_addr];
    }
}
