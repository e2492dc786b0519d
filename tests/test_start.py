"""FastAPIServer.start(): the server as the AIS runtime image runs it, in its own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
from websockets.sync.client import connect

from tests.stubs import free_port

START = """
import sys
from tests.transforms import Upper
Upper(host="127.0.0.1", port=int(sys.argv[1])).start()
"""


def test_start_serves_with_the_ais_websocket_flags():
    port = free_port()
    env = {**os.environ, "AIS_TARGET_URL": "http://127.0.0.1:9/v1/etl/_object/e/s"}
    proc = subprocess.Popen([sys.executable, "-c", START, str(port)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
            time.sleep(0.05)
        assert httpx.put(f"http://127.0.0.1:{port}/b/o", content=b"abc").content == b"ABC"
        # 20 MiB: above uvicorn's default 16 MiB WebSocket message limit, so the AIS flags are in force.
        big = os.urandom(20 << 20)
        with connect(f"ws://127.0.0.1:{port}/ws", max_size=None, compression=None) as ws:
            ws.send(b"{}")
            ws.send(big)
            assert ws.recv() == big.upper()
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "Uvicorn running on http://127.0.0.1" in err
