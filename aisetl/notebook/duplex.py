"""A full-duplex PUT for the notebook client: the body goes out in a thread while the reply is read.

httpx (like most HTTP clients) sends the whole request body before it reads a byte of the answer. A
streaming ETL answers as it reads, so once the object outgrows the socket buffers on both sides (tens
of MiB) each side waits for the other. Here a sender thread writes the body (chunked, or with a
Content-Length when its size is known), paced by the socket, while the caller's thread reads the reply.
The reply comes back as an `httpx.Response` whose body is a stream: read whole, or iterated.
"""

from __future__ import annotations

import http.client
import io
import os
import socket
import stat
import threading
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

# Pieces a file-like body is read in.
BODY_PIECE = 256 * 1024


def body_pieces(data: Any) -> Iterator[bytes]:
    """The pieces of a request body given as bytes, str, a binary file object or an iterable of bytes."""
    if isinstance(data, str):
        yield data.encode()
    elif isinstance(data, (bytes, bytearray, memoryview)):
        yield bytes(data)
    elif hasattr(data, "read"):
        while piece := data.read(BODY_PIECE):
            yield piece if isinstance(piece, bytes) else bytes(piece)
    else:
        for piece in data:
            if isinstance(piece, str):
                raise TypeError("iterate bytes for a request body, not str")
            yield bytes(piece)


class _Sender(threading.Thread):
    def __init__(self, sock: socket.socket, pieces: Iterable[bytes], chunked: bool) -> None:
        super().__init__(name="aisetl-put-body", daemon=True)
        self.sock = sock
        self.pieces = pieces
        self.chunked = chunked
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for piece in self.pieces:
                if piece:
                    self.sock.sendall(b"%x\r\n%b\r\n" % (len(piece), piece) if self.chunked else piece)
            if self.chunked:
                self.sock.sendall(b"0\r\n\r\n")
        except OSError as exc:
            self.error = exc  # the server answered and closed, or went away: the reply tells
        except BaseException as exc:
            # The body could not be produced: cut the request, so the server sees it incomplete.
            self.error = exc
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _ReplyBody(httpx.SyncByteStream):
    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse, sender: _Sender) -> None:
        self._conn = conn
        self._resp = resp
        self._sender = sender

    def __iter__(self) -> Iterator[bytes]:
        try:
            while piece := self._resp.read1(BODY_PIECE):
                yield piece
        except (OSError, http.client.HTTPException) as exc:
            self._raise_body_error(exc)

    def _raise_body_error(self, exc: BaseException) -> None:
        self.close()
        if self._sender.error is not None and not isinstance(self._sender.error, OSError):
            raise self._sender.error from exc
        raise httpx.ReadError(f"reply broke off: {exc}") from exc

    def close(self) -> None:
        self._conn.close()
        self._sender.join(5.0)


def duplex_put(url: str, data: Any, headers: dict[str, str], size: int | None = None) -> httpx.Response:
    """PUT `data` to `url` (query included) sending and receiving at once; the body is left to read.

    `size`, when known, is sent as Content-Length (as an AIS target sends objects); otherwise chunked.
    """
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"duplex_put speaks http:// only, got {url!r}")
    conn = http.client.HTTPConnection(parts.hostname, parts.port or 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn.putrequest("PUT", target, skip_accept_encoding=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    if size is None:
        conn.putheader("Transfer-Encoding", "chunked")
    else:
        conn.putheader("Content-Length", str(size))
    conn.endheaders()
    assert conn.sock is not None
    sock: socket.socket = conn.sock
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sender = _Sender(sock, body_pieces(data), chunked=size is None)
    sender.start()
    try:
        resp = conn.getresponse()
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        sender.join(5.0)
        if sender.error is not None and not isinstance(sender.error, OSError):
            raise sender.error from exc
        raise httpx.ReadError(f"no reply from {url}: {exc}") from exc
    return httpx.Response(
        resp.status,
        headers=resp.getheaders(),
        stream=_ReplyBody(conn, resp, sender),
        request=httpx.Request("PUT", url),
    )


def known_size(data: Any) -> int | None:
    """The byte size of `data` when it is known without reading it (bytes, or a regular file)."""
    if isinstance(data, (bytes, bytearray)):
        return len(data)
    if isinstance(data, str):
        return len(data.encode())
    fileno = getattr(data, "fileno", None)
    if fileno is not None and not isinstance(data, io.TextIOBase):
        try:
            st = os.fstat(fileno())
            if stat.S_ISREG(st.st_mode):
                return int(st.st_size - data.tell())
        except (OSError, ValueError, io.UnsupportedOperation):
            return None
    return None
