"""Containers for the image tests, through the engine's own client (Debian's /usr/bin/docker).

Containers run with `--network host` so that every byte of test traffic stays on 127.0.0.1: the server
listens on a free loopback port (AISETL_HOST/AISETL_PORT, which the exported image honours), and its
AIS_TARGET_URL can name a target of the test process.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from tests.stubs import free_port

DOCKER = os.environ.get("AISETL_DOCKER") or (
    "/usr/bin/docker" if os.path.exists("/usr/bin/docker") else shutil.which("docker") or "docker"
)


def docker(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args[:3])} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def engine_problem() -> str | None:
    """Why no container engine answers here, or None when one does."""
    if not os.path.exists(DOCKER) and shutil.which(DOCKER) is None:
        return f"no docker client ({DOCKER}); `make test-image` installs docker.io and starts dockerd"
    proc = subprocess.run([DOCKER, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True)
    if proc.returncode != 0:
        return f"the container engine does not answer ({proc.stderr.strip()}); `make test-image` starts dockerd"
    return None


def image_exists(name: str) -> bool:
    return docker("image", "inspect", name, check=False).returncode == 0


@dataclass
class Container:
    id: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def inspect(self, template: str) -> str:
        return docker("inspect", "--format", template, self.id).stdout.strip()

    def logs(self) -> str:
        proc = docker("logs", self.id, check=False)
        return proc.stdout + proc.stderr

    def exec(self, *command: str) -> str:
        return docker("exec", self.id, *command).stdout

    def wait_healthy(self, timeout: float = 180) -> None:
        """Until the image's own HEALTHCHECK says healthy (the engine runs it every interval)."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.inspect("{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}")
            if state == "running healthy":
                return
            if not state.startswith("running") or time.monotonic() > deadline:
                raise AssertionError(f"container not healthy ({state!r}); its log:\n{self.logs()[-3000:]}")
            time.sleep(0.5)


ADDRESS_IN_USE = "Address already in use"


@contextmanager
def running(image: str, env: dict[str, str] | None = None, options: Sequence[str] = ()) -> Iterator[Container]:
    """`docker run` the image as AIS would (its own entrypoint) on a free loopback port, healthy; removed after.

    A port found free can be taken by another process before the container binds it (the machine is
    shared): the container then exits saying so, and is started again on another port."""
    for attempt in range(3):
        port = free_port()
        environ = {"AISETL_HOST": "127.0.0.1", "AISETL_PORT": str(port), **(env or {})}
        flags = [arg for k, v in environ.items() for arg in ("-e", f"{k}={v}")]
        cid = docker("run", "-d", "--network", "host", *flags, *options, image).stdout.strip()
        container = Container(cid, port)
        try:
            container.wait_healthy()
        except AssertionError:
            lost_port = ADDRESS_IN_USE in container.logs()
            docker("rm", "-f", cid, check=False)
            if lost_port and attempt < 2:
                continue
            raise
        try:
            yield container
        finally:
            docker("rm", "-f", cid, check=False)
        return
