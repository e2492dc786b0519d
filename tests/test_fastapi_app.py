"""`server.app` is a FastAPI app: OpenAPI, user routes, middleware, TestClient, lifespan, errors, and the
fast path (object requests skip FastAPI while nothing the user added must see them).

Each behaviour is checked with FastAPI's own TestClient and with real uvicorn over 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send
from websockets.sync.client import connect

from aisetl import DirectPutError, FastAPIServer, LocalTarget, etl
from aisetl.api.base import environ_override
from aisetl.server.config import uvicorn_options
from aisetl.server.thread import ServerThread
from tests.transforms import Failing, StreamFailsLater, StreamUpper, Upper

TARGET_URL = "http://127.0.0.1:9/v1/etl/_object/my-etl/s3cr3t"


S = TypeVar("S", bound=FastAPIServer)


def make(cls: type[S], target_url: str = TARGET_URL, **env: str) -> S:
    with environ_override({"AIS_TARGET_URL": target_url, **env}):
        return cls()


@contextmanager
def uvicorn_http(app: ASGIApp) -> Iterator[httpx.Client]:
    """`app` under real uvicorn on 127.0.0.1; the lifespan runs (start-up before, shutdown after)."""
    thread = ServerThread(app, **uvicorn_options(log_level="warning")).start()
    try:
        with httpx.Client(base_url=thread.url, timeout=30) as client:
            yield client
    finally:
        thread.stop()


Drive = Callable[[ASGIApp], Any]


@contextmanager
def with_testclient(app: ASGIApp) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


CLIENTS = pytest.mark.parametrize("client_for", [with_testclient, uvicorn_http], ids=["testclient", "uvicorn"])


def add_header_middleware(app: FastAPI) -> None:
    @app.middleware("http")
    async def tag(request: Any, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers["x-user-middleware"] = "seen"
        return response


class Counting:
    """A pure ASGI middleware that counts the scopes it sees, by type."""

    seen: dict[str, int]

    def __init__(self, app: ASGIApp, seen: dict[str, int]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen[scope["type"]] = self.seen.get(scope["type"], 0) + 1
        await self.app(scope, receive, send)


# --- every server's .app is a FastAPI app ------------------------------------------------------------


def test_app_of_a_server_class_an_etl_function_and_in_kernel_serve_is_fastapi():
    @etl
    def lower(data: bytes) -> bytes:
        return data.lower()

    assert isinstance(make(Upper).app, FastAPI)
    assert isinstance(make(lower).app, FastAPI)
    with Upper.serve(target=TARGET_URL) as handle:
        assert isinstance(handle.server.app, FastAPI)
        assert handle.put(b"abc").content == b"ABC"


def test_aisetl_serve_loads_a_fastapi_app_for_one_and_several_workers(monkeypatch: pytest.MonkeyPatch):
    from aisetl.cli import app_factory, load_app

    monkeypatch.setenv("AIS_TARGET_URL", TARGET_URL)
    monkeypatch.setenv("AISETL_SERVE_TARGET", "tests.transforms:Upper")
    assert isinstance(load_app("tests.transforms:Upper"), FastAPI)
    assert isinstance(app_factory(), FastAPI)  # what each --workers process builds


# --- OpenAPI -----------------------------------------------------------------------------------------


class Documented(FastAPIServer):
    """Turns every object into upper case.

    Used by the OpenAPI tests.
    """

    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        assert isinstance(data, bytes)
        return data.upper()

    def get_mime_type(self) -> str:
        return "text/plain"


@CLIENTS
def test_openapi_documents_the_object_routes_their_inputs_and_ais_status_codes(client_for: Drive):
    server = make(Documented)
    with client_for(server.app) as client:
        schema = client.get("/openapi.json").json()
        docs = client.get("/docs")
    assert schema["info"]["title"] == "Documented"
    assert schema["info"]["description"] == "Turns every object into upper case.\n\nUsed by the OpenAPI tests."
    paths = schema["paths"]
    assert set(paths["/health"]) == {"get"}
    assert set(paths["/{path}"]) == {"get", "put"}
    assert "/ws" in paths
    put = paths["/{path}"]["put"]
    params = {(p["in"], p["name"]) for p in put["parameters"]}
    assert {("path", "path"), ("query", "etl_args"), ("query", "etl_fqn")} <= params
    assert {("header", "Ais-Node-Url"), ("header", "Authorization")} <= params
    replies = put["responses"]
    assert {"200", "204", "400", "404", "500", "502", "503"} <= set(replies)
    assert "Ais-Direct-Put-Length" in replies["204"]["headers"]
    assert "Ais-Etl-Retry-Reason" in replies["503"]["headers"]
    assert "replayable" in replies["503"]["description"]
    assert "delivered" in replies["204"]["description"].lower()
    assert "text/plain" in replies["200"]["content"]
    assert docs.status_code == 200 and "/openapi.json" in docs.text and "swagger" in docs.text.lower()


def test_openapi_description_of_an_etl_function_is_its_docstring_and_user_routes_are_listed():
    @etl(name="word-count")
    def count(data: bytes) -> bytes:
        """Counts the words of each object."""
        return str(len(data.split())).encode()

    server = make(count)

    @server.app.get("/metrics")
    def metrics() -> dict[str, int]:
        return {"objects": server.stats.objects}

    with TestClient(server.app) as client:
        schema = client.get("/openapi.json").json()
    assert schema["info"]["title"] == "word-count"
    assert schema["info"]["description"] == "Counts the words of each object."
    assert {"/metrics", "/health", "/{path}", "/ws"} <= set(schema["paths"])


# --- user routes, middleware, TestClient ---------------------------------------------------------------


@CLIENTS
def test_user_route_is_served_and_wins_over_the_object_path(client_for: Drive):
    server = make(Upper)

    @server.app.get("/metrics")
    def metrics() -> dict[str, int]:
        return {"objects": server.stats.objects}

    @server.app.get("/bkt/special")  # a path that would otherwise be an object
    def special() -> str:
        return "mine"

    assert server.fast_path  # fixed-path routes are looked up in a set: objects still skip FastAPI
    with client_for(server.app) as client:
        assert client.put("/bkt/obj", content=b"abc").content == b"ABC"
        assert client.get("/metrics").json() == {"objects": 1}
        assert client.get("/bkt/special").json() == "mine"
        assert client.put("/bkt/other", content=b"xyz").content == b"XYZ"
        assert client.get("/health").text == "Running"


@CLIENTS
def test_route_with_path_parameters_takes_object_requests_through_fastapi(client_for: Drive):
    server = make(Upper)

    @server.app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        return {"item": item_id}

    assert not server.fast_path
    with client_for(server.app) as client:
        assert client.get("/items/7").json() == {"item": 7}
        assert client.put("/items/7", content=b"abc").status_code == 405  # the user's path, FastAPI's answer
        assert client.put("/bkt/obj", content=b"abc").content == b"ABC"
        assert client.get("/health").text == "Running"


@CLIENTS
def test_http_middleware_applies_to_object_requests_health_and_errors(client_for: Drive, tmp_path: Path):
    server = make(Upper)
    add_header_middleware(server.app)
    assert not server.fast_path
    missing = tmp_path / "missing"
    with client_for(server.app) as client:
        replies = [
            client.put("/bkt/obj", content=b"abc"),
            client.get("/health"),
            client.put("/bkt/obj", content=b"", params={"etl_fqn": str(missing)}),
            client.put("/bkt/obj", content=b"abc", headers={"Ais-Node-Url": ",http://x"}),
        ]
    assert [r.status_code for r in replies] == [200, 200, 404, 400]
    assert all(r.headers["x-user-middleware"] == "seen" for r in replies)
    assert replies[0].content == b"ABC"
    assert "file not found" in replies[2].json()["detail"]
    assert "Invalid pipeline" in replies[3].json()["detail"]


def test_testclient_drives_hpush_hpull_health_and_websocket(tgt: LocalTarget):
    tgt.put("bkt/obj", b"pulled")
    server = make(Upper, target_url=tgt.ais_target_url("upper"))
    with TestClient(server.app) as client:
        assert client.put("/bkt/obj", content=b"pushed").content == b"PUSHED"
        assert client.get("/ais%2F@%23%2Fbkt%2Fobj").content == b"PULLED"
        assert client.get("/health").text == "Running"
        with client.websocket_connect("/ws") as ws:
            for name in ("a", "b"):
                ws.send_bytes(json.dumps({"path": f"bkt/{name}"}).encode())
                ws.send_bytes(name.encode())
            assert [ws.receive_bytes(), ws.receive_bytes()] == [b"A", b"B"]
    assert server.stats.objects == 4


@CLIENTS
def test_pure_asgi_middleware_sees_http_and_websocket_and_every_input_mode_still_works(
    client_for: Drive, tmp_path: Path
):
    seen: dict[str, int] = {}
    server = make(StreamUpper)
    server.app.add_middleware(Counting, seen=seen)
    assert not server.fast_path
    fqn = tmp_path / "obj"
    fqn.write_bytes(b"from a file")
    with client_for(server.app) as client:
        assert client.put("/bkt/obj", content=b"streamed").content == b"STREAMED"
        assert client.put("/bkt/obj", params={"etl_fqn": str(fqn)}).content == b"FROM A FILE"
        if isinstance(client, TestClient):
            with client.websocket_connect("/ws") as ws:
                ws.send_bytes(b"{}")
                ws.send_bytes(b"over ws")
                assert ws.receive_bytes() == b"OVER WS"
        else:
            ws_url = str(client.base_url).replace("http://", "ws://") + "/ws"
            with connect(ws_url, max_size=None, compression=None, open_timeout=10) as conn:
                conn.send(b"{}")
                conn.send(b"over ws")
                conn.send(json.dumps({"fqn": str(fqn), "path": "bkt/obj"}))
                assert [conn.recv(), conn.recv()] == [b"OVER WS", b"FROM A FILE"]
    assert seen["http"] == 2 and seen["websocket"] == 1


def test_included_router_and_a_user_health_route_win(tgt: LocalTarget):
    server = make(Upper)
    router = APIRouter(prefix="/admin")

    @router.get("/ping")
    def ping() -> str:
        return "pong"

    @server.app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "custom"}

    server.app.include_router(router)
    assert not server.fast_path  # an included router is matched by FastAPI, not by a set of paths
    with TestClient(server.app) as client:
        assert client.get("/admin/ping").json() == "pong"
        assert client.get("/health").json() == {"status": "custom"}
        assert client.put("/admin/obj", content=b"abc").content == b"ABC"  # PUT: still an object


@pytest.mark.parametrize("middleware", [False, True], ids=["fast", "through-fastapi"])
def test_a_stream_that_breaks_off_is_a_truncated_reply_not_a_complete_one(middleware: bool):
    server = make(StreamFailsLater)
    if middleware:
        add_header_middleware(server.app)
    with uvicorn_http(server.app) as client:
        with pytest.raises(httpx.RemoteProtocolError), client.stream("PUT", "/b/o", content=b"x") as reply:
            assert reply.status_code == 200
            reply.read()
        assert client.get("/health").text == "Running"


# --- dependency overrides and lifespan -----------------------------------------------------------------


def test_dependency_overrides_apply_to_user_routes():
    server = make(Upper)

    def current_user() -> str:
        raise HTTPException(status_code=401, detail="no user")

    @server.app.get("/whoami")
    def whoami(user: str = Depends(current_user)) -> dict[str, str]:
        return {"user": user}

    with TestClient(server.app) as client:
        assert client.get("/whoami").status_code == 401
        server.app.dependency_overrides[current_user] = lambda: "alice"
        assert client.get("/whoami").json() == {"user": "alice"}
        assert client.put("/bkt/obj", content=b"abc").content == b"ABC"


class ThreadRecorder(FastAPIServer):
    """Records the worker thread its transform ran in."""

    threads: list[threading.Thread] = []

    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        type(self).threads.append(threading.current_thread())
        assert isinstance(data, bytes)
        return data


@CLIENTS
def test_user_lifespan_runs_and_the_servers_own_cleanup_still_runs(client_for: Drive):
    events: list[str] = []
    ThreadRecorder.threads = []
    server = make(ThreadRecorder)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        events.append("startup")
        yield
        events.append("shutdown")

    server.app.router.lifespan_context = lifespan
    with client_for(server.app) as client:
        assert events == ["startup"]
        assert client.put("/bkt/obj", content=b"abc").content == b"abc"
    assert events == ["startup", "shutdown"]
    # The raw handler's shutdown (outbound pool, worker threads) ran too: the worker thread ends.
    (worker,) = ThreadRecorder.threads
    worker.join(timeout=30)
    assert not worker.is_alive()


# --- errors keep the AIS shape ------------------------------------------------------------------------


class AsksForRetry(FastAPIServer):
    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        raise DirectPutError("http://next:1", "refused", bail_without_local_retry=True)


@CLIENTS
@pytest.mark.parametrize("middleware", [False, True], ids=["fast", "through-fastapi"])
def test_object_errors_keep_the_ais_status_and_body(client_for: Drive, middleware: bool):
    failing, retry = make(Failing), make(AsksForRetry)
    if middleware:
        add_header_middleware(failing.app)
        add_header_middleware(retry.app)
    with client_for(failing.app) as client:
        failed = client.put("/bkt/obj", content=b"abc")
    with client_for(retry.app) as client:
        replay = client.put("/bkt/obj", content=b"abc")
    assert failed.status_code == 500
    assert failed.json() == {"detail": "Processing error: ValueError: cannot transform bkt/obj"}
    assert replay.status_code == 503
    assert replay.headers["ais-etl-retry-reason"] == "direct-put-transient"
    assert "Direct put bailed" in replay.json()["detail"]


@CLIENTS
def test_user_route_or_middleware_that_raises_is_a_500_with_a_json_detail(client_for: Drive):
    server = make(Upper)

    @server.app.get("/boom")
    def boom() -> None:
        raise RuntimeError("the metrics backend is down")

    # uvicorn closes a connection whose request raised (FastAPI re-raises after answering): no reuse.
    close = {"Connection": "close"}
    with client_for(server.app) as client:
        reply = client.get("/boom", headers=close)
        assert client.put("/bkt/obj", content=b"abc").content == b"ABC"  # the server goes on
    assert reply.status_code == 500
    assert reply.json() == {"detail": "GET /boom failed: RuntimeError: the metrics backend is down"}
    assert server.stats.last_error is not None and server.stats.last_error.path == "boom"

    broken = make(Upper)

    @broken.app.middleware("http")
    async def refuse(request: Any, call_next: Any) -> Any:
        raise PermissionError("no token")

    with client_for(broken.app) as client:
        reply = client.put("/bkt/obj", content=b"abc", headers=close)
    assert reply.status_code == 500
    assert reply.json() == {"detail": "PUT /bkt/obj failed: PermissionError: no token"}


# --- the fast path --------------------------------------------------------------------------------------


def test_fast_path_object_requests_never_enter_fastapi_and_a_middleware_switches_them_over():
    server = make(Upper)
    assert server.fast_path
    client = TestClient(server.app)  # not as a context manager: no lifespan, which would build the stack
    assert client.put("/bkt/obj", content=b"abc").content == b"ABC"
    assert client.get("/health").text == "Running"
    with client.websocket_connect("/ws") as ws:
        ws.send_bytes(b"{}")
        ws.send_bytes(b"x")
        assert ws.receive_bytes() == b"X"
    # FastAPI builds its middleware stack on the first request that reaches it: none did.
    assert server.app.middleware_stack is None
    assert client.get("/openapi.json").status_code == 200
    assert server.app.middleware_stack is not None

    seen: dict[str, int] = {}
    slow = make(Upper)
    slow.app.add_middleware(Counting, seen=seen)
    assert not slow.fast_path
    with TestClient(slow.app) as client:
        assert client.put("/bkt/obj", content=b"abc").content == b"ABC"
    assert seen["http"] == 1


def test_a_route_added_while_serving_is_taken_into_account():
    server = make(Upper)
    with uvicorn_http(server.app) as client:
        assert client.get("/late").status_code == 502  # an object named "late": hpull from nowhere
        assert server.fast_path

        @server.app.get("/late")
        def late() -> str:
            return "route"

        assert client.get("/late").json() == "route"

        @server.app.get("/later/{name}")
        def later(name: str) -> str:
            return name

        assert client.get("/later/x").json() == "x"
        assert not server.fast_path
        assert client.put("/bkt/obj", content=b"abc").content == b"ABC"


def test_status_widget_links_to_docs_and_says_which_path_object_requests_take():
    with Upper.serve(target=TARGET_URL, name="widget-docs") as srv:
        srv.widget.refresh()
        assert f"href='{srv.url}/docs'" in srv.widget.status.value
        assert "fast path" in srv.widget.status.value
        assert httpx.get(srv.url + "/docs").status_code == 200

        assert isinstance(srv.server, FastAPIServer)

        @srv.server.app.get("/items/{item_id}")
        def item(item_id: int) -> int:
            return item_id

        srv.widget.refresh()
        assert "through FastAPI" in srv.widget.status.value
        assert httpx.get(srv.url + "/items/3").json() == 3
