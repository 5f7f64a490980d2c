module github.com/lpsigner/lpsigner/test/interop-go

go 1.26.0

require (
	connectrpc.com/connect v1.21.1
	github.com/ethereum/go-ethereum v1.13.5
	github.com/lpsigner/lpsigner/clients/go v0.0.0-00010101000000-000000000000
	google.golang.org/protobuf v1.36.12
)

require (
	github.com/btcsuite/btcd/btcec/v2 v2.2.0 // indirect
	github.com/decred/dcrd/dcrec/secp256k1/v4 v4.0.1 // indirect
	github.com/holiman/uint256 v1.2.3 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

replace github.com/lpsigner/lpsigner/clients/go => ../../clients/go
