"""The outbound HTTP/1.1 client against real servers on 127.0.0.1, including awkward ones."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager

import pytest

from aisetl.server import http11 as _http11
from tests.stubs import Drop, RecordingServer, Reply, refused_url


def run(coro_fn: Callable[[_http11.Pool], object], limits: _http11.Limits | None = None) -> object:
    async def main() -> object:
        pool = _http11.Pool(limits or _http11.Limits(), None, {"Authorization": "Bearer T"})
        try:
            return await coro_fn(pool)  # type: ignore[misc]
        finally:
            await pool.aclose()

    return asyncio.run(main())


@contextmanager
def raw_server(answer: Callable[[socket.socket], None]) -> Iterator[str]:
    """A one-connection-at-a-time TCP server whose handler writes whatever bytes it likes."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                answer(conn)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    finally:
        stop.set()
        srv.close()


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    return data


def test_request_head_body_and_default_headers_reach_the_server():
    with RecordingServer([Reply(201, b"made")]) as s:

        async def go(pool: _http11.Pool) -> tuple[int, bytes]:
            resp = await pool.request("PUT", s.url + "/a%2Fb?x=1&y=%20", {"Ais-Node-Url": "http://n"}, b"body")
            return resp.status, await resp.read()

        assert run(go) == (201, b"made")
        (req,) = s.requests
        assert (req.method, req.target, req.body, req.chunked) == ("PUT", "/a%2Fb?x=1&y=%20", b"body", False)
        assert req.header("authorization") == "Bearer T"
        assert req.header("ais-node-url") == "http://n"
        assert req.header("content-length") == "4"
        assert req.header("host") == f"127.0.0.1:{s.port}"


def test_chunked_request_body_from_an_async_iterator():
    parts = [os.urandom(n) for n in (1, 70_000, 5, 300_000)]

    async def body() -> AsyncIterator[bytes]:
        for p in parts:
            yield p

    with RecordingServer([Reply(200, b"")]) as s:

        async def go(pool: _http11.Pool) -> int:
            resp = await pool.request("PUT", s.url + "/o", {}, body())
            await resp.read()
            return resp.status

        assert run(go) == 200
        assert s.requests[0].chunked and s.requests[0].body == b"".join(parts)


def test_connections_are_kept_alive_and_reused():
    with RecordingServer([Reply(200, b"x")]) as s:

        async def go(pool: _http11.Pool) -> None:
            for _ in range(5):
                await (await pool.request("GET", s.url + "/o", {})).read()

        run(go)
        assert (len(s.requests), s.connections) == (5, 1)


def test_a_keepalive_connection_closed_by_the_server_is_replaced_transparently():
    # Each connection answers one request, then the server closes it (as a server's idle timeout does).
    def one_per_connection(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    with raw_server(one_per_connection) as url:

        async def go(pool: _http11.Pool) -> list[bytes]:
            out = []
            for _ in range(3):
                out.append(await (await pool.request("PUT", url + "/o", {}, b"x")).read())
                await asyncio.sleep(0.05)  # the server closes while the connection is idle
            return out

        assert run(go) == [b"ok", b"ok", b"ok"]


def test_a_close_delimited_response_body_ends_with_the_connection():
    def http10(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"z" * 100_000)

    with raw_server(http10) as url:

        async def go(pool: _http11.Pool) -> bytes:
            return await (await pool.request("GET", url + "/o", {})).read()

        assert run(go) == b"z" * 100_000


def test_a_large_streamed_response_arrives_whole_with_backpressure():
    data = os.urandom(12 << 20)
    with RecordingServer([Reply(200, data, chunked=True)]) as s:

        async def go(pool: _http11.Pool) -> bytes:
            resp = await pool.request("GET", s.url + "/o", {})
            parts = []
            async for chunk in resp.iter_chunks():
                parts.append(chunk)
                await asyncio.sleep(0)  # a slow consumer
            return b"".join(parts)

        assert run(go) == data


def test_refused_dropped_and_invalid():
    async def refused(pool: _http11.Pool) -> None:
        await pool.request("GET", refused_url() + "/o", {})

    with pytest.raises(_http11.ConnectError):
        run(refused)

    with RecordingServer([Drop()]) as s:

        async def dropped(pool: _http11.Pool) -> None:
            await pool.request("PUT", s.url + "/o", {}, b"x")

        with pytest.raises(_http11.ReadError):
            run(dropped)

    for bad in ("ftp://h/x", "http://h:port/x", "/relative", "http:///x"):

        async def invalid(pool: _http11.Pool, bad: str = bad) -> None:
            await pool.request("GET", bad, {})

        with pytest.raises(_http11.InvalidURLError):
            run(invalid)


def test_an_early_answer_stops_the_upload():
    def refuse_upload(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 507 Insufficient Storage\r\nContent-Length: 4\r\nConnection: close\r\n\r\nfull")
        conn.shutdown(socket.SHUT_WR)
        # A lingering close, as real servers do: read what the client still sends until it stops,
        # so that no reset wipes the answer out before the client reads it.
        conn.settimeout(5)
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass

    async def endless() -> AsyncIterator[bytes]:
        for _ in range(10_000):
            yield b"x" * 65536
            await asyncio.sleep(0)

    with raw_server(refuse_upload) as url:

        async def go(pool: _http11.Pool) -> tuple[int, bytes]:
            resp = await pool.request("PUT", url + "/o", {}, endless())
            return resp.status, await resp.read()

        assert run(go) == (507, b"full")


def test_the_connection_limit_holds_requests_back():
    with RecordingServer([Reply(200, b"x")]) as s:

        async def go(pool: _http11.Pool) -> None:
            async def one() -> None:
                await (await pool.request("PUT", s.url + "/o", {}, b"y" * 50_000)).read()

            await asyncio.gather(*(one() for _ in range(10)))

        run(go, _http11.Limits(max_connections=2))
        assert len(s.requests) == 10
        assert s.peak_connections <= 2
