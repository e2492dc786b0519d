"""Carrying what `transform_stream` yields from its worker thread to the loop, coalesced into socket-sized writes.

The cost of streaming was per yield, not per byte: each yielded chunk was one item in a pipe, one loop
wake-up, one ASGI message, one chunked-encoding frame and one socket write. Here the generator's
thread only appends each chunk to a deque and bumps a counter (no lock, no wake-up per yield); the loop
takes everything that has accumulated in one piece when

* at least FLUSH_BYTES are waiting (a fast generator: writes of 64 KiB and more), or
* FLUSH_DELAY has passed since it saw the first waiting byte (a generator that pauses: what it
  yielded reaches the socket within about FLUSH_DELAY, 2 ms, of the loop noticing it), or
* the generator ended.

A yield of FLUSH_BYTES or more is passed on as it is, without a copy. Back-pressure: the thread
blocks once MAX_PENDING bytes wait for the loop, so a slow reader costs at most that much memory per
stream. Thread safety rests on the GIL and on each counter having one writer: the thread writes
`_produced` and appends, the loop writes `_consumed` and pops.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Iterator

from .output import as_bytes
from .pipe import PipeClosedError

FLUSH_BYTES = 64 * 1024
FLUSH_DELAY = 0.002
MAX_PENDING = 512 * 1024
_NEVER = float("inf")


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class YieldPipe:
    """Worker thread -> loop: `feed` (thread) runs a generator into it, `get` (loop) takes coalesced bytes."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._chunks: collections.deque[bytes] = collections.deque()
        self._produced = 0  # written by the thread only
        self._consumed = 0  # written by the loop only
        # The thread wakes the loop once _produced reaches this (the loop sets it before it waits).
        self._wake_at: float = _NEVER
        self._waiter: asyncio.Future[None] | None = None
        self._lock = threading.Lock()  # hands the waiter over: taken once per batch, not per yield
        self._room = threading.Event()
        self._finished = False
        self._error: BaseException | None = None
        self._abandoned = False

    # --- thread side -----------------------------------------------------------------------------

    def _notify_loop(self) -> None:
        with self._lock:
            waiter, self._waiter = self._waiter, None
            if self._wake_at != -1.0:
                self._wake_at = _NEVER
        if waiter is not None:
            self._loop.call_soon_threadsafe(_wake, waiter)

    def _wait_for_room(self) -> None:
        self._notify_loop()
        while self._produced - self._consumed > MAX_PENDING and not self._abandoned:
            self._room.clear()
            if self._produced - self._consumed > MAX_PENDING and not self._abandoned:
                self._room.wait()
        if self._abandoned:
            raise PipeClosedError("the consumer of this stream went away")

    def feed(self, chunks: Iterator[object]) -> None:
        """Thread: pass on everything `chunks` yields. Raises PipeClosedError when the loop side left."""
        append = self._chunks.append
        produced = self._produced
        for chunk in chunks:
            if type(chunk) is not bytes:
                chunk = as_bytes(chunk, "transform_stream()")
            if not chunk:
                continue
            append(chunk)
            produced += len(chunk)
            self._produced = produced
            if produced >= self._wake_at:
                self._notify_loop()
                if self._abandoned:
                    raise PipeClosedError("the consumer of this stream went away")
            if produced - self._consumed > MAX_PENDING:
                self._wait_for_room()

    def finish_blocking(self, error: BaseException | None = None) -> None:
        """Thread: the generator ended (with `error`, if it raised)."""
        self._error = error
        self._finished = True
        self._notify_loop()

    # --- loop side -------------------------------------------------------------------------------

    def _take(self) -> bytes:
        chunks = self._chunks
        first = chunks.popleft()
        if not chunks or len(first) >= FLUSH_BYTES:
            taken = first
        else:
            # Everything there now (the thread blocks past MAX_PENDING); a comprehension, since with
            # 100-byte yields this loop ran 5,000 times per take and was 18% of the profile.
            popleft = chunks.popleft
            parts = [popleft() for _ in range(len(chunks))]
            parts.insert(0, first)
            taken = b"".join(parts)
        self._consumed += len(taken)
        self._room.set()
        return taken

    async def get(self) -> bytes | None:
        """The next piece of output, or None at the end; raises the generator's error after the last piece."""
        timed_out = False
        while True:
            if self._abandoned:
                raise PipeClosedError("this stream was abandoned")
            # _finished is read before the deque: whatever was appended before it was set is seen.
            finished = self._finished
            waiting = self._produced - self._consumed
            if self._chunks and (finished or timed_out or waiting >= FLUSH_BYTES):
                return self._take()
            if finished and not self._chunks:
                if self._error is not None:
                    raise self._error
                return None
            fut = self._loop.create_future()
            with self._lock:
                self._waiter = fut
                # Published before the re-check: either the thread sees the threshold, or we see its bytes.
                self._wake_at = self._consumed + (FLUSH_BYTES if self._chunks else 1)
                ready = self._finished or self._produced >= self._wake_at
                if ready:
                    self._waiter, self._wake_at = None, _NEVER
            if ready:
                continue
            timer = self._loop.call_later(FLUSH_DELAY, _wake, fut) if self._chunks else None
            try:
                await fut
            finally:
                with self._lock:
                    self._waiter = None
                    if not self._abandoned:
                        self._wake_at = _NEVER
                if timer is not None:
                    timer.cancel()
            timed_out = timer is not None

    def abandon(self) -> None:
        """Loop: nobody will read the rest; the thread stops at its next yield."""
        with self._lock:
            self._abandoned = True
            self._wake_at = -1.0  # the thread's next yield notices
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            _wake(waiter)
        self._chunks.clear()
        self._room.set()
