"""A small HTTP/1.1 client for the server's two outbound calls: the hpull GET and the direct-put PUT.

Why not httpx here: on this machine httpx's AsyncClient tops out near 1,300 requests/s to nginx and
falls to ~750/s with 32 requests in flight (benchmarks/RESULTS.md), which capped hpull and direct put
at a few hundred objects/s. This client parses responses with httptools (llhttp, in C, already a
dependency of uvicorn[standard]), keeps connections alive per host, turns Nagle off, and writes small
requests in one segment.

What it does: http(s), Content-Length or chunked request bodies, responses read whole or streamed with
backpressure, connection and keep-alive limits per host; timeouts on connect and on a peer that stops
moving bytes (a sweeper per pool, blaming the peer only when it holds things up); 1xx skipped; a
2xx completing before the request body was all sent is an `EarlyAnswerError`, not a success.
What it does not: redirects, cookies, proxies, HTTP/2, compression.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import AsyncIterator
from typing import cast

import httptools

from ..wire.safety import host_header
from .http11_base import (
    MAX_HEAD,
    ConnectError,
    EarlyAnswerError,
    HeadTooLongError,
    HTTPError,
    InvalidURLError,
    Limits,
    MaySend,
    NotRetriedError,
    ReadError,
    TimeoutError_,
    WriteError,
    check_headers,
    split_url,
)
from .http11_response import Response

__all__ = ["ConnectError", "EarlyAnswerError", "HTTPError", "InvalidURLError", "Limits", "Pool", "ReadError"]
__all__ += ["NotRetriedError", "Response", "TimeoutError_", "WriteError", "split_url"]


# Request bodies up to this size go out in the same write as the head (one TCP segment or a few).
COALESCE_MAX = 64 * 1024
# Response bytes buffered before reading from the socket pauses (streamed responses).
READ_HIGH_WATER = 1 << 20


class Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self, key: tuple[str, str, int], limits: Limits) -> None:
        self.key = key
        self.limits = limits
        self._last_progress = 0.0
        self._head_bytes = 0
        self._informational = False
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = time.monotonic()
        self._error: HTTPError | None = None
        self._can_write = asyncio.Event()
        self._can_write.set()
        self._response: Response | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.lost = asyncio.Event()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TLS transport is not an asyncio.Transport subclass, but has the same methods.
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError):
                pass  # not TCP (a test over a Unix socket): nothing to turn off

    def data_received(self, data: bytes) -> None:
        response = self._response
        if response is None:
            self._fail(ReadError("unexpected bytes from the server outside a response"))
            return
        self._last_progress = time.monotonic()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ReadError(f"malformed HTTP response: {exc}"))
            return
        if response.status == 0 and self._response is response:  # still in the head: header lines forever?
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                self._fail(HeadTooLongError(f"response head longer than {MAX_HEAD} bytes"))

    def eof_received(self) -> bool | None:
        response = self._response
        if response is not None and response.status and response.close_delimited:
            # HTTP/1.0-style body (no length, not chunked): the end of the connection ends it.
            self._response = None
            self.closed = True
            response.finish(None)
            return None
        self._fail(ReadError("server closed the connection"))
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        reason = f"connection lost: {exc}" if exc else "server closed the connection"
        self._fail(ReadError(reason))
        self._can_write.set()
        self.lost.set()

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._last_progress = time.monotonic()
        self._can_write.set()

    def _waiting_on_peer(self, response: Response) -> bool:
        """Whether the peer, not this side, holds things up (a slow transform here is not its fault)."""
        transport = self.transport
        if transport is None:
            return False
        if not self._can_write.is_set() or transport.get_write_buffer_size():
            return True  # bytes we sent wait for it to read them
        # Our body still being produced is our delay; else we wait for its bytes (unless we paused reading).
        return response.body_sent and transport.is_reading()

    def check_progress(self, now: float) -> None:
        """Called by the pool's sweeper about once a second while a request is out (no timer per request)."""
        response = self._response
        if response is None or self.closed:
            return
        if not self._waiting_on_peer(response):
            self._last_progress = now
        limit = self.limits.response_timeout if response.status == 0 else self.limits.idle_timeout
        idle = now - self._last_progress
        if idle >= limit:
            what = "no response head" if response.status == 0 else "the response body stalled"
            self._fail(TimeoutError_(f"{what}: nothing moved for {limit:g} s"))
            self.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self._response is not None
        self._response.raw_headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))

    def on_headers_complete(self) -> None:
        assert self._response is not None
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            # 100 Continue, 103 Early Hints: informational, never the answer; the final one follows.
            self._informational = True
            self._response.raw_headers.clear()
            return
        self._response.status = status
        self._response.headers_done.set()

    def on_body(self, body: bytes) -> None:
        assert self._response is not None
        self._response.feed(body)

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            self._head_bytes = 0
            return
        response, self._response = self._response, None
        assert response is not None
        response.reusable = self._parser.should_keep_alive()
        transport = self.transport
        if 200 <= response.status < 300 and (
            not response.body_sent or (transport is not None and transport.get_write_buffer_size())
        ):
            # It answered success while part of what we sent was still unread: nothing proves it
            # stored the whole object, so this is not a delivery.
            response.reusable = False
            response.finish(EarlyAnswerError(f"answered {response.status} before reading the whole request body"))
            self.close()
            return
        response.finish(None)

    def _fail(self, error: HTTPError) -> None:
        self.closed = True
        if self._error is None:
            self._error = error
        if self._response is not None:
            response, self._response = self._response, None
            response.finish(error)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    async def send(
        self, method: str, host: str, target: str, headers: list[tuple[str, str]], body: bytes | AsyncIterator[bytes]
    ) -> Response:
        """Returns at the response's head; a streamed body may still be going out (full duplex)."""
        assert self.transport is not None
        response = Response(self, READ_HIGH_WATER)
        self._response = response
        self._head_bytes = 0
        self._last_progress = time.monotonic()
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in headers]
        if isinstance(body, bytes):
            lines.append(f"Content-Length: {len(body)}")
            head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            # Not drained before the answer: the transport owns the bytes; the reply is read meanwhile.
            self._write([head + body] if len(body) <= COALESCE_MAX else [head, body])
            response.body_sent = True
        else:
            lines.append("Transfer-Encoding: chunked")
            self._write([("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")])
            response.sender = asyncio.ensure_future(self._send_chunks(body, response))
        await response.headers_done.wait()
        if response.status == 0:
            error = response.send_error or response.error
            if response.sender is not None and not response.sender.done():
                response.sender.cancel()
            raise error if error is not None else ReadError("no response")
        return response

    async def _send_chunks(self, body: AsyncIterator[bytes], response: Response) -> None:
        """The chunked request body, sent beside the reading of the response; paced by the socket."""
        try:
            async for chunk in body:
                if chunk:
                    await self._drain()
                    if not self._write([b"%x\r\n" % len(chunk), chunk, b"\r\n"]):
                        return  # answered early: the rest of the body is not wanted
            self._write([b"0\r\n\r\n"])
            response.body_sent = True
            await self._drain()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            response.fail_send(exc)

    def _answered(self) -> bool:
        return self._response is None or self._response.status != 0

    def _write(self, parts: list[bytes]) -> bool:
        """Write unless the connection is gone; False when it is gone after an answer came."""
        assert self.transport is not None
        if self.closed or self.transport.is_closing():
            if self._answered():
                return False
            raise WriteError(str(self._error) if self._error else "connection closed while sending")
        self.transport.writelines(parts)
        return True

    async def _drain(self) -> None:
        if not self._can_write.is_set() and not self.closed:
            await self._can_write.wait()
        if self.closed and not self._answered():
            raise WriteError(str(self._error) if self._error else "connection closed while sending")


