from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from aisetl import LocalCluster, LocalTarget
from aisetl.api.base import ETLServer, environ_override
from aisetl.notebook.serve import running_servers
from aisetl.server.config import uvicorn_options
from aisetl.server.thread import ServerThread
from tests.stubs import Action, RecordingServer, Script

# The browser tests need chromium and JupyterLab: `make test-browser` runs them, `make test` does not.
collect_ignore = [] if os.environ.get("AISETL_BROWSER_TESTS") else ["browser"]

# An AIS_TARGET_URL shaped as AIS makes it; nothing listens on port 9 unless a test says otherwise.
TARGET_URL = "http://127.0.0.1:9/v1/etl/_object/my-etl/s3cr3t"


@dataclass
class Running:
    server: Any
    thread: ServerThread
    http: httpx.Client

    @property
    def url(self) -> str:
        return self.thread.url

    @property
    def ws_url(self) -> str:
        return self.thread.url.replace("http://", "ws://") + "/ws"


@pytest.fixture
def serve() -> Iterator[Callable[..., Running]]:
    """Construct `cls` in the given environment and run its app under real uvicorn on 127.0.0.1."""
    running: list[Running] = []

    def _serve(cls: type[ETLServer], env: dict[str, str] | None = None) -> Running:
        environ = {"AIS_TARGET_URL": TARGET_URL, **(env or {})}
        with environ_override(environ):
            server = cls()
        thread = ServerThread(server.app, **uvicorn_options(log_level="warning")).start()  # type: ignore[attr-defined]
        r = Running(server, thread, httpx.Client(base_url=thread.url, timeout=30))
        running.append(r)
        return r

    yield _serve
    for r in running:
        r.http.close()
        r.thread.stop()


@pytest.fixture
def stub() -> Iterator[Callable[..., RecordingServer]]:
    """Start recording HTTP servers (next stages, targets) for the test."""
    servers: list[RecordingServer] = []

    def _stub(script: list[Action] | Script | None = None) -> RecordingServer:
        s = RecordingServer(script).start()
        servers.append(s)
        return s

    yield _stub
    for s in servers:
        s.stop()


@pytest.fixture
def tgt() -> Iterator[LocalTarget]:
    """A LocalTarget for the test, closed after it."""
    with LocalTarget() as t:
        yield t


@pytest.fixture(autouse=True)
def no_servers_left() -> Iterator[None]:
    """Stop any in-process server (serve()) a test left running."""
    yield
    for handle in running_servers().values():
        handle.stop()


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    """A three-target LocalCluster running the test transforms under made-up image names."""
    from tests.transforms import Echo, Failing, Reverse, Sleepy, StreamUpper, Upper

    images = {
        "img/upper:1": Upper,
        "img/reverse:1": Reverse,
        "img/failing:1": Failing,
        "img/stream:1": StreamUpper,
        "img/echo:1": Echo,
        "img/sleepy:1": Sleepy,
    }
    with LocalCluster(targets=3, images=images, name=f"test-{uuid.uuid4().hex[:8]}") as c:
        yield c


@pytest.fixture
def client(cluster: LocalCluster) -> Any:
    """The real aistore SDK's Client for the test's cluster."""
    return cluster.client()
