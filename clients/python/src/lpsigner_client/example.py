"""The smallest gateway payment loop against lpsigner: fetch the orchestrator's info with the
signer's credentials, then pay once per cycle, carrying the signer's state between calls.

`python -m lpsigner_client.example` runs it against $LPSIGNER_URL and $LPSIGNER_ORCH_URL
(`npm start` prints both as an export line)."""
from __future__ import annotations

import argparse
import os
import time
from typing import Protocol

from connectrpc.errors import ConnectError

from lpsigner_client.gen.livepeer.signer.v1.signer_connect import SignerServiceClientSync
from lpsigner_client.gen.livepeer.signer.v1.signer_pb import (
    GenerateLivePaymentRequest, JobType, RefreshSessionDetail, SignerState, SignOrchestratorInfoRequest)
from lpsigner_client.gen.net.lp_rpc_pb import OrchestratorInfo, OrchestratorRequest
from lpsigner_client.orchestrator import Orchestrator as OrchestratorClient


class Orchestrator(Protocol):
    """E.g. lpsigner_client.orchestrator.Orchestrator: get_orchestrator is the orchestrator's
    GetOrchestrator gRPC call over TLS, pay is POST /payment with the two headers."""

    def get_orchestrator(self, req: OrchestratorRequest) -> OrchestratorInfo: ...
    def pay(self, payment_header: str, segment_header: str) -> None: ...


def run(signer: SignerServiceClientSync, orch: Orchestrator, manifest_id: str,
        cycles: int, interval: float) -> SignerState | None:
    """Pays orch for `cycles` cycles, `interval` seconds apart; returns the last state."""
    creds = signer.sign_orchestrator_info(SignOrchestratorInfoRequest())
    info_req = OrchestratorRequest(address=creds.address, sig=creds.signature)
    info = orch.get_orchestrator(info_req)
    state: SignerState | None = None  # None on the first call of a session
    cycle = refreshes = 0
    while cycle < cycles:
        try:
            res = signer.generate_live_payment(GenerateLivePaymentRequest(
                orchestrator=info, state=state, manifest_id=manifest_id, type=JobType.LIVE))
        except ConnectError as err:  # e.g. RESOURCE_EXHAUSTED + PriceExceededDetail: price too high
            if refreshes == 3 or not any(d.value(RefreshSessionDetail) is not None for d in err.details):
                raise
            info = orch.get_orchestrator(info_req)  # ticket params or auth token expired
            refreshes += 1
            continue  # same cycle again, with fresh info
        state, refreshes = res.state, 0  # always carried, even when nothing was due
        if res.payment_required:
            orch.pay(res.payment_header, res.segment_header)
        cycle += 1
        time.sleep(interval)
    return state


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m lpsigner_client.example",
        description="Pays the orchestrator at $LPSIGNER_ORCH_URL through the signer at $LPSIGNER_URL "
                    "(npm start prints the export line).")
    parser.add_argument("--cycles", type=int, default=5, help="payment cycles (default 5)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between cycles (default 1)")
    args = parser.parse_args(argv)
    signer_url, orch_url = os.environ.get("LPSIGNER_URL"), os.environ.get("LPSIGNER_ORCH_URL")
    if not signer_url or not orch_url:
        parser.error("set LPSIGNER_URL and LPSIGNER_ORCH_URL (npm start prints the export line)")
    with SignerServiceClientSync(signer_url) as signer:
        # TLS gRPC GetOrchestrator and POST /payment; the self-signed certificate pinned on first use.
        state = run(signer, OrchestratorClient(orch_url), "stream-1", args.cycles, args.interval)
    print(f"paid for {args.cycles} cycles; last state {state.state.decode() if state else None}")


if __name__ == "__main__":
    main()
