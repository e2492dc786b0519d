"""Moving bytes between the event loop and the worker thread that runs a sync transform.

A `Pipe` is a small bounded FIFO with one producer and one consumer, one of them on the event loop
and the other in a worker thread. The loop side awaits, the thread side blocks. The loop is woken only
when it is actually waiting, so a burst of chunks costs one wake-up, not one per chunk (the official
server pays a thread hop per chunk in both directions).

`pipe_reader` gives the binary file `transform_stream` reads a request body or an upstream GET from
(buffered, over a `PipeReader`), while a pump task on the loop fills its pipe.
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


class PipeReader(io.RawIOBase):
    """The raw side of a transform's reader: `readinto` copies from the chunk at hand, waiting for the
    next chunk only when it is used up. `pipe_reader` puts io.BufferedReader in front of it, so that
    read(n), readline(), line iteration and readinto run in C, without a wait or a syscall per call
    (6x faster for lines and 100-byte reads than the same logic in Python, measured)."""

    def __init__(self, pipe: Pipe) -> None:
        super().__init__()
        self._pipe = pipe
        self._chunk = b""
        self._pos = 0
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._pos >= len(self._chunk):
            if self._eof:
                return 0
            chunk = self._pipe.get_blocking()
            if chunk is None:
                self._eof = True
                self._chunk, self._pos = b"", 0
                return 0
            self._chunk, self._pos = chunk, 0
        view = memoryview(buffer).cast("B")
        n = min(len(view), len(self._chunk) - self._pos)
        view[:n] = memoryview(self._chunk)[self._pos : self._pos + n]
        self._pos += n
        return n

    def readall(self) -> bytes:
        parts = [self._chunk[self._pos :]] if self._pos < len(self._chunk) else []
        self._chunk, self._pos = b"", 0
        while not self._eof:
            chunk = self._pipe.get_blocking()
            if chunk is None:
                self._eof = True
            else:
                parts.append(chunk)
        return b"".join(parts)

    def close(self) -> None:
        if not self.closed:
            if not self._eof:
                self._pipe.abandon()  # stop the pump: nobody will read the rest
        super().close()


# The reader's buffer: what small reads are served from between chunks of the pipe.
READER_BUFFER = 64 * 1024


def pipe_reader(pipe: Pipe) -> io.BufferedReader:
    """The binary file a transform reads a pumped body from."""
    return io.BufferedReader(PipeReader(pipe), READER_BUFFER)


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
