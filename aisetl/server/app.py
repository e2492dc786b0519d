"""The raw ASGI handler of an ETL server: routing, the HTTP handler, buffered and streaming replies.

A plain ASGI callable: the data path is a handful of awaits per object, with no framework objects built
per request. The server's `.app` is a FastAPI app (`fastapi_app`) that hands object requests to it.
Data flows one way: the request is decoded (`request`, on `aisetl.wire`), the transform runs over its
source (`transforms`), and the output goes back in the response or onward to the next stage
(`direct_put`). WebSocket `/ws` is `websocket`.
"""

from __future__ import annotations

import json
import logging

from ..wire import HEALTH_BODY, HEALTH_PATH, DirectPutOutcome
from .asgi import (
    ABORT_SIGNAL,
    JSON_HEADER,
    Receive,
    ResponseAbortedError,
    Scope,
    Send,
    answer_lifespan,
    read_body,
    send_response,
)
from .budget import MemoryBudget, read_body_counted
from .direct_put import DirectPut, ReplyStream
from .disconnect import DisconnectWatch
from .errors import error_response
from .outbound import OutboundClient
from .output import error_detail
from .request import Request
from .transforms import Transformer, TransformRunner
from .websocket import serve_websocket

# Buffered request bodies of a declared length up to this are read without counting (the fast path:
# uvicorn holds a body to its declared length); longer or chunked ones are counted in the server's memory
# budget (Settings.large_object_budget) as their bytes arrive.
LARGE_OBJECT = 1 << 20

_HEALTH_HEADERS = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"7")]


