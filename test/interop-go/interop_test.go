package interop

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/lpsigner/lpsigner/clients/go/devsigner"
	signerv1 "github.com/lpsigner/lpsigner/clients/go/gen/livepeer/signer/v1"
	"github.com/lpsigner/lpsigner/clients/go/gen/lpnet"
	"google.golang.org/protobuf/proto"
)

var s *devsigner.Signer

func TestMain(m *testing.M) {
	root, _ := filepath.Abs("../..")
	var err error
	if s, err = devsigner.Start(context.Background(), root); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	s.Close()
	os.Exit(code)
}

// decodeHeader base64-decodes a header into m with Go's protobuf runtime and checks that Go
// re-encodes it to the same bytes (canonical field order, no stray or unknown fields).
func decodeHeader(t *testing.T, name, header string, m proto.Message) {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(header)
	if err != nil {
		t.Fatalf("%s: not standard base64: %v", name, err)
	}
	if err := (proto.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(raw, m); err != nil {
		t.Fatalf("%s: not a valid protobuf: %v", name, err)
	}
	if again, _ := (proto.MarshalOptions{Deterministic: true}).Marshal(m); !bytes.Equal(again, raw) {
		t.Fatalf("%s: Go re-encodes it differently:\n lpsigner %x\n go       %x", name, raw, again)
	}
	if len(m.ProtoReflect().GetUnknown()) != 0 {
		t.Fatalf("%s: unknown fields %x", name, m.ProtoReflect().GetUnknown())
	}
}

func call(t *testing.T, req *signerv1.GenerateLivePaymentRequest) *signerv1.GenerateLivePaymentResponse {
	t.Helper()
	res, err := s.Client.GenerateLivePayment(context.Background(), connect.NewRequest(req))
	if err != nil {
		t.Fatal(err)
	}
	return res.Msg
}

func TestOrchestratorRequestSignature(t *testing.T) {
	res, err := s.Client.SignOrchestratorInfo(context.Background(), connect.NewRequest(&signerv1.SignOrchestratorInfoRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	addr := common.BytesToAddress(res.Msg.Address)
	if len(res.Msg.Address) != 20 || res.Msg.AddressHex != addr.Hex() {
		t.Fatalf("address %x / %q, go-ethereum's EIP-55 form %q", res.Msg.Address, res.Msg.AddressHex, addr.Hex())
	}
	// What an orchestrator checks in GetOrchestrator: keccak256 of the checksummed address.
	if !verifySig(addr, crypto.Keccak256([]byte(addr.Hex())), res.Msg.Signature) {
		t.Fatal("the orchestrator request signature does not verify")
	}
	if verifySig(addr, crypto.Keccak256([]byte(addr.Hex()+"x")), res.Msg.Signature) {
		t.Fatal("the signature verifies over another message")
	}
}

// A live session of several calls: every ticket, segment credential and state checked with
// go-ethereum under go-livepeer's rules, the books balanced to the wei, replays refused.
func TestLiveSessionUnderGoLivepeerRules(t *testing.T) {
	ctx := context.Background()
	st, err := s.Client.GetSignerStatus(ctx, connect.NewRequest(&signerv1.GetSignerStatusRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	sender := common.BytesToAddress(st.Msg.Address)
	orch := devsigner.NewOrch()
	r := &recipient{addr: common.BytesToAddress(orch.Address), recipientRand: orch.RecipientRand, seen: map[uint32]bool{}}
	faceValue := big.NewInt(1_000_000_000_000)
	maxWinProb := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	winProb := new(big.Int).Rsh(maxWinProb, 1) // half the tickets win: winners are certain to appear
	// EV 5e11 wei a ticket; live at 1e12 wei/s, so every call needs tickets.
	info := orch.Info(1_000_000_000_000, faceValue, winProb, st.Msg.Chain.L1Block+1000, 42)
	const manifest = "interop-stream"

	var state *signerv1.SignerState
	var states []*signerv1.SignerState
	ev := new(big.Rat)   // EV of the tickets received
	fees := new(big.Rat) // fees the signer charged
	tickets, wins := 0, 0
	for i := 0; i < 8; i++ {
		res := call(t, &signerv1.GenerateLivePaymentRequest{Orchestrator: info, State: state, ManifestId: manifest, Type: signerv1.JobType_JOB_TYPE_LIVE})
		if !res.PaymentRequired {
			t.Fatalf("call %d: no payment", i)
		}
		p := &lpnet.Payment{}
		decodeHeader(t, "Livepeer-Payment", res.PaymentHeader, p)
		if !proto.Equal(p, res.Payment) {
			t.Fatalf("call %d: the header and the payment field differ", i)
		}
		if common.BytesToAddress(p.Sender) != sender || !proto.Equal(p.TicketParams, info.TicketParams) || !proto.Equal(p.ExpectedPrice, info.PriceInfo) {
			t.Fatalf("call %d: payment sender/params/price: %v", i, p)
		}
		if p.ExpirationParams.GetCreationRound() != st.Msg.Chain.Round || !bytes.Equal(p.ExpirationParams.GetCreationRoundBlockHash(), st.Msg.Chain.RoundBlockHash) {
			t.Fatalf("call %d: expiration params %v, chain round %d %x", i, p.ExpirationParams, st.Msg.Chain.Round, st.Msg.Chain.RoundBlockHash)
		}
		if uint32(len(p.TicketSenderParams)) != res.NumTickets || res.NumTickets == 0 {
			t.Fatalf("call %d: %d tickets, num_tickets %d", i, len(p.TicketSenderParams), res.NumTickets)
		}
		for _, tsp := range p.TicketSenderParams {
			tk := &ticket{
				Recipient: common.BytesToAddress(p.TicketParams.Recipient), Sender: common.BytesToAddress(p.Sender),
				FaceValue: new(big.Int).SetBytes(p.TicketParams.FaceValue), WinProb: new(big.Int).SetBytes(p.TicketParams.WinProb),
				SenderNonce: tsp.SenderNonce, RecipientRandHash: common.BytesToHash(p.TicketParams.RecipientRandHash),
				CreationRound: p.ExpirationParams.CreationRound, CreationRoundBlockHash: common.BytesToHash(p.ExpirationParams.CreationRoundBlockHash),
			}
			won, err := r.receive(tk, tsp.Sig)
			if err != nil {
				t.Fatalf("call %d nonce %d: %v", i, tsp.SenderNonce, err)
			}
			tickets++
			if won {
				wins++
			}
			// pm's ticket EV: faceValue × winProb / (2^256 - 1).
			ev.Add(ev, new(big.Rat).SetFrac(new(big.Int).Mul(tk.FaceValue, tk.WinProb), maxWinProb))
		}

		seg := &lpnet.SegData{}
		decodeHeader(t, "Livepeer-Segment", res.SegmentHeader, seg)
		if string(seg.ManifestId) != manifest || !proto.Equal(seg.AuthToken, info.AuthToken) || !bytes.Equal(seg.Hash, crypto.Keccak256(nil)) {
			t.Fatalf("call %d: segment credentials %v", i, seg)
		}
		// What an orchestrator checks for a segment: the sender's signature over keccak256(Flatten()).
		if !verifySig(sender, crypto.Keccak256(segmentMessage(seg.ManifestId, seg.Seq, seg.Hash)), seg.Sig) {
			t.Fatalf("call %d: segment signature does not verify", i)
		}

		// What go-livepeer's remote signer checks on the state it gets back: its own signature over the JSON.
		if !verifySig(sender, res.State.State, res.State.Sig) {
			t.Fatalf("call %d: state signature does not verify", i)
		}
		var js struct {
			SequenceNumber int64
			Balance        string
		}
		if err := json.Unmarshal(res.State.State, &js); err != nil || js.SequenceNumber != int64(i) {
			t.Fatalf("call %d: state %s (%v)", i, res.State.State, err)
		}
		fee, ok := new(big.Rat).SetString(res.Fee)
		if !ok {
			t.Fatalf("call %d: fee %q", i, res.Fee)
		}
		fees.Add(fees, fee)
		// The books: EV received minus fees charged is the balance the state carries, to the wei.
		balance, ok := new(big.Rat).SetString(js.Balance)
		if !ok || new(big.Rat).Sub(ev, fees).Cmp(balance) != 0 || balance.Sign() < 0 || res.Balance != js.Balance {
			t.Fatalf("call %d: balance %s, EV %s - fees %s", i, js.Balance, ev.RatString(), fees.RatString())
		}
		states = append(states, res.State)
		state = res.State
		time.Sleep(50 * time.Millisecond)
	}
	if wins == 0 || wins == tickets {
		t.Fatalf("%d winning tickets of %d at winProb 1/2", wins, tickets)
	}
	t.Logf("%d tickets verified, %d winning, EV %s wei, fees %s wei", tickets, wins, ev.FloatString(0), fees.FloatString(0))

	// A gateway that resends an older state gets tickets with nonces already seen: refused.
	res := call(t, &signerv1.GenerateLivePaymentRequest{Orchestrator: info, State: states[2], ManifestId: manifest, Type: signerv1.JobType_JOB_TYPE_LIVE})
	p := &lpnet.Payment{}
	decodeHeader(t, "Livepeer-Payment", res.PaymentHeader, p)
	tsp := p.TicketSenderParams[0]
	tk := &ticket{
		Recipient: r.addr, Sender: sender, FaceValue: faceValue, WinProb: winProb, SenderNonce: tsp.SenderNonce,
		RecipientRandHash: common.BytesToHash(orch.RecipientRandHash()),
		CreationRound:     p.ExpirationParams.CreationRound, CreationRoundBlockHash: common.BytesToHash(p.ExpirationParams.CreationRoundBlockHash),
	}
	if _, err := r.receive(tk, tsp.Sig); err == nil || err.Error() != "invalid ticket senderNonce: already seen" {
		t.Fatalf("a replayed nonce %d: %v", tsp.SenderNonce, err)
	}
	// And a ticket whose fields were changed no longer carries the sender's signature.
	tk.SenderNonce += 1000
	if _, err := r.receive(tk, tsp.Sig); err == nil || err.Error() != "invalid sender signature over ticket hash" {
		t.Fatalf("a changed ticket: %v", err)
	}
}
