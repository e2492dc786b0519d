"""Issue 14, point 1 (and 7's FQN root): an `etl_fqn` / ws `fqn` naming something that is not a plain
file never stalls the server. Each server runs in its own process, so that a stalled event loop shows as
a timeout here (and not as a hung test run), its memory can be read, and SIGTERM can be sent to it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from websockets.sync.client import connect

from tests.procs import rss_mib, uvicorn_subprocess
from tests.stubs import refused_url

ETL_PATH = "/v1/etl/_object/my-etl/s3cr3t"
# "Within 5 s" as a generous upper limit: a stalled loop would never answer.
ANSWER_WITHIN = 5.0


def wire_fqn(path: str) -> str:
    return quote(quote(path, safe="@$&+=:"), safe="")


@pytest.fixture
def growing(tmp_path: Path) -> Iterator[Path]:
    """A file another thread keeps appending to for as long as the test runs."""
    path = tmp_path / "growing"
    path.write_bytes(b"x" * 1000)
    stop = threading.Event()

    def grow() -> None:
        with open(path, "ab") as f:
            while not stop.is_set():
                f.write(b"y" * 65536)
                f.flush()
                if f.tell() > 256 << 20:  # enough to outrun any reader; then start over
                    f.truncate(1000)
                    f.seek(1000)

    t = threading.Thread(target=grow, daemon=True)
    t.start()
    yield path
    stop.set()
    t.join(5)


@pytest.fixture
def hostile_names(tmp_path: Path, growing: Path) -> dict[str, str]:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    return {
        "fifo": str(fifo),
        "dev-zero": "/dev/zero",
        "dev-random": "/dev/random",
        "directory": str(tmp_path),
        "growing": str(growing),
    }


def server(app: str, **env: str) -> AbstractContextManager[tuple[str, subprocess.Popen[str]]]:
    return uvicorn_subprocess(app, {"AIS_TARGET_URL": refused_url() + ETL_PATH, **env})


def ends_on_sigterm(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(15)  # raises TimeoutExpired when the server cannot stop


@pytest.mark.parametrize("app", ["tests.hostile_apps:upper", "tests.hostile_apps:stream_upper"])
def test_an_fqn_naming_a_fifo_device_directory_or_growing_file_is_answered_and_the_server_stays_well(
    app: str, hostile_names: dict[str, str]
) -> None:
    with server(app) as (url, proc), httpx.Client(base_url=url, timeout=ANSWER_WITHIN) as http:
        before = rss_mib(proc.pid)
        for kind, name in hostile_names.items():
            resp = http.put(f"/bkt/{kind}?etl_fqn={wire_fqn(name)}")
            if kind == "growing":
                # Read as it was when opened: at least the first 1000 bytes, and it ends.
                assert resp.status_code == 200, resp.text
                assert resp.content.startswith(b"X" * 1000)
            else:
                assert resp.status_code == 400, (kind, resp.text)
                assert "not a regular file" in resp.json()["detail"], resp.text
            assert http.get("/health").text == "Running"
        assert rss_mib(proc.pid) - before < 300  # the growing file adds at most what it held when opened
        ends_on_sigterm(proc)


def test_a_ws_fqn_naming_a_fifo_or_device_is_answered_and_the_connection_goes_on(
    hostile_names: dict[str, str],
) -> None:
    with server("tests.hostile_apps:upper") as (url, proc):
        with connect(url.replace("http://", "ws://") + "/ws", max_size=None, open_timeout=10) as c:
            for kind in ("fifo", "dev-zero", "dev-random", "directory"):
                c.send(json.dumps({"fqn": quote(hostile_names[kind], safe="/"), "path": kind}))
                reply = c.recv(timeout=ANSWER_WITHIN)
                assert isinstance(reply, str) and "not a regular file" in reply, (kind, reply)
            c.send(json.dumps({"path": "ok"}))
            c.send(b"ok")
            assert c.recv(timeout=ANSWER_WITHIN) == b"OK"
        assert httpx.get(url + "/health", timeout=ANSWER_WITHIN).text == "Running"
        ends_on_sigterm(proc)
