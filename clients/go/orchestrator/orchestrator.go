// Package orchestrator talks to a go-livepeer orchestrator as a gateway does: its GetOrchestrator
// gRPC call over TLS, and POST /payment with the Livepeer-Payment and Livepeer-Segment headers.
//
// go-livepeer orchestrators serve self-signed certificates. By default the first certificate seen
// is pinned (trust on first use, as the Livepeer Python gateway does) and a different one later is
// refused; Pin sets the expected SHA-256 fingerprint up front. The check runs in the handshake,
// before anything is sent.
package orchestrator

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/lpsigner/lpsigner/clients/go/gen/lpnet"
	"github.com/lpsigner/lpsigner/clients/go/gen/lpnet/lpnetconnect"
)

// Client is one orchestrator at its service URL (OrchestratorInfo.transcoder, e.g. https://host:8935).
type Client struct {
	url  string
	http *http.Client
	mu   sync.Mutex
	pin  []byte // SHA-256 of the leaf certificate; nil until first use
}

// New returns a client for the orchestrator at url; pin is the certificate's SHA-256, or nil
// to pin the first one seen.
func New(url string, pin []byte) *Client {
	c := &Client{url: url, pin: pin}
	c.http = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		ForceAttemptHTTP2: true, // gRPC needs HTTP/2
		TLSClientConfig: &tls.Config{
			InsecureSkipVerify: true, // self-signed: checked by fingerprint in VerifyConnection instead
			VerifyConnection:   c.verify,
		},
	}}
	return c
}

func (c *Client) verify(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("orchestrator sent no certificate")
	}
	sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pin == nil {
		c.pin = sum[:]
	}
	if !bytes.Equal(c.pin, sum[:]) {
		return fmt.Errorf("orchestrator certificate %x is not the pinned %x", sum, c.pin)
	}
	return nil
}

// GetOrchestrator is the orchestrator's gRPC call; req carries the signer's address and signature.
func (c *Client) GetOrchestrator(ctx context.Context, req *lpnet.OrchestratorRequest) (*lpnet.OrchestratorInfo, error) {
	res, err := lpnetconnect.NewOrchestratorClient(c.http, c.url, connect.WithGRPC()).GetOrchestrator(ctx, connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return res.Msg, nil
}

// Pay sends one payment as go-livepeer's live payment sender does; a status other than 200 is
// an error carrying the orchestrator's message (402 bad payment, 403 bad segment, 400 refused tickets).
func (c *Client) Pay(ctx context.Context, paymentHeader, segmentHeader string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/payment", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Livepeer-Payment", paymentHeader)
	req.Header.Set("Livepeer-Segment", segmentHeader)
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("orchestrator refused the payment: %d %s", res.StatusCode, bytes.TrimSpace(body))
	}
	return nil
}
