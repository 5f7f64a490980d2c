// Package devsigner starts a development lpsigner (`npx tsx src/main.ts` on its embedded dev
// chain, throwaway key) for tests and examples, and builds OrchestratorInfo values it accepts.
package devsigner

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"time"

	"connectrpc.com/connect"
	signerv1 "github.com/lpsigner/lpsigner/clients/go/gen/livepeer/signer/v1"
	"github.com/lpsigner/lpsigner/clients/go/gen/livepeer/signer/v1/signerv1connect"
	"github.com/lpsigner/lpsigner/clients/go/gen/lpnet"
	"golang.org/x/crypto/sha3"
)

// Signer is a running development signer.
type Signer struct {
	URL string
	// Orchestrators are the development orchestrators' URLs (npm start runs one by default;
	// -devOrchestrators N sets how many).
	Orchestrators []string
	Client        signerv1connect.SignerServiceClient
	cmd           *exec.Cmd
	done          chan struct{}
}

var (
	servingLine      = regexp.MustCompile(`serving:\s+(http://\S+)`)
	orchestratorLine = regexp.MustCompile(`orchestrator:\s+(https://\S+)`)
	tryLine          = regexp.MustCompile(`^\s+try:\s`)
)

// Start runs the signer from repoRoot on a free loopback port and waits until it answers
// GetSignerStatus with a fresh chain view. extraFlags are appended to the command line.
func Start(ctx context.Context, repoRoot string, extraFlags ...string) (*Signer, error) {
	if _, err := os.Stat(filepath.Join(repoRoot, "src", "main.ts")); err != nil {
		return nil, fmt.Errorf("devsigner: %s is not the lpsigner repository: %w", repoRoot, err)
	}
	args := append([]string{"tsx", "src/main.ts", "-httpAddr", "127.0.0.1:0"}, extraFlags...)
	cmd := exec.Command("npx", args...)
	cmd.Dir = repoRoot
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so Close ends npx and its node child
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("devsigner: starting npx tsx src/main.ts: %w", err)
	}
	s := &Signer{cmd: cmd, done: make(chan struct{})}
	// The banner: "serving:" then the dev orchestrators' URLs, ended by the "try:" line.
	type banner struct {
		url   string
		orchs []string
	}
	banners := make(chan banner, 1)
	go func() {
		var b banner
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if m := servingLine.FindStringSubmatch(line); m != nil {
				b.url = m[1]
			} else if m := orchestratorLine.FindStringSubmatch(line); m != nil {
				b.orchs = append(b.orchs, m[1])
			} else if tryLine.MatchString(line) && b.url != "" {
				banners <- b
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		close(s.done)
	}()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	select {
	case b := <-banners:
		s.URL, s.Orchestrators = b.url, b.orchs
	case <-s.done:
		s.Close()
		return nil, fmt.Errorf("devsigner: the signer exited before serving")
	case <-ctx.Done():
		s.Close()
		return nil, fmt.Errorf("devsigner: no banner ('serving:' ... 'try:'): %w", ctx.Err())
	}
	s.Client = signerv1connect.NewSignerServiceClient(http.DefaultClient, s.URL)
	for {
		st, err := s.Client.GetSignerStatus(ctx, connect.NewRequest(&signerv1.GetSignerStatusRequest{}))
		if err == nil && st.Msg.Chain != nil && !st.Msg.Chain.Stale && st.Msg.Chain.Round > 0 {
			return s, nil
		}
		select {
		case <-ctx.Done():
			s.Close()
			return nil, fmt.Errorf("devsigner: not ready at %s: %v (%w)", s.URL, err, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Close stops the signer (SIGTERM to its process group) and waits for it.
func (s *Signer) Close() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	}
	_ = s.cmd.Wait()
}

// Orch is a test orchestrator: its address and the secret behind its recipientRandHash.
type Orch struct {
	Address       []byte
	RecipientRand *big.Int
}

// NewOrch makes an orchestrator with a random address and recipientRand.
func NewOrch() *Orch {
	addr := make([]byte, 20)
	_, _ = rand.Read(addr)
	r, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 256))
	return &Orch{Address: addr, RecipientRand: r}
}

// RecipientRandHash is keccak256 of recipientRand as a 32-byte big-endian word.
func (o *Orch) RecipientRandHash() []byte {
	h := sha3.NewLegacyKeccak256()
	h.Write(o.RecipientRand.FillBytes(make([]byte, 32)))
	return h.Sum(nil)
}

// Info is OrchestratorInfo as an orchestrator's GetOrchestrator returns it: pricePerUnit wei per
// unit, tickets of faceValue wei winning with probability winProb/2^256, params valid until
// expirationBlock (pass the signer's l1_block plus a margin). No expiration params: the signer
// binds tickets to its own view of the last round.
func (o *Orch) Info(pricePerUnit int64, faceValue, winProb *big.Int, expirationBlock uint64, seed int64) *lpnet.OrchestratorInfo {
	return &lpnet.OrchestratorInfo{
		Transcoder: "https://orch.test:8935",
		Address:    o.Address,
		PriceInfo:  &lpnet.PriceInfo{PricePerUnit: pricePerUnit, PixelsPerUnit: 1},
		TicketParams: &lpnet.TicketParams{
			Recipient:         o.Address,
			FaceValue:         faceValue.Bytes(),
			WinProb:           winProb.Bytes(),
			RecipientRandHash: o.RecipientRandHash(),
			Seed:              big.NewInt(seed).Bytes(),
			ExpirationBlock:   new(big.Int).SetUint64(expirationBlock).Bytes(),
		},
		AuthToken: &lpnet.AuthToken{Token: []byte("dev-token"), SessionId: "dev-session", Expiration: time.Now().Add(30 * time.Minute).Unix()},
	}
}
