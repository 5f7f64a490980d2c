package example_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/lpsigner/lpsigner/clients/go/devsigner"
	"github.com/lpsigner/lpsigner/clients/go/example"
	signerv1 "github.com/lpsigner/lpsigner/clients/go/gen/livepeer/signer/v1"
	"github.com/lpsigner/lpsigner/clients/go/gen/lpnet"
	"github.com/lpsigner/lpsigner/clients/go/orchestrator"
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

var s *devsigner.Signer // one live development signer for the tests in this file

func TestMain(m *testing.M) {
	root, _ := filepath.Abs("../../..")
	var err error
	if s, err = devsigner.Start(context.Background(), root); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	s.Close()
	os.Exit(code)
}

// EV per ticket = 1e12 × 1/1000 = 1e9 wei; live at 2e9 wei/s: every call needs tickets.
// authLeft is how long the orchestrator's auth token stays valid.
func orchInfo(t *testing.T, orch *devsigner.Orch, authLeft time.Duration) *lpnet.OrchestratorInfo {
	status, err := s.Client.GetSignerStatus(context.Background(), connect.NewRequest(&signerv1.GetSignerStatusRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	maxWinProb := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	info := orch.Info(2_000_000_000, big.NewInt(1_000_000_000_000), new(big.Int).Div(maxWinProb, big.NewInt(1000)), status.Msg.Chain.L1Block+1000, 7)
	info.AuthToken.Expiration = time.Now().Add(authLeft).Unix()
	return info
}

func TestExampleGatewayLoopAgainstLiveSigner(t *testing.T) {
	ctx := context.Background()
	status, err := s.Client.GetSignerStatus(ctx, connect.NewRequest(&signerv1.GetSignerStatusRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	orch := devsigner.NewOrch()
	f := &fakeOrch{info: func() *lpnet.OrchestratorInfo { return orchInfo(t, orch, 30*time.Minute) }}

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

// An auth token in its last 3 minutes: the signer asks for fresh info (RefreshSessionDetail) and
// the loop fetches it once, then pays every cycle.
func TestExampleGatewayLoopRefreshesExpiringInfo(t *testing.T) {
	orch := devsigner.NewOrch()
	f := &fakeOrch{}
	f.info = func() *lpnet.OrchestratorInfo {
		if len(f.requests) == 1 {
			return orchInfo(t, orch, time.Minute)
		}
		return orchInfo(t, orch, 30*time.Minute)
	}
	if _, err := example.Run(context.Background(), s.Client, f, "go-refresh", 3, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if len(f.requests) != 2 || len(f.payments) != 3 {
		t.Fatalf("%d info requests, %d payments; want 2 and 3", len(f.requests), len(f.payments))
	}
}

// Info that never gets fresh: three refreshes, then the signer's error is returned.
func TestExampleGatewayLoopGivesUpAfterThreeRefreshes(t *testing.T) {
	orch := devsigner.NewOrch()
	f := &fakeOrch{info: func() *lpnet.OrchestratorInfo { return orchInfo(t, orch, time.Minute) }}
	_, err := example.Run(context.Background(), s.Client, f, "go-stale", 3, 10*time.Millisecond)
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || len(f.requests) != 4 || len(f.payments) != 0 {
		t.Fatalf("err %v after %d info requests and %d payments; want FailedPrecondition after 4 and 0", err, len(f.requests), len(f.payments))
	}
}

// The example loop as a real gateway: the development orchestrator that npm start runs (TLS gRPC
// GetOrchestrator with a self-signed certificate, pinned on first use; POST /payment that verifies
// every ticket, the segment credentials and the auth token) accepts every payment.
func TestExampleGatewayPaysTheDevOrchestrator(t *testing.T) {
	if len(s.Orchestrators) == 0 {
		t.Fatal("the development signer printed no orchestrator URL")
	}
	orch := orchestrator.New(s.Orchestrators[0], nil)
	state, err := example.Run(context.Background(), s.Client, orch, "go-dev-orchestrator", 5, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var st struct{ SequenceNumber int64 }
	if err := json.Unmarshal(state.State, &st); err != nil || st.SequenceNumber != 4 {
		t.Fatalf("final state %s (%v)", state.State, err)
	}
	// And it does check: a payment that is not one of the signer's is refused (4xx).
	if err := orch.Pay(context.Background(), "bm90IGEgcGF5bWVudA==", ""); err == nil || !strings.Contains(err.Error(), "refused the payment: 4") {
		t.Fatalf("a bogus payment: %v", err)
	}
	// A different certificate than the pinned one is refused before anything is sent.
	other := orchestrator.New(s.Orchestrators[0], make([]byte, 32))
	if _, err := other.GetOrchestrator(context.Background(), &lpnet.OrchestratorRequest{}); err == nil || !strings.Contains(err.Error(), "is not the pinned") {
		t.Fatalf("a wrong pin: %v", err)
	}
}
