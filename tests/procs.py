"""ETL servers in subprocesses, started as a pod starts them (uvicorn with the AIS flags)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

AIS_UVICORN_FLAGS = ["--ws-max-size", "17179869184", "--ws-ping-interval", "0", "--ws-ping-timeout", "86400"]


@contextmanager
def uvicorn_process(app: str, env: dict[str, str], extra: list[str] | None = None) -> Iterator[str]:
    """Run `uvicorn app --port 0` with `env`; yields its base URL once /health answers."""
    with uvicorn_subprocess(app, env, extra) as (url, _):
        yield url


def rss_mib(pid: int) -> float:
    """Resident memory of a process now (VmRSS), in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory of a process so far (VmHWM), in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


@contextmanager
def uvicorn_subprocess(
    app: str, env: dict[str, str], extra: list[str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run `uvicorn app --port 0` with `env`; yields (base URL, process) once /health answers."""
    cmd = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", "0", "--no-access-log"]
    proc = subprocess.Popen(
        cmd + AIS_UVICORN_FLAGS + (extra or []),
        env={**os.environ, **env},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    found = threading.Event()
    url: list[str] = []

    def drain() -> None:  # keep reading: a full pipe would block the server
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if m := re.search(r"Uvicorn running on (http://\S+)", line):
                url.append(m.group(1))
                found.set()

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    try:
        if not found.wait(30) or proc.poll() is not None:
            raise RuntimeError(f"{app} did not start:\n{''.join(lines)}")
        deadline = time.monotonic() + 30
        while httpx.get(url[0] + "/health").status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{app} never became healthy")
            time.sleep(0.05)
        yield url[0], proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        drainer.join(5)
        if proc.stderr is not None:
            proc.stderr.close()