class ETLApp:
    """ASGI app serving one ETL server: GET /health, GET and PUT /<path>, WebSocket /ws."""

    def __init__(self, server: Transformer) -> None:
        self.server = server
        self.settings = server.settings
        self.stats = server.stats
        self.log: logging.Logger = server.logger
        self.client = OutboundClient(server.settings)
        self.runner = TransformRunner(server, self.client)
        self.direct_put = DirectPut(self.client, server.settings, self.log)
        self.disconnects = DisconnectWatch()
        self.large_objects = MemoryBudget(server.settings.large_object_budget, server.settings.max_object_size)
        self._content_type: tuple[bytes, bytes] | None = None

    @property
    def content_type(self) -> tuple[bytes, bytes]:
        if self._content_type is None:
            self._content_type = (b"content-type", self.server.get_mime_type().encode("latin-1"))
        return self._content_type

    # --- ASGI --------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "websocket":
            await self.websocket(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        await serve_websocket(self.runner, self.direct_put, self.large_objects, scope, receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        await answer_lifespan(receive, send, self.aclose)

    async def aclose(self) -> None:
        """Release the outbound connections and the worker threads (a restart recreates them)."""
        await self.client.aclose()
        self.runner.shutdown()

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        if method == "GET" and scope["path"] == HEALTH_PATH:
            await send({"type": "http.response.start", "status": 200, "headers": _HEALTH_HEADERS})
            await send({"type": "http.response.body", "body": HEALTH_BODY})
            return
        if method != "PUT" and method != "GET":
            body = json.dumps({"detail": f"Method {method} not allowed: an ETL serves GET and PUT"}).encode()
            await send_response(send, 405, body, [JSON_HEADER, (b"allow", b"GET, PUT")])
            return
        self.stats.requests += 1
        req: Request | None = None
        try:
            req = Request(scope, receive, self.server.sanitize_fqn)
            if self.server.use_streaming:
                if not req.first:
                    await self.stream_response(req, send)
                    return
                put = self.direct_put.put_stream(req, self.runner)
                # A PUT body is still being read by the stream's feeder, which sees a disconnect itself.
                watched = bool(req.fqn) or req.method == "GET"
                streamed = await (
                    self.disconnects.unless_client_leaves(req.receive, put, "its direct put") if watched else put
                )
                if isinstance(streamed, ReplyStream):
                    await self.pass_on(req, streamed, send)
                    return
                outcome = streamed
            else:
                done = await self.buffered(req, send)
                if done is None:
                    return
                outcome = done
            await self.send_outcome(req, outcome, send)
        except ResponseAbortedError:
            signal = scope.get(ABORT_SIGNAL)
            if signal is not None:
                signal.aborted = True
            raise  # logged and counted; too late for an error reply
        except Exception as exc:
            path = req.path if req is not None else scope["path"][1:]
            status, body, headers = error_response(exc, path, req.fqn if req else "", self.log, self.stats)
            await send_response(send, status, body, headers)

    async def buffered(self, req: Request, send: Send) -> DirectPutOutcome | None:
        """Buffered transform: answer it here (None), or return the next stage's outcome."""
        runner = self.runner
        lease = self.large_objects.lease()
        try:
            data: bytes | str
            if req.fqn:
                data = req.fqn if self.settings.direct_fqn else await runner.read_fqn(req.fqn, lease)
            elif req.method == "GET":
                data = await runner.fetch_upstream(req.path, lease)
            elif req.content_length is not None and req.content_length <= LARGE_OBJECT:
                data = await read_body(req.receive)
                self.stats.took_in(len(data))
            else:
                data = await read_body_counted(req.receive, lease)
                self.stats.took_in(len(data))
            out = await runner.run_transform(data, req.path, req.etl_args)
            del data  # the input's memory can go before the output is sent
            if not req.first:
                # Counted as it is handed over, so that a client holding the reply sees it counted.
                self.stats.sent(len(out))
                self.stats.record(req.started)
                await send_response(send, 200, out, [self.content_type])
                return None
            put = self.direct_put.put_bytes(req.first, req.remaining, req.path, req.etl_args, out)
            return await self.disconnects.unless_client_leaves(req.receive, put, "its direct put")
        finally:
            lease.release()

    async def send_outcome(self, req: Request, outcome: DirectPutOutcome, send: Send) -> None:
        if outcome.status >= 400:
            self.log.warning("next stage answered %d for object %r: %r", outcome.status, req.path, outcome.body[:200])
            self.stats.record_error("http", req.path, outcome.status, f"next stage answered {outcome.status}")
        else:  # delivered onward (204: the length the next stage took) or relayed back (200)
            self.stats.sent(outcome.length or len(outcome.body))
            self.stats.record(req.started)
        await send_response(send, outcome.status, outcome.body, outcome.response_headers())

    async def pass_on(self, req: Request, reply: ReplyStream, send: Send) -> None:
        """The last stage of the pipeline answered with a body: pass it on as it comes (200, chunked)."""
        sent = 0
        try:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            async for chunk in reply.chunks():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                sent += len(chunk)
                self.stats.sent(len(chunk))
            self.stats.record(req.started)  # before the end: a client holding the whole reply sees it counted
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except Exception as exc:
            # Too late for a status: a truncated body, not a complete wrong one (as in stream_response).
            self.log.error(
                "reply of the next stage for %r broke off after %d bytes: %s", req.path, sent, error_detail(exc)
            )
            self.stats.record_error("http", req.path, 200, exc)
            raise ResponseAbortedError(f"reply for {req.path!r} broke off after {sent} bytes") from exc
        finally:
            await reply.aclose()

    async def stream_response(self, req: Request, send: Send) -> None:
        """Streaming, no pipeline: 200 chunked; an error before the first chunk is still a 500."""
        opener, feeder = await self.runner.open_source(req)
        out = self.runner.start_stream(opener, req.path, req.etl_args)
        try:
            chunk = await out.get()  # raises here: nothing sent yet, the caller answers the error
            await send({"type": "http.response.start", "status": 200, "headers": [self.content_type]})
            sent = 0
            try:
                while chunk is not None:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    sent += len(chunk)
                    self.stats.sent(len(chunk))
                    chunk = await out.get()
            except Exception as exc:
                # Too late for a status: the connection must end without the last chunk, so that the
                # client sees a truncated body rather than a complete wrong one.
                out.abandon()
                self.log.error("stream of object %r broke off after %d bytes: %s", req.path, sent, error_detail(exc))
                self.stats.record_error("http", req.path, 200, exc)
                raise ResponseAbortedError(f"stream of object {req.path!r} broke off after {sent} bytes") from exc
            self.stats.record(req.started)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            out.abandon()
            if feeder is not None:
                feeder.cancel()
