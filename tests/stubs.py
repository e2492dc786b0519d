"""Small real HTTP servers standing in for AIS targets and next stages.

`RecordingServer` speaks HTTP/1.1 over a plain socket (so that it can see exactly what arrived: the raw
request target, header names as sent, chunked or not) and answers from a script: reply, or drop the
connection. Nothing here knows aisetl.
"""

from __future__ import annotations

import contextlib
import io
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Recorded:
    method: str
    target: str  # the raw request target, as sent
    headers: list[tuple[str, str]]
    body: bytes
    chunked: bool

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False  # send the body chunked instead of with Content-Length


@dataclass(frozen=True)
class Drop:
    """Close the connection without answering (a transient failure for the sender)."""

    before_body: bool = False  # close before reading the request body


Action = Reply | Drop
Script = Callable[[Recorded], Action]

_REASONS = {200: "OK", 204: "No Content", 404: "Not Found", 500: "Internal Server Error"}


def _read_line(rfile: io.BufferedIOBase) -> bytes:
    line = rfile.readline(65537)
    if not line:
        raise ConnectionError("peer closed")
    return line


class _Handler(socketserver.StreamRequestHandler):
    server: _TCPServer

    def handle(self) -> None:
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError):
                return
        self.server.owner._connection_opened()
        try:
            while True:
                try:
                    if not self._one():
                        return
                except (ConnectionError, OSError, ValueError):
                    return
        finally:
            self.server.owner._connection_closed()

    def _one(self) -> bool:
        line = _read_line(self.rfile).decode("latin-1").rstrip("\r\n")
        if not line:
            return False
        method, target, _version = line.split(" ", 2)
        headers: list[tuple[str, str]] = []
        while True:
            h = _read_line(self.rfile).decode("latin-1").rstrip("\r\n")
            if not h:
                break
            name, _, value = h.partition(":")
            headers.append((name, value.strip()))
        lower = {k.lower(): v for k, v in headers}
        pending = Recorded(method, target, headers, b"", "chunked" in lower.get("transfer-encoding", ""))
        action = self.server.next_action(pending)
        if isinstance(action, Drop) and action.before_body:
            self.server.record(pending)
            self._drop()
            return False
        body = self._read_body(lower)
        rec = Recorded(method, target, headers, body, pending.chunked)
        self.server.record(rec)
        if isinstance(action, Drop):
            self._drop()
            return False
        self._reply(action)
        return True

    def _read_body(self, lower: dict[str, str]) -> bytes:
        if "chunked" in lower.get("transfer-encoding", ""):
            parts: list[bytes] = []
            while True:
                size = int(_read_line(self.rfile).split(b";")[0].strip(), 16)
                if size == 0:
                    while _read_line(self.rfile) not in (b"\r\n", b"\n"):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                _read_line(self.rfile)
        length = int(lower.get("content-length", "0") or 0)
        return self.rfile.read(length) if length else b""

    def _drop(self) -> None:
        # RST rather than FIN: the sender sees a reset, as when a pod dies.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.connection.close()

    def _reply(self, reply: Reply) -> None:
        head = [f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Status')}"]
        head += [f"{k}: {v}" for k, v in reply.headers.items()]
        if reply.status == 204:
            payload = b""
        elif reply.chunked:
            head.append("Transfer-Encoding: chunked")
            payload = (f"{len(reply.body):x}\r\n".encode() + reply.body + b"\r\n" if reply.body else b"") + b"0\r\n\r\n"
        else:
            head.append(f"Content-Length: {len(reply.body)}")
            payload = reply.body
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload)
        self.wfile.flush()


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, owner: RecordingServer, ssl_context: ssl.SSLContext | None) -> None:
        self.owner = owner
        self.ssl_context = ssl_context
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # failed TLS handshakes are part of the tests; the client side reports them

    def next_action(self, rec: Recorded) -> Action:
        return self.owner._next_action(rec)

    def record(self, rec: Recorded) -> None:
        with self.owner._lock:
            self.owner.requests.append(rec)


class RecordingServer:
    """A real HTTP server on 127.0.0.1 that records each request and answers from `script`.

    `script` is a list of actions used in turn (the last one repeats), or a function of the request.
    """

    def __init__(self, script: list[Action] | Script | None = None, ssl_context: ssl.SSLContext | None = None) -> None:
        self.requests: list[Recorded] = []
        self.connections = 0  # accepted so far
        self.peak_connections = 0  # open at the same time, at most
        self._open = 0
        self._lock = threading.Lock()
        self._script = script if script is not None else [Reply(200)]
        self._calls = 0
        self._tcp = _TCPServer(self, ssl_context)
        self.port = self._tcp.server_address[1]
        self.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._tcp.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def _connection_opened(self) -> None:
        with self._lock:
            self.connections += 1
            self._open += 1
            self.peak_connections = max(self.peak_connections, self._open)

    def _connection_closed(self) -> None:
        with self._lock:
            self._open -= 1

    def _next_action(self, rec: Recorded) -> Action:
        with self._lock:
            index = self._calls
            self._calls += 1
        if callable(self._script):
            return self._script(rec)
        return self._script[min(index, len(self._script) - 1)]

    def start(self) -> RecordingServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._tcp.shutdown()
        self._tcp.server_close()

    def __enter__(self) -> RecordingServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_port() -> int:
    """A port nothing listens on now (for servers that must be told their port in advance)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def refused_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def raw_request(
    url: str, method: str, target: str, headers: list[tuple[str, str]], body: bytes = b""
) -> tuple[int, bytes]:
    """Send one request byte for byte as given (no client-side header checks) and read the reply."""
    parts = urlsplit(url)
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: {parts.netloc}",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    lines += [f"{k}:{v}" for k, v in headers]
    with socket.create_connection((parts.hostname, parts.port or 80), timeout=30) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), payload


class RawPeer:
    """A hostile peer: a TCP server on loopback where `handle(sock)` does whatever the test wants with
    each connection (answer early, never answer, send endless headers...). Records each request head."""

    def __init__(self, handle: Callable[[socket.socket, RawPeer], None], host: str = "127.0.0.1") -> None:
        self.handle = handle
        self.heads: list[bytes] = []
        self.connections = 0
        self._lock = threading.Lock()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self._sock.listen(512)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://[{host}]:{self.port}" if family == socket.AF_INET6 else f"http://{host}:{self.port}"
        self._closed = threading.Event()
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                if self._closed.is_set():
                    conn.close()
                    return
                self.connections += 1
                self._conns.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.handle(conn, self)
        except OSError:
            pass
        finally:
            conn.close()

    def read_head(self, conn: socket.socket) -> tuple[bytes, bytes]:
        """Read up to the end of a request head: (head, bytes already read past it). Recorded."""
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                raise ConnectionError("peer closed before the end of the head")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        with self._lock:
            self.heads.append(head)
        return head, rest

    def stop(self) -> None:
        self._closed.set()
        self._sock.close()
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.close()

    def __enter__(self) -> RawPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def head_value(head: bytes, name: str) -> str | None:
    """A header's value in a raw request head (first match, case-insensitive)."""
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.lower().encode():
            return value.strip().decode("latin-1")
    return None
