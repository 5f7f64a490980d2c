"""The Livepeer Python gateway SDK (livepeer-gateway 1.0.0 from PyPI), unmodified, against a live
lpsigner and its development orchestrator: the SDK gets the signer's orchestrator-request
signature, calls GetOrchestrator over TLS (trust on first use), and pays with its own
PaymentSession (POST /generate-live-payment, then POST /payment to the orchestrator), including
its 480 refresh and its 482 skip."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from livepeer_gateway.errors import SkipPaymentCycle
from livepeer_gateway.orch_info import get_orch_info
from livepeer_gateway.remote_signer import PaymentSession, get_orch_info_sig

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dev_signer():
    proc = subprocess.Popen(["npx", "tsx", "src/main.ts", "-httpAddr", "127.0.0.1:0"],
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
