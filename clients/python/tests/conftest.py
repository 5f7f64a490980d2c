"""Starts a development lpsigner (npx tsx src/main.ts on its embedded dev chain) for the tests."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from connectrpc.errors import ConnectError

from lpsigner_client.gen.livepeer.signer.v1.signer_connect import SignerServiceClientSync
from lpsigner_client.gen.livepeer.signer.v1.signer_pb import GetSignerStatusRequest

REPO_ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def dev_signer():
    """The running signer's URL and its development orchestrators' URLs (from the banner)."""
    proc = subprocess.Popen(
        ["npx", "tsx", "src/main.ts", "-httpAddr", "127.0.0.1:0"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True, start_new_session=True)
    found: list[str] = []
    orchestrators: list[str] = []
    ready = threading.Event()

    def read() -> None:  # keep draining stdout so the signer never blocks on a full pipe
        for line in proc.stdout:
            if m := re.search(r"serving:\s+(http://\S+)", line):
                found.append(m.group(1))
            elif m := re.search(r"orchestrator:\s+(https://\S+)", line):
                orchestrators.append(m.group(1))
            elif re.match(r"\s+try:\s", line) and found:  # the banner's last line
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(90) or not found:
            raise RuntimeError("the signer printed no banner ('serving:' ... 'try:')")
        url = found[0]
        deadline = time.monotonic() + 60
        with SignerServiceClientSync(url) as client:
            while True:
                try:
                    st = client.get_signer_status(GetSignerStatusRequest())
                    if st.chain is not None and not st.chain.stale and st.chain.round > 0:
                        break
                except ConnectError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the signer at {url} never became ready")
                time.sleep(0.2)
        yield url, list(orchestrators)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="session")
def signer_url(dev_signer):
    return dev_signer[0]
