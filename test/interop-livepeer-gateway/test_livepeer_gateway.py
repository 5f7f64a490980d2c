"""The Livepeer Python gateway SDK (livepeer-gateway 1.0.0 from PyPI), unmodified, against a live
lpsigner and its development orchestrator: the SDK gets the signer's orchestrator-request
signature, calls GetOrchestrator over TLS (trust on first use), and pays with its own
PaymentSession (POST /generate-live-payment, then POST /payment to the orchestrator), including
its 480 refresh and its 482 skip. BYOC (go-livepeer branch feat/byoc-per-cap-pricing-and-usage-labels,
ae1a0ea7a): the SDK signs a job (POST /sign-byoc-job), pays for its capability as it does (type lv2v
naming the capability, priced per capability with -byocPerCapPricing) and sends it to the dev
orchestrator, which checks the job signature as the branch's orchestrator does; and it pays with
type "byoc"."""
from __future__ import annotations

import json
import os
import random
import re
import select
import signal
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from livepeer_gateway import lp_rpc_pb2
from livepeer_gateway.byoc import ByocJobRequest, _sign_byoc_job, submit_byoc_job
from livepeer_gateway.errors import SkipPaymentCycle
from livepeer_gateway.orch_info import get_orch_info
from livepeer_gateway.remote_signer import PaymentSession, get_orch_info_sig

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dev_signer():
    proc = subprocess.Popen(["npx", "tsx", "src/main.ts", "-httpAddr", "127.0.0.1:0", "-byocPerCapPricing"],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True)
    urls: dict[str, list[str]] = {"signer": [], "orch": []}
    ready = threading.Event()

    def read() -> None:  # keep draining stdout so the signer never blocks on a full pipe
        for line in proc.stdout:
            if m := re.search(r"serving:\s+(http://\S+)", line):
                urls["signer"].append(m.group(1))
            elif m := re.search(r"orchestrator:\s+(https://\S+)", line):
                urls["orch"].append(m.group(1))
            elif re.match(r"\s+try:\s", line):
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(90) and urls["signer"] and urls["orch"], "no banner with a signer and an orchestrator"
        deadline = time.monotonic() + 60
        while True:  # ready when the chain view is: GetSignerStatus over Connect JSON
            req = urllib.request.Request(urls["signer"][0] + "/livepeer.signer.v1.SignerService/GetSignerStatus",
                                         data=b"{}", headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=5) as res:
                    chain = json.load(res).get("chain", {})
                    if int(chain.get("round", "0")) > 0 and not chain.get("stale"):
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the signer never became ready"
            time.sleep(0.2)
        yield urls["signer"][0], urls["orch"][0]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_sdk_gets_orchestrator_info_with_the_signers_signature(dev_signer):
    signer_url, orch_url = dev_signer
    material = get_orch_info_sig(signer_url)
    assert material.address and material.sig
    # The orchestrator refuses a bad signature (PERMISSION_DENIED): an info reply means it verified.
    info = get_orch_info(orch_url, signer_url=signer_url)
    assert info.transcoder == orch_url and info.HasField("ticket_params") and info.HasField("auth_token")


def test_sdk_payment_session_pays_the_orchestrator(dev_signer):
    signer_url, orch_url = dev_signer
    info = get_orch_info(orch_url, signer_url=signer_url)
    session = PaymentSession(signer_url, info, type="lv2v")
    session.set_manifest_id("sdk-stream")
    paid = skipped = 0
    for _ in range(6):
        try:
            session.send_payment()  # raises PaymentError unless the orchestrator answers 200
            paid += 1
        except SkipPaymentCycle:  # 482: credit still covers this cycle
            skipped += 1
        time.sleep(0.2)
    print(f"paid {paid}, skipped {skipped}")
    assert paid >= 1 and paid + skipped == 6


