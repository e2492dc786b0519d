"""The ASGI application of an ETL server: routing, sources, transforms, responses, direct put.

A plain ASGI callable rather than FastAPI routes: the data path is a handful of awaits per object,
with no framework objects built per request (see README, "Why not FastAPI routing").

Data flows one way: the request is decoded by `_protocol`, a source is picked (request body, the
`etl_fqn` file, or a GET from the AIS target), the user's transform runs (sync code in a worker thread,
so a blocking transform never stalls the other requests), and the output goes back in the response or
onward to the next stage (`_direct_put`).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from ._bridge import Pipe, PipeReader, pump
from ._client import OutboundClient, TransientError
from ._direct_put import DirectPut
from ._exceptions import DirectPutError, ProtocolError, TargetError
from ._protocol import (
    HEADER_NODE_URL,
    HEALTH_BODY,
    HEALTH_PATH,
    RETRY_REASON_DIRECT_PUT_TRANSIENT,
    DirectPutOutcome,
    decode_fqn,
    parse_pipeline,
    parse_query,
    upstream_object_url,
)
from ._workers import ByteBudget, WorkerPool

if TYPE_CHECKING:
    from ._base import ETLServer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# Worker threads for sync transforms: enough that blocking transforms (I/O, sleeps) do not queue
# behind each other under AIS's concurrency; threads are started only when needed.
TRANSFORM_THREADS = 64
# Buffered request bodies above LARGE_OBJECT wait for room in a budget of LARGE_OBJECT_BUDGET bytes
# before they are read: memory stays bounded however many large objects arrive at once, and four
# 16 MiB objects in flight keep one core as busy as more would (benchmarks/RESULTS.md, PUT 16 MiB).
LARGE_OBJECT = 1 << 20
LARGE_OBJECT_BUDGET = int(os.environ.get("AISETL_LARGE_OBJECT_BUDGET", 64 << 20))
# Streamed objects of known size up to this are read whole before the transform starts (see open_source).
STREAM_BUFFER_MAX = 4 << 20
# Files up to this size are read on the loop (cheaper than a thread hop); larger ones in a thread.
INLINE_READ_MAX = 1 << 20

_JSON = (b"content-type", b"application/json")
_NODE_URL = HEADER_NODE_URL.encode()
_HEALTH_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"7")]


class Request:
    """What one HTTP request asks for, decoded once."""

    __slots__ = ("method", "path", "etl_args", "fqn", "first", "remaining", "receive", "started", "content_length")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.started = time.perf_counter()
        self.method: str = scope["method"]
        self.path: str = scope["path"][1:]  # FastAPI-style: percent-decoded, no leading slash
        self.receive = receive
        self.fqn = ""  # set before anything can raise, for error reports
        self.first = self.remaining = ""
        self.content_length: int | None = None
        self.etl_args, raw_fqn = parse_query(scope["query_string"])
        if raw_fqn:
            self.fqn = decode_fqn(raw_fqn)
        for name, value in scope["headers"]:
            if name == _NODE_URL:
                self.first, self.remaining = parse_pipeline(value.decode("latin-1"))
            elif name == b"content-length" and value.isdigit():
                self.content_length = int(value)

    @property
    def replayable(self) -> bool:
        """Whether the source can be read again for a retry: a file or an upstream GET, not a PUT body."""
        return bool(self.fqn) or self.method == "GET"


class ClientDisconnectedError(Exception):
    """The client went away before sending the whole request body."""


async def read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        if message["type"] == "http.disconnect":
            raise ClientDisconnectedError("client disconnected before the request body was read")
        return body
    parts = [body]
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnectedError("client disconnected before the request body was read")
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


async def iter_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnectedError("client disconnected before the request body was read")
        yield message.get("body", b"")
        if not message.get("more_body"):
            return


def read_file(path: str) -> bytes:
    with open(path, "rb", buffering=0) as f:
        return f.readall()


def as_bytes(value: object, what: str) -> bytes:
    """The transform's output as bytes; anything else is a clear error naming the type."""
    if type(value) is bytes:
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, memoryview):
        return value.tobytes()
    raise TypeError(f"{what} returned {type(value).__name__}; expected bytes")