class Pool:
    """Keep-alive connections per (scheme, host, port) for one event loop."""

    def __init__(
        self, limits: Limits, ssl_ctx: ssl.SSLContext | None, headers: dict[str, str], may_send_headers: MaySend = None
    ) -> None:
        self.limits = limits
        self.ssl_context = ssl_ctx
        self.default_headers = list(headers.items())
        self._may_send_headers = may_send_headers
        self._idle: dict[tuple[str, str, int], list[Connection]] = {}
        # Connection slots per host: objects stuck on one next stage never take the slots of another.
        self._slots: dict[tuple[str, str, int], asyncio.Semaphore] = {}
        # Connections with a request out, checked for progress by one sweeper task while there are any.
        self._busy: set[Connection] = set()
        self._sweeper: asyncio.Future[None] | None = None
        self._idle_count = 0

    def _ssl(self) -> ssl.SSLContext:
        if self.ssl_context is None:
            self.ssl_context = ssl.create_default_context()
        return self.ssl_context

    async def _connect(self, key: tuple[str, str, int]) -> Connection:
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        try:
            if scheme == "https":
                connecting = loop.create_connection(
                    lambda: Connection(key, self.limits), host, port, ssl=self._ssl(), server_hostname=host
                )
            else:
                connecting = loop.create_connection(lambda: Connection(key, self.limits), host, port)
            _, conn = await asyncio.wait_for(connecting, self.limits.connect_timeout)
        except asyncio.TimeoutError:
            raise TimeoutError_(
                f"cannot connect to {host}:{port}: no answer in {self.limits.connect_timeout:g} s"
            ) from None
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        return conn

    def _take_idle(self, key: tuple[str, str, int]) -> Connection | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            self._idle_count -= 1
            if not conn.closed and now - conn.idle_since < self.limits.keepalive_expiry:
                return conn
            conn.close()
        return None

    def _host_slots(self, key: tuple[str, str, int]) -> asyncio.Semaphore:
        slots = self._slots.get(key)
        if slots is None:
            slots = self._slots[key] = asyncio.Semaphore(self.limits.max_connections)
        return slots

    async def _sweep(self) -> None:
        every = min(1.0, self.limits.response_timeout / 2, self.limits.idle_timeout / 2)
        while self._busy:
            await asyncio.sleep(every)
            now = time.monotonic()
            for conn in list(self._busy):
                conn.check_progress(now)

    def _watch(self, conn: Connection) -> None:
        self._busy.add(conn)
        if self._sweeper is None or self._sweeper.done():
            self._sweeper = asyncio.ensure_future(self._sweep())

    def release(self, conn: Connection, reusable: bool) -> None:
        self._busy.discard(conn)
        self._host_slots(conn.key).release()
        if reusable and self._idle_count < self.limits.max_keepalive:
            conn.idle_since = time.monotonic()
            self._idle.setdefault(conn.key, []).append(conn)
            self._idle_count += 1
        else:
            conn.close()

    async def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes | AsyncIterator[bytes] = b""
    ) -> Response:
        """Send a request; the caller reads the response body (or calls `release`)."""
        scheme, host, port, target = split_url(url)
        key = (scheme, host, port)
        host_value = host_header(host, port, 443 if scheme == "https" else 80)
        defaults = self.default_headers
        if defaults and self._may_send_headers is not None and not self._may_send_headers(host, port):
            defaults = []
        all_headers = defaults + list(headers.items())
        check_headers(all_headers)
        slots = self._host_slots(key)
        await slots.acquire()
        conn: Connection | None = None
        try:
            conn = self._take_idle(key)
            reused = conn is not None
            if conn is None:
                conn = await self._connect(key)
            self._watch(conn)
            try:
                response = await conn.send(method, host_value, target, all_headers, body)
            except (ReadError, WriteError) as exc:
                # A kept-alive connection the server closed while idle fails before any answer:
                # send again on a fresh one, once, when the body can be sent again.
                if isinstance(exc, NotRetriedError) or not (reused and isinstance(body, bytes)):
                    raise
                conn.close()
                self._busy.discard(conn)
                conn = await self._connect(key)
                self._watch(conn)
                response = await conn.send(method, host_value, target, all_headers, body)
        except BaseException:
            if conn is not None:
                self._busy.discard(conn)
                conn.close()  # mid-request: its state is unknown
            slots.release()
            raise
        response.pool = self
        return response

    async def aclose(self) -> None:
        """Close the idle connections and wait until they are gone (TLS needs a few loop turns)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        conns = [conn for group in self._idle.values() for conn in group]
        self._idle.clear()
        self._idle_count = 0
        for conn in conns:
            conn.close()
        if conns:
            await asyncio.wait([asyncio.ensure_future(conn.lost.wait()) for conn in conns], timeout=1.0)