def test_sdk_refreshes_on_480(dev_signer):
    signer_url, orch_url = dev_signer
    info = get_orch_info(orch_url, signer_url=signer_url)
    # An auth token in its last 3 minutes: the signer answers 480 with Livepeer-Orchestrator-URL,
    # and the SDK fetches fresh info from info.transcoder and pays with it.
    info.auth_token.expiration = int(time.time()) + 60
    session = PaymentSession(signer_url, info, type="lv2v")
    session.set_manifest_id("sdk-refresh")
    session.send_payment()
    assert session._info.auth_token.expiration > int(time.time()) + 600  # the refreshed info


def _forward(listener: socket.socket, target: tuple[str, int]) -> None:
    """Relays every connection accepted on listener to target, both ways, until either side closes."""
    def pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                ready, _, _ = select.select([a, b], [], [], 30)
                if not ready:
                    return
                for src in ready:
                    data = src.recv(65536)
                    if not data:
                        return
                    (b if src is a else a).sendall(data)
        except OSError:
            pass
        finally:
            a.close()
            b.close()

    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=pipe, args=(conn, socket.create_connection(target)), daemon=True).start()


@pytest.fixture(scope="module")
def byoc_orch(dev_signer):
    """The dev orchestrator as the SDK's BYOC code reaches it: it always calls GetOrchestrator on
    port 8935 of the job URL's host, so a loopback address of our own (127.x.y.z) listens on 8935
    and relays to the dev orchestrator."""
    _, orch_url = dev_signer
    m = re.match(r"https://([^:/]+):(\d+)", orch_url)
    target = (m.group(1), int(m.group(2)))
    for _ in range(20):
        host = f"127.{random.randint(64, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"
        listener = socket.socket()
        try:
            listener.bind((host, 8935))
            break
        except OSError:
            listener.close()
    else:
        pytest.fail("no free 127.x.y.z:8935 to relay the dev orchestrator on")
    listener.listen()
    threading.Thread(target=_forward, args=(listener, target), daemon=True).start()
    yield f"https://{host}:8935"
    listener.close()


def test_sdk_signs_a_byoc_job_through_the_signer(dev_signer):
    signer_url, _ = dev_signer
    signed = _sign_byoc_job(signer_url, None, "job-sdk", "dev-echo", json.dumps({"prompt": "a cat"}), "", 30)
    assert re.fullmatch(r"0x[0-9a-fA-F]{40}", signed["sender"]) and re.fullmatch(r"0x[0-9a-f]{130}", signed["signature"])
    assert signed["sender"].lower() == get_orch_info_sig(signer_url).address.lower()


def test_sdk_submits_a_signed_paid_byoc_job(dev_signer, byoc_orch):
    signer_url, _ = dev_signer
    # Raises unless the orchestrator verified the job signature (else 400 "Could not verify job
    # creds") and the payment covered a minute at the capability's price (else 400 "Insufficient
    # balance for request": lv2v's base price buys too little credit).
    res = submit_byoc_job(ByocJobRequest(capability="dev-echo", payload={"prompt": "a cat"}, timeout_seconds=30),
                          orch_url=byoc_orch, signer_url=signer_url, timeout=30)
    assert res.status_code == 200
    assert res.data["capability"] == "dev-echo" and res.data["details"] == {"prompt": "a cat"}
    assert int(res.balance) > 2_000_000_000  # four tickets' EV less a compute-second at 5e7 wei


def test_sdk_pays_a_byoc_capability_with_type_byoc(dev_signer):
    signer_url, orch_url = dev_signer
    caps = lp_rpc_pb2.Capabilities()
    caps.constraints.PerCapability[37].models["dev-echo"].warm = True
    info = get_orch_info(orch_url, signer_url=signer_url)
    session = PaymentSession(signer_url, info, type="byoc", capabilities=caps)
    session.set_manifest_id("sdk-byoc")
    paid = skipped = 0
    for _ in range(3):
        try:
            session.send_payment()  # the orchestrator verifies the tickets at the capability's price
            paid += 1
        except SkipPaymentCycle:
            skipped += 1
        time.sleep(0.2)
    assert paid >= 1 and paid + skipped == 3
