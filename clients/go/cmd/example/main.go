// Command example pays the orchestrator at $LPSIGNER_ORCH_URL through the signer at $LPSIGNER_URL
// (`npm start` prints both as an export line). docs/clients.md shows this file as a gateway's main.go.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/lpsigner/lpsigner/clients/go/example"
	"github.com/lpsigner/lpsigner/clients/go/gen/livepeer/signer/v1/signerv1connect"
	"github.com/lpsigner/lpsigner/clients/go/orchestrator"
)

func main() {
	cycles := flag.Int("cycles", 5, "payment cycles")
	interval := flag.Duration("interval", time.Second, "time between cycles")
	flag.Parse()
	signerURL, orchURL := os.Getenv("LPSIGNER_URL"), os.Getenv("LPSIGNER_ORCH_URL")
	if signerURL == "" || orchURL == "" {
		log.Fatal("set LPSIGNER_URL and LPSIGNER_ORCH_URL (npm start prints the export line)")
	}
	signer := signerv1connect.NewSignerServiceClient(http.DefaultClient, signerURL)
	orch := orchestrator.New(orchURL, nil) // its self-signed certificate pinned on first use
	state, err := example.Run(context.Background(), signer, orch, "stream-1", *cycles, *interval)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("paid for %d cycles; last state %s\n", *cycles, state.State)
}
