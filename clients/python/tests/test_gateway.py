"""The example gateway loop against a live signer for several payment cycles."""
from __future__ import annotations

import base64
import json
import os
import time
from fractions import Fraction

from gateway import run
from lpsigner_client.gen.livepeer.signer.v1.signer_connect import SignerServiceClientSync
from lpsigner_client.gen.livepeer.signer.v1.signer_pb import GetSignerStatusRequest
from lpsigner_client.gen.net.lp_rpc_pb import (
    AuthToken, OrchestratorInfo, OrchestratorRequest, Payment, PriceInfo, SegData, TicketParams)

MAX_WIN_PROB = 2**256 - 1


def be(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 7) // 8, "big")


class FakeOrchestrator:
    """Serves OrchestratorInfo and records what the gateway pays it."""

    def __init__(self, l1_block: int):
        self.address = os.urandom(20)
        self.l1_block = l1_block
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
            auth_token=AuthToken(token=b"dev-token", session_id="dev-session", expiration=int(time.time()) + 1800))

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
