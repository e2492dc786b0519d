"""Run a built image as AIS runs an ETL pod, on this machine: `docker run` with the host's network on a
free loopback port (AISETL_HOST/AISETL_PORT, which exported images honour), AIS_TARGET_URL and the
target's folders mounted read-only at the same paths (for direct file access); ready once /health answers.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

from .._exceptions import ExportError
from .engine import check_running, find_tool

READY_TIMEOUT = 120.0  # seconds for a container to answer /health (image start, workers forking)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Container:
    """A running container of an ETL image: `url` on 127.0.0.1; `stop()` removes it."""

    id: str
    image: str
    url: str
    tool: str

    def logs(self) -> str:
        proc = subprocess.run([self.tool, "logs", self.id], capture_output=True, text=True, timeout=60)
        return proc.stdout + proc.stderr

    def running(self) -> bool:
        proc = subprocess.run(
            [self.tool, "inspect", "--format", "{{.State.Running}}", self.id], capture_output=True, text=True
        )
        return proc.stdout.strip() == "true"

    def stop(self) -> None:
        subprocess.run([self.tool, "rm", "-f", self.id], capture_output=True, timeout=120)


def run_container(
    image: str,
    env: Mapping[str, str],
    mounts: Sequence[str] = (),
    tool: str | None = None,
    ready_timeout: float = READY_TIMEOUT,
) -> Container:
    """Start `image` and return once it serves; ExportError with its log when it exits or never answers.

    A port found free can be taken by another process before the container binds it: the container then
    exits with "Address already in use" and is started again on another port (three tries)."""
    path = find_tool(tool)
    check_running(path)
    for _ in range(3):
        try:
            return _start(path, image, env, mounts, ready_timeout)
        except _PortTaken:
            continue
    raise ExportError(f"the container of {image} found no free port in three tries")


class _PortTaken(Exception):
    pass


def _start(path: str, image: str, env: Mapping[str, str], mounts: Sequence[str], ready_timeout: float) -> Container:
    port = _free_port()
    environ = {**env, "AISETL_HOST": "127.0.0.1", "AISETL_PORT": str(port)}
    command = [path, "run", "-d", "--network", "host"]
    command += [arg for k, v in environ.items() for arg in ("-e", f"{k}={v}")]
    command += [arg for m in mounts for arg in ("-v", f"{m}:{m}:ro")]
    proc = subprocess.run([*command, image], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise ExportError(f"cannot run {image}: {proc.stderr.strip()}")
    container = Container(proc.stdout.strip(), image, f"http://127.0.0.1:{port}", path)
    deadline = time.monotonic() + ready_timeout
    while True:
        try:
            if httpx.get(container.url + "/health", timeout=5).status_code == 200:
                return container
        except httpx.HTTPError:
            pass
        if not container.running() or time.monotonic() > deadline:
            log = container.logs()[-3000:]
            container.stop()
            if "Address already in use" in log:
                raise _PortTaken
            raise ExportError(f"the container of {image} did not become ready; its log:\n{log}")
        time.sleep(0.2)
