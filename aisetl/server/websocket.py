"""WebSocket `/ws`: AIS's `ws://` transport (protocol section 6).

Per object AIS sends a control frame (JSON) and, when the control frame has no `fqn`, one content frame.
It matches every reply to its oldest outstanding object, so replies must come one per control frame,
in order. Objects of one connection are processed concurrently (each transform in a worker thread,
each direct put on its own), and a writer sends their replies strictly in arrival order.

AIS has no error channel here: any text frame counts as "delivered", a 1000 close is ignored. So every
failure is logged with the object path and counted in the server's stats, and the connection goes on.
A control frame that cannot be parsed is a protocol violation (AIS never sends one): the replies owed
for earlier objects are sent, then the connection is closed with 1007, a close AIS records as an error.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Awaitable

from .._exceptions import DirectPutError, ProtocolError
from ..wire import WS_PATH_ROUTE, ControlMessage, parse_control_message, parse_pipeline
from ..wire.safety import redact
from .asgi import Message, Receive, Scope, Send
from .budget import Lease, MemoryBudget
from .direct_put import DirectPut
from .transforms import TransformRunner

# The window of one connection: objects read and not yet answered, and the bytes they hold (input and
# output, until the reply has gone out). Past it no further frame is read, so a peer that sends faster
# than it reads replies is held back by TCP instead of growing queues here. Memory per connection: at
# most WS_MAX_IN_FLIGHT_BYTES, plus the input and output of the one object that crossed it, plus what
# uvicorn holds (ws_max_queue frames read ahead, server/config.py; the reply frame being written).
WS_MAX_IN_FLIGHT = 64
WS_MAX_IN_FLIGHT_BYTES = 16 << 20
# Content frames larger than this are counted in the server's memory budget while they are processed.
WS_COUNTED_FRAME = 1 << 20
# WebSocket close codes (RFC 6455 7.4.1).
CLOSE_NORMAL, CLOSE_INVALID_PAYLOAD = 1000, 1007


def _text(text: str) -> Message:
    return {"type": "websocket.send", "text": text}


async def _answer(message: Message) -> Message:
    return message


def _payload(message: Message) -> bytes | str | None:
    data = message.get("bytes")
    return data if data is not None else message.get("text")


class Connection:
    def __init__(self, runner: TransformRunner, direct_put: DirectPut, send: Send) -> None:
        self.runner = runner
        self.direct_put = direct_put
        self.stats = runner.server.stats
        self.log = runner.server.logger
        self.send = send
        self.replies: asyncio.Queue[tuple[asyncio.Future[Message], int] | None] = asyncio.Queue(WS_MAX_IN_FLIGHT)
        self.in_flight_bytes = 0
        self.progress = asyncio.Event()
        self.send_failed = False

    async def writer(self) -> None:
        """Send the replies in the order their objects arrived."""
        while (item := await self.replies.get()) is not None:
            reply, size = item
            message = await reply
            if not self.send_failed:
                try:
                    await self.send(message)
                except Exception:
                    self.send_failed = True  # the peer is gone; keep draining so no task is left behind
            self.in_flight_bytes -= size + len(message.get("bytes") or b"")
            del item, reply, message  # the output's memory goes now, not at the next reply
            self.progress.set()

    async def process(self, ctrl: ControlMessage, content: bytes | None, lease: Lease) -> Message:
        message = await self._process(ctrl, content, lease)
        self.in_flight_bytes += len(message.get("bytes") or b"")  # held until the writer has sent it
        return message

    async def _process(self, ctrl: ControlMessage, content: bytes | None, lease: Lease) -> Message:
        started, stats, log = time.perf_counter(), self.stats, self.log
        try:
            first, remaining = parse_pipeline(ctrl.pipeline)
            out = await self.transform(ctrl, content)
            if not first:
                stats.sent(len(out))
                stats.record(started)
                return {"type": "websocket.send", "bytes": out}
            outcome = await self.direct_put.put_bytes(first, remaining, ctrl.path, ctrl.etl_args, out)
            if outcome.status == 200:
                stats.sent(len(outcome.body))
                stats.record(started)
                return {"type": "websocket.send", "bytes": outcome.body}
            if outcome.delivered:
                stats.sent(outcome.length)
                stats.record(started)
                return _text(str(outcome.length))
            log.warning("ws object %r: next stage answered %d: %r", ctrl.path, outcome.status, outcome.body[:200])
            stats.record_error("ws", ctrl.path, outcome.status, f"next stage answered {outcome.status}")
            return _text("0")
        except ProtocolError as exc:
            log.warning("ws object %r: %s", ctrl.path, exc)
            stats.record_error("ws", ctrl.path, exc.status_code, exc)
            return _text(redact(str(exc), stats.secrets))
        except DirectPutError as exc:
            log.error("ws object %r: %s", ctrl.path, exc)
            stats.record_error("ws", ctrl.path, 502, exc)
            return _text("0")
        except Exception as exc:
            log.error("ws object %r: transform failed", ctrl.path, exc_info=exc)
            stats.record_error("ws", ctrl.path, 500, exc)
            return _text(redact(f"Transform error: {type(exc).__name__}: {exc}", stats.secrets))
        finally:
            lease.release()

    async def transform(self, ctrl: ControlMessage, content: bytes | None) -> bytes:
        fqn = self.runner.server.sanitize_fqn(ctrl.fqn) if content is None else ""
        try:
            return await self._transform(ctrl, content, fqn)
        except FileNotFoundError as exc:
            if not fqn or exc.filename != fqn:
                raise
            message = f"Error processing object {ctrl.path!r}: file not found at {fqn!r}."
            raise ProtocolError(message, status_code=404) from exc

    async def _transform(self, ctrl: ControlMessage, content: bytes | None, fqn: str) -> bytes:
        runner = self.runner
        if not runner.server.use_streaming:
            data: bytes | str
            if content is not None:
                data = content
            elif runner.settings.direct_fqn:
                data = fqn
            else:
                data = await runner.read_fqn(fqn)
            return await runner.run_transform(data, ctrl.path, ctrl.etl_args)
        # A streaming-only server answers /ws too: its output is collected into one reply.
        opener = runner.fqn_opener(fqn) if content is None else (lambda: io.BytesIO(content))
        out = runner.start_stream(opener, ctrl.path, ctrl.etl_args)
        try:
            chunks = []
            while (chunk := await out.get()) is not None:
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            out.abandon()

    async def submit(self, work: Awaitable[Message], size: int) -> None:
        self.in_flight_bytes += size
        await self.replies.put((asyncio.ensure_future(work), size))
        # The window: wait for earlier replies to go out before reading more.
        while self.in_flight_bytes > WS_MAX_IN_FLIGHT_BYTES:
            self.progress.clear()
            await self.progress.wait()


async def serve_websocket(
    runner: TransformRunner, direct_put: DirectPut, budget: MemoryBudget, scope: Scope, receive: Receive, send: Send
) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if scope["path"] != WS_PATH_ROUTE:
        await send({"type": "websocket.close", "code": CLOSE_NORMAL})  # handshake answered 403
        return
    await send({"type": "websocket.accept"})
    stats, log = runner.server.stats, runner.server.logger
    stats.ws_connections += 1
    conn = Connection(runner, direct_put, send)
    writer = asyncio.ensure_future(conn.writer())
    close_reason = ""
    try:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                break
            payload = _payload(message)
            try:
                ctrl = parse_control_message(payload if payload is not None else b"")
            except ProtocolError as exc:
                log.error("ws: %s; closing the connection", exc)
                stats.record_error("ws", "", 400, exc)
                close_reason = redact(str(exc), stats.secrets)
                break
            content: bytes | None = None
            if not ctrl.fqn:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    log.error("ws: connection closed between the control and content frames of %r", ctrl.path)
                    stats.record_error("ws", ctrl.path, 0, "connection closed before the content frame")
                    break
                data = _payload(message)
                content = data.encode() if isinstance(data, str) else (data or b"")
            stats.requests += 1
            size = len(content) if content is not None else 0
            stats.took_in(size)
            lease = budget.lease()
            work = conn.process(ctrl, content, lease)
            if size > WS_COUNTED_FRAME:
                try:
                    # Counted as it arrived; while the budget is full, no more frames are read.
                    await lease.take(size)
                except ProtocolError as exc:  # larger than one object may be
                    work.close()
                    lease.release()
                    stats.record_error("ws", ctrl.path, exc.status_code, exc)
                    work = _answer(_text(str(exc)))
            await conn.submit(work, size)
    finally:
        await conn.replies.put(None)
        await writer
        stats.ws_connections -= 1
    if close_reason and not conn.send_failed:
        # The close reason is limited to 123 bytes by RFC 6455.
        reason = close_reason.encode()[:123].decode("utf-8", "ignore")
        await send({"type": "websocket.close", "code": CLOSE_INVALID_PAYLOAD, "reason": reason})
