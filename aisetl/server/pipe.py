"""Moving bytes between the event loop and the worker thread that runs a sync transform.

A `Pipe` is a small bounded FIFO with one producer and one consumer, one of them on the event loop
and the other in a worker thread. The loop side awaits, the thread side blocks. The loop is woken only
when it is actually waiting, so a burst of chunks costs one wake-up, not one per chunk (the official
server pays a thread hop per chunk in both directions).

`PipeReader` is the binary file-like object `transform_stream` reads a request body or an upstream
GET from, while a pump task on the loop fills its pipe.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

# Chunks in flight per pipe: bounds memory at a few chunks whatever the object size.
PIPE_DEPTH = 8


class PipeClosedError(Exception):
    """The other side went away (the consumer stopped, or the producer was cancelled)."""


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Pipe:
    """Bounded FIFO between the loop and one thread. Items are bytes; `finish` ends it (with an error)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, depth: int = PIPE_DEPTH) -> None:
        self._loop = loop
        self._depth = depth
        self._items: deque[bytes] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._waiter: asyncio.Future[None] | None = None
        self._finished = False
        self._error: BaseException | None = None
        self._abandoned = False

    # Called with the lock held: wake the loop side if it waits on us (call_soon_threadsafe is also
    # right when called from the loop itself, in `abandon`).
    def _wake_loop(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            self._loop.call_soon_threadsafe(_wake, waiter)

    # --- thread side -----------------------------------------------------------------------------

    def put_blocking(self, item: bytes) -> None:
        with self._cond:
            while len(self._items) >= self._depth and not self._abandoned:
                self._cond.wait()
            if self._abandoned:
                raise PipeClosedError("the consumer of this stream went away")
            self._items.append(item)
            self._wake_loop()

    def finish_blocking(self, error: BaseException | None = None) -> None:
        with self._cond:
            self._finished = True
            self._error = error
            self._wake_loop()

    def get_blocking(self) -> bytes | None:
        """The next item, or None at the end; raises the producer's error after the last item."""
        with self._cond:
            while not self._items and not self._finished and not self._abandoned:
                self._cond.wait()
            if self._items:
                item = self._items.popleft()
                self._wake_loop()  # a producer on the loop may wait for room
                return item
            if self._abandoned:
                raise PipeClosedError("the producer of this stream was cancelled")
            if self._error is not None:
                raise self._error
            return None

    # --- loop side -------------------------------------------------------------------------------

    async def get(self) -> bytes | None:
        while True:
            with self._cond:
                if self._items:
                    item = self._items.popleft()
                    self._cond.notify()
                    return item
                if self._finished:
                    if self._error is not None:
                        raise self._error
                    return None
                waiter = self._waiter = self._loop.create_future()
            await waiter

    async def put(self, item: bytes) -> None:
        while True:
            with self._cond:
                if self._abandoned:
                    raise PipeClosedError("the consumer of this stream went away")
                if len(self._items) < self._depth:
                    self._items.append(item)
                    self._cond.notify()
                    return
                waiter = self._waiter = self._loop.create_future()
            await waiter

    def finish(self, error: BaseException | None = None) -> None:
        with self._cond:
            self._finished = True
            self._error = error
            self._cond.notify_all()

    def abandon(self) -> None:
        """Either side: stop the other one (it raises PipeClosedError on its next call)."""
        with self._cond:
            self._abandoned = True
            self._items.clear()
            self._cond.notify_all()
            self._wake_loop()


class PipeReader(io.BufferedIOBase):
    """A read-only binary file over a pipe filled on the loop.

    Buffered: the pipe delivers the body in the chunks it arrived in (64 KiB and more), and `read(n)`,
    `read1`, `readinto`, `readline` and line iteration are served from the current chunk, so a small
    read costs no syscall and no thread hop. `read(n)` returns n bytes unless at EOF.
    """

    def __init__(self, pipe: Pipe) -> None:
        super().__init__()
        self._pipe = pipe
        self._chunk = b""
        self._pos = 0
        self._eof = False

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> bool:
        if self._eof:
            return False
        chunk = self._pipe.get_blocking()
        if chunk is None:
            self._eof = True
            self._chunk, self._pos = b"", 0
            return False
        self._chunk, self._pos = chunk, 0
        return True

    def _check(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def read(self, size: int | None = -1) -> bytes:
        self._check()
        if size is None or size < 0:
            return self.readall()
        chunk, pos = self._chunk, self._pos
        if pos + size <= len(chunk):  # the common case: served from the current chunk
            self._pos = pos + size
            return chunk if pos == 0 and size == len(chunk) else chunk[pos : pos + size]
        parts: list[bytes] = []
        need = size
        while need > 0:
            left = len(self._chunk) - self._pos
            if left == 0:
                if not self._next_chunk():
                    break
                continue
            if self._pos == 0 and left <= need:  # the whole chunk: no copy
                piece = self._chunk
            else:
                piece = self._chunk[self._pos : self._pos + need]
            self._pos += len(piece)
            need -= len(piece)
            parts.append(piece)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read1(self, size: int = -1) -> bytes:
        """At most `size` bytes (any number when negative) with at most one wait for the pipe."""
        self._check()
        if self._pos >= len(self._chunk) and not self._next_chunk():
            return b""
        end = len(self._chunk) if size < 0 else min(len(self._chunk), self._pos + size)
        piece = self._chunk if self._pos == 0 and end == len(self._chunk) else self._chunk[self._pos : end]
        self._pos = end
        return piece

    def readall(self) -> bytes:
        self._check()
        parts = [self._chunk[self._pos :]] if self._pos < len(self._chunk) else []
        self._chunk, self._pos = b"", 0
        while self._next_chunk():
            parts.append(self._chunk)
            self._chunk = b""
        return b"".join(parts)

    def readinto(self, buffer: Any) -> int:
        self._check()
        view = memoryview(buffer).cast("B")
        filled, want = 0, len(view)
        while filled < want:
            left = len(self._chunk) - self._pos
            if left == 0:
                if not self._next_chunk():
                    break
                continue
            n = min(left, want - filled)
            view[filled : filled + n] = memoryview(self._chunk)[self._pos : self._pos + n]
            self._pos += n
            filled += n
        return filled

    def readinto1(self, buffer: Any) -> int:
        self._check()
        view = memoryview(buffer).cast("B")
        piece = self.read1(len(view))
        view[: len(piece)] = piece
        return len(piece)

    def peek(self, size: int = 0) -> bytes:
        """What the next read returns first, without consuming it (at least one byte unless at EOF)."""
        self._check()
        if self._pos >= len(self._chunk):
            self._next_chunk()
        return self._chunk[self._pos :]

    def readline(self, size: int | None = -1) -> bytes:
        self._check()
        limit = -1 if size is None else size
        chunk, pos = self._chunk, self._pos
        end = chunk.find(b"\n", pos)
        if end >= 0 and (limit < 0 or end + 1 - pos <= limit):  # the common case: a line in this chunk
            self._pos = end + 1
            return chunk[pos : end + 1]
        parts: list[bytes] = []
        got = 0
        while limit < 0 or got < limit:
            if self._pos >= len(self._chunk) and not self._next_chunk():
                break
            chunk, pos = self._chunk, self._pos
            stop = len(chunk) if limit < 0 else min(len(chunk), pos + limit - got)
            end = chunk.find(b"\n", pos, stop)
            if end >= 0:
                stop = end + 1
            parts.append(chunk[pos:stop])
            got += stop - pos
            self._pos = stop
            if end >= 0:
                break
        return b"".join(parts)

    def __next__(self) -> bytes:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def close(self) -> None:
        if not self.closed:
            if not self._eof:
                self._pipe.abandon()  # stop the pump: nobody will read the rest
        super().close()


async def pump(chunks: AsyncIterator[bytes], pipe: Pipe, arrived: Callable[[int], None]) -> None:
    """Loop side: copy `chunks` into `pipe` (telling `arrived` each chunk's size), then finish it (with
    the error, if reading failed).

    Cancelled or abandoned, it closes `chunks` (releasing an upstream connection) and makes sure the
    reader in the thread is not left waiting for bytes that will never come.
    """
    try:
        async for chunk in chunks:
            if chunk:
                arrived(len(chunk))
                await pipe.put(chunk)
    except PipeClosedError:
        pass
    except Exception as exc:
        pipe.finish(exc)
    except BaseException:
        pipe.abandon()
        raise
    else:
        pipe.finish()
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
