// Package example is the smallest gateway payment loop against lpsigner: fetch the orchestrator's
// info with the signer's credentials, then pay once per cycle, carrying the signer's state.
package example

import (
	"context"
	"time"

	"connectrpc.com/connect"
	signerv1 "github.com/lpsigner/lpsigner/clients/go/gen/livepeer/signer/v1"
	"github.com/lpsigner/lpsigner/clients/go/gen/livepeer/signer/v1/signerv1connect"
	"github.com/lpsigner/lpsigner/clients/go/gen/lpnet"
)

// Orchestrator is what a gateway needs from one orchestrator. In a real gateway GetOrchestrator
// is the orchestrator's gRPC call (lpnetconnect.NewOrchestratorClient with connect.WithGRPC(),
// over TLS) and Pay is POST {orchestrator}/payment with the Livepeer-Payment and
// Livepeer-Segment headers.
type Orchestrator interface {
	GetOrchestrator(ctx context.Context, req *lpnet.OrchestratorRequest) (*lpnet.OrchestratorInfo, error)
	Pay(ctx context.Context, paymentHeader, segmentHeader string) error
}

// Run pays orch for `cycles` cycles, `interval` apart, and returns the last state.
func Run(ctx context.Context, signer signerv1connect.SignerServiceClient, orch Orchestrator,
	manifestID string, cycles int, interval time.Duration) (*signerv1.SignerState, error) {
	creds, err := signer.SignOrchestratorInfo(ctx, connect.NewRequest(&signerv1.SignOrchestratorInfoRequest{}))
	if err != nil {
		return nil, err
	}
	infoReq := &lpnet.OrchestratorRequest{Address: creds.Msg.Address, Sig: creds.Msg.Signature}
	info, err := orch.GetOrchestrator(ctx, infoReq)
	if err != nil {
		return nil, err
	}
	var state *signerv1.SignerState // nil on the first call of a session
	for i := 0; i < cycles; i++ {
		res, err := signer.GenerateLivePayment(ctx, connect.NewRequest(&signerv1.GenerateLivePaymentRequest{
			Orchestrator: info, State: state, ManifestId: manifestID, Type: signerv1.JobType_JOB_TYPE_LIVE,
		}))
		if connect.CodeOf(err) == connect.CodeFailedPrecondition { // ticket params or auth token expired
			if info, err = orch.GetOrchestrator(ctx, infoReq); err != nil {
				return state, err
			}
			i-- // same cycle again, with fresh info
			continue
		}
		if err != nil {
			return state, err // e.g. CodeResourceExhausted: the price is above a ceiling
		}
		state = res.Msg.State // always carried, even when nothing was due
		if res.Msg.PaymentRequired {
			if err := orch.Pay(ctx, res.Msg.PaymentHeader, res.Msg.SegmentHeader); err != nil {
				return state, err
			}
		}
		time.Sleep(interval)
	}
	return state, nil
}
