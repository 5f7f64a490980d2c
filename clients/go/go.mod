module github.com/lpsigner/lpsigner/clients/go

go 1.26.0

require (
	connectrpc.com/connect v1.21.1
	golang.org/x/crypto v0.59.0
	google.golang.org/protobuf v1.36.12
)

require golang.org/x/sys v0.50.0 // indirect
