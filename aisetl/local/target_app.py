"""The HTTP side of a LocalTarget: its ETL object route as an AIS target serves it (ASGI).

`GET`/`HEAD` serve an object (the hpull source), `PUT` stores one (a direct put's destination) and
records the delivery; the secret in the route must be the target's own.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote

from .._exceptions import ProtocolError
from ..server.asgi import Receive, Scope, Send, answer_lifespan, read_body, send_response
from ..wire import ETL_OBJECT_ROUTE, parse_uname

# Bytes per body message when serving an object: large objects are streamed, not loaded whole.
SERVE_CHUNK = 1 << 20


@dataclass(frozen=True)
class Delivery:
    """One object PUT to this target through the ETL route (a direct put)."""

    name: str
    size: int
    query: dict[str, str]


def check_name(name: str) -> tuple[str, str]:
    """Split "bucket/object" and refuse names that could leave the bucket's folder."""
    bucket, sep, obj = name.partition("/")
    if not sep or not bucket or not obj:
        raise ValueError(f"object names are 'bucket/object', got {name!r}")
    if "\x00" in name or obj.startswith("/") or any(part in (".", "..") for part in obj.split("/")):
        raise ValueError(f"invalid object name {name!r}: no NUL, no leading '/', no '.' or '..' segments")
    return bucket, obj


class Store(Protocol):
    """What the route needs of its target (a `LocalTarget`)."""

    secret: str

    def fqn(self, name: str) -> str: ...
    def put(self, name: str, data: bytes) -> None: ...
    def record_delivery(self, delivery: Delivery) -> None: ...


def _detail(status: int, text: str) -> tuple[int, bytes]:
    return status, json.dumps({"detail": text}).encode()


class TargetApp:
    """ASGI app of a LocalTarget: the ETL object route, as an AIS target serves it."""

    def __init__(self, target: Store) -> None:
        self.target = target

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            name = self.route(scope)
        except ProtocolError as exc:
            status, body = _detail(exc.status_code, str(exc))
            await send_response(send, status, body, [(b"content-type", b"application/json")])
            return
        method = scope["method"]
        if method == "PUT":
            await self.store(name, scope, receive, send)
        elif method in ("GET", "HEAD"):
            await self.serve_object(name, method == "HEAD", send)
        else:
            status, body = _detail(405, f"method {method} not allowed on the ETL object route")
            await send_response(send, status, body, [(b"allow", b"GET, HEAD, PUT")])

    def route(self, scope: Scope) -> str:
        # Split the raw path first: the uname is one escaped segment that may itself hold '/'.
        raw: str = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        prefix = ETL_OBJECT_ROUTE + "/"
        if not raw.startswith(prefix):
            raise ProtocolError(
                f"no route {raw!r}: this target serves {ETL_OBJECT_ROUTE}/<etl>/<secret>/<uname>", status_code=404
            )
        parts = raw[len(prefix) :].split("/", 2)
        if len(parts) != 3 or not parts[2]:
            raise ProtocolError(f"expected {ETL_OBJECT_ROUTE}/<etl>/<secret>/<uname>, got {raw!r}")
        if parts[1] != self.target.secret:
            raise ProtocolError(
                "wrong ETL secret: an ETL server's AIS_TARGET_URL must come from this target "
                "(tgt.ais_target_url(name), or serve(target=tgt))",
                status_code=403,
            )
        bucket, obj = parse_uname(unquote(parts[2]))
        try:
            check_name(f"{bucket}/{obj}")
        except ValueError as exc:
            raise ProtocolError(str(exc)) from None
        return f"{bucket}/{obj}"

    async def serve_object(self, name: str, head_only: bool, send: Send) -> None:
        path = self.target.fqn(name)
        try:
            f = open(path, "rb")
        except (FileNotFoundError, IsADirectoryError):
            status, body = _detail(404, f"object {name!r} does not exist")
            await send_response(send, status, body, [(b"content-type", b"application/json")])
            return
        with f:
            size = os.fstat(f.fileno()).st_size
            headers = [(b"content-type", b"application/octet-stream"), (b"content-length", str(size).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            if head_only:
                await send({"type": "http.response.body", "body": b""})
                return
            loop = asyncio.get_running_loop()
            while chunk := (
                f.read(SERVE_CHUNK) if size <= SERVE_CHUNK else await loop.run_in_executor(None, f.read, SERVE_CHUNK)
            ):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})

    async def store(self, name: str, scope: Scope, receive: Receive, send: Send) -> None:
        data = await read_body(receive)
        await asyncio.get_running_loop().run_in_executor(None, self.target.put, name, data)
        query: dict[str, Any] = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        self.target.record_delivery(Delivery(name, len(data), query))
        # 200 with an empty body: what an AIS target answers a direct put with (3.5).
        await send_response(send, 200, b"", [])
