package example_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/lpsigner/lpsigner/clients/go/devsigner"
	"github.com/lpsigner/lpsigner/clients/go/example"
	signerv1 "github.com/lpsigner/lpsigner/clients/go/gen/livepeer/signer/v1"
	"github.com/lpsigner/lpsigner/clients/go/gen/lpnet"
	"google.golang.org/protobuf/proto"
)

// fakeOrch serves OrchestratorInfo and records what the gateway pays it.
type fakeOrch struct {
	info     func() *lpnet.OrchestratorInfo
	requests []*lpnet.OrchestratorRequest
	payments []*lpnet.Payment
	segments []*lpnet.SegData
}

func (f *fakeOrch) GetOrchestrator(_ context.Context, req *lpnet.OrchestratorRequest) (*lpnet.OrchestratorInfo, error) {
	f.requests = append(f.requests, req)
	return f.info(), nil
}

func (f *fakeOrch) Pay(_ context.Context, paymentHeader, segmentHeader string) error {
	p, s := &lpnet.Payment{}, &lpnet.SegData{}
	if err := decode(paymentHeader, p); err != nil {
		return err
	}
	if err := decode(segmentHeader, s); err != nil {
		return err
	}
	f.payments, f.segments = append(f.payments, p), append(f.segments, s)
	return nil
}

func decode(header string, m proto.Message) error {
	raw, err := base64.StdEncoding.DecodeString(header)
	if err != nil {
		return err
	}
	return proto.Unmarshal(raw, m)
}

func TestExampleGatewayLoopAgainstLiveSigner(t *testing.T) {
	ctx := context.Background()
	root, _ := filepath.Abs("../../..")
	s, err := devsigner.Start(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	status, err := s.Client.GetSignerStatus(ctx, connect.NewRequest(&signerv1.GetSignerStatusRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	orch := devsigner.NewOrch()
	maxWinProb := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	// EV per ticket = 1e12 × 1/1000 = 1e9 wei; live at 2e9 wei/s: every call needs tickets.
	f := &fakeOrch{info: func() *lpnet.OrchestratorInfo {
		return orch.Info(2_000_000_000, big.NewInt(1_000_000_000_000), new(big.Int).Div(maxWinProb, big.NewInt(1000)), status.Msg.Chain.L1Block+1000, 7)
	}}

	const cycles = 5
	state, err := example.Run(ctx, s.Client, f, "go-example-stream", cycles, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}

	if len(f.requests) != 1 || !proto.Equal(f.requests[0], &lpnet.OrchestratorRequest{Address: status.Msg.Address, Sig: f.requests[0].Sig}) || len(f.requests[0].Sig) != 65 {
		t.Fatalf("orchestrator request: %v", f.requests)
	}
	if len(f.payments) != cycles {
		t.Fatalf("%d payments for %d cycles", len(f.payments), cycles)
	}
	lastNonce := int64(-1)
	for i, p := range f.payments {
		if string(p.Sender) != string(status.Msg.Address) || string(p.TicketParams.Recipient) != string(orch.Address) || len(p.TicketSenderParams) == 0 {
			t.Fatalf("payment %d: %v", i, p)
		}
		if p.ExpirationParams.GetCreationRound() != status.Msg.Chain.Round {
			t.Fatalf("payment %d: creation round %d, chain round %d", i, p.ExpirationParams.GetCreationRound(), status.Msg.Chain.Round)
		}
		for _, tsp := range p.TicketSenderParams { // nonces strictly increase across the session
			if int64(tsp.SenderNonce) <= lastNonce || len(tsp.Sig) != 65 {
				t.Fatalf("payment %d: nonce %d after %d, sig %d bytes", i, tsp.SenderNonce, lastNonce, len(tsp.Sig))
			}
			lastNonce = int64(tsp.SenderNonce)
		}
		if string(f.segments[i].ManifestId) != "go-example-stream" || len(f.segments[i].Sig) != 65 {
			t.Fatalf("segment %d: %v", i, f.segments[i])
		}
	}
	var st struct {
		SequenceNumber int64
		SenderNonce    int64 // the last nonce used
		Balance        string
	}
	if err := json.Unmarshal(state.State, &st); err != nil {
		t.Fatal(err)
	}
	if st.SequenceNumber != cycles-1 || st.SenderNonce != lastNonce || len(state.Sig) != 65 {
		t.Fatalf("final state %+v after %d cycles, last nonce %d", st, cycles, lastNonce)
	}
	if b, ok := new(big.Rat).SetString(st.Balance); !ok || b.Sign() < 0 {
		t.Fatalf("final balance %q", st.Balance)
	}
}
