"""The response side of the outbound HTTP/1.1 client (`http11`): status and headers at once, the body
read whole or streamed with back-pressure, and the request body that may still be going out meanwhile
(a streamed request body is sent by its own task, so that a peer answering as it reads is read from).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from typing import Any, Protocol


class _Connection(Protocol):
    transport: asyncio.Transport | None
    closed: bool

    def close(self) -> None: ...


class _Pool(Protocol):
    def release(self, conn: Any, reusable: bool) -> None: ...


class Response:
    """Status and headers at once; the body read whole (`read`) or in chunks (`iter_chunks`)."""

    def __init__(self, conn: _Connection, high_water: int) -> None:
        self._conn = conn
        self._high_water = high_water
        self.status = 0
        self.raw_headers: list[tuple[str, str]] = []
        self.headers_done = asyncio.Event()
        self.reusable = False
        self.error: Exception | None = None
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._done = False
        self._wakeup = asyncio.Event()
        self._released = False
        self.pool: _Pool | None = None
        # A streamed request body goes out in its own task, beside the reading of this response.
        self.sender: asyncio.Future[None] | None = None
        self.body_sent = False
        self.send_error: BaseException | None = None

    @property
    def headers(self) -> dict[str, str]:
        return dict(self.raw_headers)

    @property
    def close_delimited(self) -> bool:
        names = {name for name, _ in self.raw_headers}
        return "content-length" not in names and "transfer-encoding" not in names and self.status not in (204, 304)

    def header(self, name: str) -> str | None:
        for key, value in self.raw_headers:
            if key == name:
                return value
        return None

    def feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > self._high_water and self._conn.transport is not None:
            self._conn.transport.pause_reading()
        self._wakeup.set()

    def fail_send(self, error: BaseException) -> None:
        """The request body could not be produced or sent: cut the connection, so that the peer sees
        an incomplete request and this response ends with `error`."""
        self.send_error = error
        self._conn.close()

    def finish(self, error: Exception | None) -> None:
        self._done = True
        self.error = error
        self.headers_done.set()
        self._wakeup.set()

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        try:
            while True:
                while self._chunks:
                    chunk = self._chunks.popleft()
                    self._buffered -= len(chunk)
                    if self._buffered <= self._high_water // 2 and self._conn.transport is not None and not self._done:
                        self._conn.transport.resume_reading()
                    yield chunk
                if self._done:
                    if self.send_error is not None:
                        raise self.send_error
                    if self.error is not None:
                        raise self.error
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
        finally:
            self.release()

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.iter_chunks()])

    def release(self) -> None:
        """Give the connection back (or close it if the response was not read to its end)."""
        if self._released:
            return
        self._released = True
        if self.sender is not None and not self.sender.done():
            self.sender.cancel()  # answered before the whole body was taken: the rest is not wanted
        reusable = self._done and self.error is None and self.reusable and not self._conn.closed and self.body_sent
        if self.pool is not None:
            self.pool.release(self._conn, reusable)
        elif not reusable:
            self._conn.close()
