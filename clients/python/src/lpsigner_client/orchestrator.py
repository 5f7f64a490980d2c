"""A go-livepeer orchestrator as a gateway sees it: its GetOrchestrator gRPC call over TLS, and
POST /payment with the Livepeer-Payment and Livepeer-Segment headers.

go-livepeer orchestrators serve self-signed certificates. By default the certificate the
orchestrator presents first is pinned (trust on first use, as the Livepeer Python gateway does):
it becomes the only trusted certificate for every later connection, so a different one is
refused by the TLS handshake. Pass cert_pem to pin a known certificate instead.
"""
from __future__ import annotations

import ssl
from urllib.parse import urlsplit

from connectrpc.protocol import ProtocolType
from pyqwest import HTTPVersion, SyncClient, SyncHTTPTransport

from .gen.net.lp_rpc_connect import OrchestratorClientSync
from .gen.net.lp_rpc_pb import OrchestratorInfo, OrchestratorRequest


class PaymentRefused(Exception):
    """The orchestrator answered POST /payment with a status other than 200."""

    def __init__(self, status: int, message: str):
        super().__init__(f"orchestrator refused the payment: {status} {message}")
        self.status = status


class Orchestrator:
    def __init__(self, url: str, cert_pem: bytes | None = None, timeout: float = 10.0):
        self.url = url.rstrip("/")
        if cert_pem is None:  # trust on first use
            u = urlsplit(self.url)
            cert_pem = ssl.get_server_certificate((u.hostname, u.port or 443), timeout=timeout).encode()
        self.cert_pem = cert_pem
        self._http = SyncClient(SyncHTTPTransport(
            tls_ca_cert=cert_pem, http_version=HTTPVersion.HTTP2, timeout=timeout))
        self._grpc = OrchestratorClientSync(self.url, protocol=ProtocolType.GRPC, http_client=self._http)

    def get_orchestrator(self, req: OrchestratorRequest) -> OrchestratorInfo:
        return self._grpc.get_orchestrator(req)

    def pay(self, payment_header: str, segment_header: str) -> None:
        res = self._http.post(f"{self.url}/payment", headers={
            "Livepeer-Payment": payment_header, "Livepeer-Segment": segment_header})
        if res.status != 200:
            raise PaymentRefused(res.status, res.content[:1024].decode("utf-8", "replace").strip())
