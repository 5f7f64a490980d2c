"""The example gateway loop against a live signer for several payment cycles."""
from __future__ import annotations

import base64
import json
import os
import time
from fractions import Fraction

import pytest
from connectrpc.code import Code
from connectrpc.errors import ConnectError

from lpsigner_client.example import run
from lpsigner_client.orchestrator import Orchestrator, PaymentRefused
from lpsigner_client.gen.livepeer.signer.v1.signer_connect import SignerServiceClientSync
from lpsigner_client.gen.livepeer.signer.v1.signer_pb import GetSignerStatusRequest
from lpsigner_client.gen.net.lp_rpc_pb import (
    AuthToken, OrchestratorInfo, OrchestratorRequest, Payment, PriceInfo, SegData, TicketParams)

MAX_WIN_PROB = 2**256 - 1


def be(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


class FakeOrchestrator:
    """Serves OrchestratorInfo and records what the gateway pays it."""

    def __init__(self, l1_block: int, auth_left: list[int] | None = None):
        self.address = os.urandom(20)
        self.l1_block = l1_block
        self.auth_left = auth_left or [1800]  # seconds of auth token validity, per request (last repeats)
        self.requests: list[OrchestratorRequest] = []
        self.payments: list[Payment] = []
        self.segments: list[SegData] = []

    def get_orchestrator(self, req: OrchestratorRequest) -> OrchestratorInfo:
        self.requests.append(req)
        # EV per ticket = 1e12 / 1000 = 1e9 wei; live at 2e9 wei/s: every call needs tickets.
        # The signer never sees recipientRand, only its hash: random bytes stand in for it here.
        return OrchestratorInfo(
            transcoder="https://orch.test:8935", address=self.address,
            price_info=PriceInfo(pricePerUnit=2_000_000_000, pixelsPerUnit=1),
            ticket_params=TicketParams(
                recipient=self.address, face_value=be(10**12), win_prob=be(MAX_WIN_PROB // 1000),
                recipient_rand_hash=os.urandom(32), seed=be(7), expiration_block=be(self.l1_block + 1000)),
            auth_token=AuthToken(token=b"dev-token", session_id="dev-session",
                                 expiration=int(time.time()) + self.auth_left[min(len(self.requests), len(self.auth_left)) - 1]))

    def pay(self, payment_header: str, segment_header: str) -> None:
        self.payments.append(Payment.from_binary(base64.b64decode(payment_header, validate=True)))
        self.segments.append(SegData.from_binary(base64.b64decode(segment_header, validate=True)))


def test_example_gateway_loop_against_live_signer(signer_url):
    cycles = 5
    with SignerServiceClientSync(signer_url) as signer:
        status = signer.get_signer_status(GetSignerStatusRequest())
        orch = FakeOrchestrator(status.chain.l1_block)
        state = run(signer, orch, "py-example-stream", cycles, 0.1)

    assert len(orch.requests) == 1
    assert orch.requests[0].address == status.address and len(orch.requests[0].sig) == 65
    assert len(orch.payments) == cycles
    last_nonce = -1
    for p, seg in zip(orch.payments, orch.segments):
        assert p.sender == status.address and p.ticket_params.recipient == orch.address
        assert p.expiration_params.creation_round == status.chain.round
        assert len(p.ticket_sender_params) > 0
        for tsp in p.ticket_sender_params:  # nonces strictly increase across the session
            assert tsp.sender_nonce > last_nonce and len(tsp.sig) == 65
            last_nonce = tsp.sender_nonce
        assert seg.manifestId == b"py-example-stream" and len(seg.sig) == 65
    st = json.loads(state.state)
    assert st["SequenceNumber"] == cycles - 1
    assert st["SenderNonce"] == last_nonce  # the last nonce used
    assert len(state.sig) == 65
    assert Fraction(st["Balance"]) >= 0


def test_example_gateway_loop_refreshes_expiring_info(signer_url):
    """An auth token in its last 3 minutes: the signer asks for fresh info (RefreshSessionDetail)
    and the loop fetches it once, then pays every cycle."""
    with SignerServiceClientSync(signer_url) as signer:
        status = signer.get_signer_status(GetSignerStatusRequest())
        orch = FakeOrchestrator(status.chain.l1_block, auth_left=[60, 1800])
        run(signer, orch, "py-refresh", 3, 0.01)
    assert len(orch.requests) == 2 and len(orch.payments) == 3


def test_example_gateway_loop_gives_up_after_three_refreshes(signer_url):
    """Info that never gets fresh: three refreshes, then the signer's error is raised."""
    with SignerServiceClientSync(signer_url) as signer:
        status = signer.get_signer_status(GetSignerStatusRequest())
        orch = FakeOrchestrator(status.chain.l1_block, auth_left=[60])
        with pytest.raises(ConnectError) as err:
            run(signer, orch, "py-stale", 3, 0.01)
    assert err.value.code == Code.FAILED_PRECONDITION
    assert len(orch.requests) == 4 and len(orch.payments) == 0


def test_example_gateway_pays_the_dev_orchestrator(dev_signer):
    """The example loop as a real gateway: npm start's development orchestrator (TLS gRPC with a
    self-signed certificate, pinned on first use; POST /payment that verifies every ticket, the
    segment credentials and the auth token) accepts every payment."""
    signer_url, orchestrators = dev_signer
    assert orchestrators, "the development signer printed no orchestrator URL"
    orch = Orchestrator(orchestrators[0])
    with SignerServiceClientSync(signer_url) as signer:
        state = run(signer, orch, "py-dev-orchestrator", 5, 0.2)
    assert json.loads(state.state)["SequenceNumber"] == 4
    # And it does check: a payment that is not one of the signer's is refused (4xx).
    with pytest.raises(PaymentRefused) as refused:
        orch.pay("bm90IGEgcGF5bWVudA==", "")
    assert 400 <= refused.value.status < 500
