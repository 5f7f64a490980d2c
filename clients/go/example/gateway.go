// Package example is the smallest gateway payment loop against lpsigner: fetch the orchestrator's
// info with the signer's credentials, then pay once per cycle, carrying the signer's state.
package example

import (
	"context"
	"errors"
	"time"

	"connectrpc.com/connect"
	signerv1 "github.com/lpsigner/lpsigner/clients/go/gen/livepeer/signer/v1"
	"github.com/lpsigner/lpsigner/clients/go/gen/livepeer/signer/v1/signerv1connect"
	"github.com/lpsigner/lpsigner/clients/go/gen/lpnet"
)

// Orchestrator: in a real gateway GetOrchestrator is its gRPC call (lpnetconnect, WithGRPC, TLS)
// and Pay is POST {orchestrator}/payment with the Livepeer-Payment and Livepeer-Segment headers.
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
	var state *signerv1.SignerState // nil on the first call of a session
	for cycle, refreshes := 0, 0; cycle < cycles && err == nil; {
		var res *connect.Response[signerv1.GenerateLivePaymentResponse]
		res, err = signer.GenerateLivePayment(ctx, connect.NewRequest(&signerv1.GenerateLivePaymentRequest{
			Orchestrator: info, State: state, ManifestId: manifestID, Type: signerv1.JobType_JOB_TYPE_LIVE,
		}))
		if refresh := new(connect.Error); errors.As(err, &refresh) && len(refresh.Details()) > 0 && refreshes < 3 {
			if d, _ := refresh.Details()[0].Value(); isRefresh(d) { // ticket params or auth token expired
				info, err = orch.GetOrchestrator(ctx, infoReq) // an error here ends the loop
				refreshes++                                    // same cycle again, with fresh info
				continue
			}
		}
		if err != nil {
			return state, err // e.g. CodeResourceExhausted + PriceExceededDetail: price above a ceiling
		}
		state, refreshes = res.Msg.State, 0 // always carried, even when nothing was due
		if res.Msg.PaymentRequired {
			if err := orch.Pay(ctx, res.Msg.PaymentHeader, res.Msg.SegmentHeader); err != nil {
				return state, err
			}
		}
		cycle++
		time.Sleep(interval)
	}
	return state, err
}

func isRefresh(d any) bool { _, ok := d.(*signerv1.RefreshSessionDetail); return ok }
