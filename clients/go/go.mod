module github.com/lpsigner/lpsigner/clients/go

// Go 1.22 and later: the dependencies below are the newest releases that still accept Go 1.22
// (a gateway on a newer Go may upgrade them; MVS keeps the higher versions).
go 1.22

require (
	connectrpc.com/connect v1.18.1
	golang.org/x/crypto v0.33.0
	google.golang.org/protobuf v1.36.6
)

require golang.org/x/sys v0.30.0 // indirect
