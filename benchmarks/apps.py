"""The same transforms for aisetl and the official aistore server, as ASGI apps uvicorn can import.

Which implementation and mode is chosen by environment variables, so that one module serves both:
BENCH_IMPL = aisetl | official | floor (a bare ASGI app), BENCH_MODE = identity | stream | md5 | lines | middleware
(identity, with one pass-through `@app.middleware("http")` added by the user, as tracing or auth would);
BENCH_YIELD = the size of the pieces a streaming transform reads and yields (default 64 KiB).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from typing import Any, BinaryIO

IMPL = os.environ.get("BENCH_IMPL", "aisetl")
MODE = os.environ.get("BENCH_MODE", "identity")
CHUNK = int(os.environ.get("BENCH_YIELD", 64 * 1024))


def _transform(data: bytes, path: str, etl_args: str) -> bytes:
    if MODE == "md5":
        return hashlib.md5(data).hexdigest().encode()
    if MODE == "slow":  # a model that takes its time (benchmarks/hostile.py)
        time.sleep(0.2)
    return data


def _transform_stream(reader: BinaryIO, path: str, etl_args: str) -> Iterator[bytes]:
    if MODE == "lines":  # a line-oriented transform: count the lines and the bytes in them
        lines = size = 0
        for line in reader:
            lines += 1
            size += len(line)
        yield f"{lines} {size}\n".encode()
        return
    while chunk := reader.read(CHUNK):
        yield chunk


def _make(base: Any) -> Any:
    if MODE in ("stream", "lines"):

        class StreamETL(base):  # type: ignore[misc,valid-type]
            def transform_stream(self, reader: BinaryIO, path: str, etl_args: str) -> Iterator[bytes]:
                return _transform_stream(reader, path, etl_args)

        return StreamETL

    class BufferedETL(base):  # type: ignore[misc,valid-type]
        def transform(self, data: bytes, path: str, etl_args: str) -> bytes:
            return _transform(data, path, etl_args)

    return BufferedETL


async def floor(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The least an ASGI app can do per request: read the body, answer it (chunk by chunk, chunked
    encoding, in stream mode)."""
    if scope["type"] != "http":
        return
    if MODE == "stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
            if message.get("body"):
                await send({"type": "http.response.body", "body": message["body"], "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    parts = []
    more = True
    while more:
        message = await receive()
        parts.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(parts)
    if MODE == "md5":
        body = hashlib.md5(body).hexdigest().encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", str(len(body)).encode())]}
    )
    await send({"type": "http.response.body", "body": body})


if IMPL == "official":
    import logging

    from aistore.sdk.etl.webserver.fastapi_server import FastAPIServer as OfficialServer

    app = _make(OfficialServer)().app
    logging.getLogger().setLevel(logging.WARNING)  # the official server logs INFO per server; not per request
elif IMPL == "floor":
    app = floor
else:
    from aisetl import FastAPIServer

    app = _make(FastAPIServer)().app

if MODE == "middleware" and IMPL != "floor":

    @app.middleware("http")  # type: ignore[untyped-decorator]
    async def pass_through(request: Any, call_next: Any) -> Any:
        return await call_next(request)