def error_detail(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ETLApp:
    """ASGI app serving one `ETLServer`: GET /health, GET and PUT /<path>, WebSocket /ws."""

    def __init__(self, server: ETLServer) -> None:
        self.server = server
        self.settings = server.settings
        self.stats = server.stats
        self.log: logging.Logger = server.logger
        self.client = OutboundClient(server.settings)
        self.direct_put = DirectPut(self.client, server.settings, self.log)
        self._workers: WorkerPool | None = None
        self.large_objects = ByteBudget(LARGE_OBJECT_BUDGET)
        self._content_type: tuple[bytes, bytes] | None = None

    # --- plumbing ----------------------------------------------------------------------------------

    @property
    def workers(self) -> WorkerPool:
        if self._workers is None:
            self._workers = WorkerPool(TRANSFORM_THREADS, "aisetl-transform")
        return self._workers

    @property
    def content_type(self) -> tuple[bytes, bytes]:
        if self._content_type is None:
            self._content_type = (b"content-type", self.server.get_mime_type().encode("latin-1"))
        return self._content_type

    async def run_transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        server = self.server
        if server.transform_is_async:
            out = await server.transform(data, path, etl_args)  # type: ignore[misc]
        else:
            out = await self.workers.run(server.transform, data, path, etl_args)
        return as_bytes(out, "transform()")

    def produce(self, open_reader: Callable[[], BinaryIO], path: str, etl_args: str, out: Pipe) -> None:
        """Worker thread: run transform_stream over a fresh reader, feeding `out` until it ends."""
        try:
            reader = open_reader()
        except BaseException as exc:
            out.finish_blocking(exc)
            return
        chunks: Iterator[bytes] | None = None
        try:
            chunks = self.server.transform_stream(reader, path, etl_args)
            for chunk in chunks:
                if chunk:
                    out.put_blocking(as_bytes(chunk, "transform_stream()"))
        except BaseException as exc:
            out.finish_blocking(exc)
        else:
            out.finish_blocking()
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
            reader.close()

    async def open_upstream(self, path: str) -> tuple[int | None, AsyncIterator[bytes]]:
        """hpull: start the GET of the object from the AIS target: (its Content-Length, its body).

        An error status is a TargetError carrying that status.
        """
        url = upstream_object_url(self.settings.target_url, path)
        try:
            resp = await self.client.open_stream(url)
        except TransientError as exc:
            raise TargetError(
                f"Network error: cannot GET object {path!r} from the AIS target: {exc}", status_code=502
            ) from exc
        if not 200 <= resp.status < 300:
            try:
                snippet = (await resp.read())[:256].decode("utf-8", "replace")
            except Exception:
                snippet = ""
            raise TargetError(
                f"Target request failed: GET of object {path!r} from the AIS target answered "
                f"{resp.status}{': ' + snippet if snippet else ''}",
                status_code=resp.status,
            )
        length = resp.header("content-length")
        return (int(length) if length and length.isdigit() else None), self.client.read_stream(resp)

    async def fetch_upstream(self, path: str) -> bytes:
        _, chunks = await self.open_upstream(path)
        return await self.collect_upstream(path, chunks)

    async def collect_upstream(self, path: str, chunks: AsyncIterator[bytes]) -> bytes:
        try:
            return b"".join([chunk async for chunk in chunks])
        except TransientError as exc:
            raise TargetError(
                f"Network error: GET of object {path!r} from the AIS target broke off: {exc}", status_code=502
            ) from exc

    async def open_source(self, req: Request) -> tuple[Callable[[], BinaryIO], asyncio.Task[None] | None]:
        """The source of a streaming transform: a thread-side opener, and the loop task that feeds it.

        An object of known size up to STREAM_BUFFER_MAX is read whole first: the transform then reads
        it from memory without a thread hop per chunk (several times faster for objects of a few MiB),
        and memory stays bounded by that size. Larger or unsized objects are pumped chunk by chunk.
        """
        if req.fqn:
            fqn = req.fqn
            return (lambda: open(fqn, "rb")), None
        if req.method == "GET":
            length, chunks = await self.open_upstream(req.path)
            if length is not None and length <= STREAM_BUFFER_MAX:
                data = await self.collect_upstream(req.path, chunks)
                return (lambda: io.BytesIO(data)), None
        elif req.content_length is not None and req.content_length <= STREAM_BUFFER_MAX:
            body = await read_body(req.receive)
            return (lambda: io.BytesIO(body)), None
        else:
            chunks = iter_body(req.receive)
        loop = asyncio.get_running_loop()
        pipe = Pipe(loop)
        return (lambda: cast(BinaryIO, PipeReader(pipe))), loop.create_task(pump(chunks, pipe))

    # --- ASGI --------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "websocket":
            from ._ws import serve_websocket

            await serve_websocket(self, scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def aclose(self) -> None:
        """Release the outbound connections and the worker threads (a restart recreates them)."""
        await self.client.aclose()
        workers, self._workers = self._workers, None
        if workers is not None:
            workers.shutdown()

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method == "GET" and scope["path"] == HEALTH_PATH:
            await send({"type": "http.response.start", "status": 200, "headers": _HEALTH_HEADERS})
            await send({"type": "http.response.body", "body": HEALTH_BODY})
            return
        if method != "PUT" and method != "GET":
            body = json.dumps({"detail": f"Method {method} not allowed: an ETL serves GET and PUT"}).encode()
            await send_response(send, 405, body, [_JSON, (b"allow", b"GET, PUT")])
            return
        self.stats.requests += 1
        req: Request | None = None
        try:
            req = Request(scope, receive)
            if self.server.use_streaming:
                if not req.first:
                    await self.stream_response(req, send)
                    return
                outcome = await self.direct_put.put_stream(req, self)
            else:
                size = req.content_length or 0
                admitted = await self.large_objects.acquire(size) if size > LARGE_OBJECT else 0
                try:
                    data: bytes | str
                    if req.fqn:
                        data = req.fqn if self.settings.direct_fqn else await self.read_fqn(req.fqn)
                    elif method == "GET":
                        data = await self.fetch_upstream(req.path)
                    else:
                        data = await read_body(receive)
                    size = len(data) if isinstance(data, bytes) else 0  # a path (ETL_DIRECT_FQN) is not input
                    out = await self.run_transform(data, req.path, req.etl_args)
                    del data  # the input's memory can go before the output is sent
                    if not req.first:
                        self.stats.record(req.started, size, len(out))
                        await send_response(send, 200, out, [self.content_type])
                        return
                    outcome = await self.direct_put.put_bytes(req.first, req.remaining, req.path, req.etl_args, out)
                finally:
                    if admitted:
                        self.large_objects.release(admitted)
            await self.send_outcome(req, outcome, send)
        except Exception as exc:
            status, body, headers = self.error_response(exc, req, scope)
            await send_response(send, status, body, headers)

    async def read_fqn(self, fqn: str) -> bytes:
        # One stat decides whether the read may block the loop; the read itself is the only other call.
        if os.stat(fqn).st_size <= INLINE_READ_MAX:
            return read_file(fqn)
        return await self.workers.run(read_file, fqn)

    async def send_outcome(self, req: Request, outcome: DirectPutOutcome, send: Send) -> None:
        if outcome.status >= 400:
            self.log.warning("next stage answered %d for object %r: %r", outcome.status, req.path, outcome.body[:200])
            self.stats.record_error("http", req.path, outcome.status, f"next stage answered {outcome.status}")
        else:
            self.stats.record(req.started, 0, outcome.length or len(outcome.body))
        await send_response(send, outcome.status, outcome.body, outcome.response_headers())

    async def stream_response(self, req: Request, send: Send) -> None:
        """Streaming, no pipeline: 200 chunked; an error before the first chunk is still a 500."""
        loop = asyncio.get_running_loop()
        opener, feeder = await self.open_source(req)
        out = Pipe(loop)
        self.workers.start_soon(self.produce, opener, req.path, req.etl_args, out)
        try:
            chunk = await out.get()  # raises here: nothing sent yet, the caller answers the error
            await send({"type": "http.response.start", "status": 200, "headers": [self.content_type]})
            sent = 0
            try:
                while chunk is not None:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    sent += len(chunk)
                    chunk = await out.get()
            except Exception as exc:
                # Too late for a status: end the connection without the last chunk, so that the client
                # sees a truncated body rather than a complete wrong one.
                out.abandon()
                self.log.error("stream of object %r broke off after %d bytes: %s", req.path, sent, error_detail(exc))
                self.stats.record_error("http", req.path, 200, exc)
                return
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            self.stats.record(req.started, 0, sent)
        finally:
            out.abandon()
            if feeder is not None:
                feeder.cancel()

    def error_response(
        self, exc: Exception, req: Request | None, scope: Scope
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        """The one place an exception becomes a status and a body a person can act on."""
        path = req.path if req is not None else scope["path"][1:]
        headers = [_JSON]
        if isinstance(exc, (ProtocolError, TargetError)):
            status, detail = exc.status_code, str(exc)
        elif isinstance(exc, FileNotFoundError) and req is not None and req.fqn and exc.filename == req.fqn:
            status, detail = 404, f"Error processing object {path!r}: file not found at {req.fqn!r}."
        elif isinstance(exc, DirectPutError):
            if exc.bail_without_local_retry:
                status, detail = 503, f"Direct put bailed (one-shot body): {exc}"
                headers.append((b"ais-etl-retry-reason", RETRY_REASON_DIRECT_PUT_TRANSIENT.encode()))
            else:
                status, detail = 502, f"Direct put failed after retries: {exc}"
        elif isinstance(exc, ClientDisconnectedError):
            status, detail = 400, str(exc)
        else:
            status, detail = 500, f"Processing error: {error_detail(exc)}"
        if status >= 500 and not isinstance(exc, (TargetError, DirectPutError)):
            self.log.error("object %r: %s", path, detail, exc_info=exc)
        else:
            self.log.warning("object %r: %d %s", path, status, detail)
        self.stats.record_error("http", path, status, exc)
        return status, json.dumps({"detail": detail}).encode(), headers


async def send_response(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
