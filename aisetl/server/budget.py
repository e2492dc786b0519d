"""The memory budget of a server: bytes of object data held in memory, counted as they *arrive*.

One budget per server (one event loop), shared by every input mode: a buffered PUT body (with a length or
chunked), an `etl_fqn` file read whole, an hpull GET collected whole, a WebSocket content frame. Each
object holds a `Lease` and takes bytes from it as they come in; it gives them all back when its reply has
gone out. Counting what arrives, not what is declared, is what keeps a client that declares
`Content-Length: 1 TiB` and sends nothing from taking memory (or budget) from anyone else.

When the budget is full, takers wait, first come first served. If every lease that holds bytes is itself
waiting for more (twenty half-read 64 MiB bodies in a 64 MiB budget), nobody could finish: the oldest
waiter is then let past the limit, alone, until its object is done. So any object still goes through,
one at a time, and memory stays under `limit` + one object. One object may not grow past `max_object`
(an endless body, an endless hpull object): that is an error naming the setting.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
from collections.abc import AsyncIterator

from .._exceptions import ProtocolError
from ..wire.names import ENV_LARGE_OBJECT_BUDGET, ENV_MAX_OBJECT_SIZE
from .asgi import ClientDisconnectedError, Receive


class Lease:
    """One object's share of the budget."""

    __slots__ = ("budget", "held", "order", "waiting", "_done")

    def __init__(self, budget: MemoryBudget, order: int) -> None:
        self.budget = budget
        self.held = 0
        self.order = order
        self.waiting: asyncio.Future[None] | None = None
        self._done = False

    async def take(self, size: int) -> None:
        """Count `size` more bytes of this object; waits while the budget is full."""
        if size > 0:
            await self.budget._take(self, size)

    def release(self) -> None:
        """Give back everything this object held (idempotent)."""
        if not self._done:
            self._done = True
            self.budget._release(self)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class MemoryBudget:
    def __init__(self, limit: int, max_object: int) -> None:
        self.limit = limit
        self.max_object = max_object
        self.used = 0
        self._order = itertools.count()
        self._holders: set[Lease] = set()
        self._waiters: collections.deque[tuple[Lease, int]] = collections.deque()
        self._over_limit: Lease | None = None  # the one lease let past the limit to break a standstill

    def lease(self) -> Lease:
        return Lease(self, next(self._order))

    async def _take(self, lease: Lease, size: int) -> None:
        if lease.held + size > self.max_object:
            raise ProtocolError(
                f"Object larger than {self.max_object} bytes cannot be held in memory ({ENV_MAX_OBJECT_SIZE}; "
                f"a transform_stream server reads objects of any size in constant memory)",
                status_code=413,
            )
        if lease is self._over_limit or (not self._waiters and self.used + size <= self.limit):
            self._grant(lease, size)
            return
        fut = asyncio.get_running_loop().create_future()
        lease.waiting = fut
        self._waiters.append((lease, size))
        self._unstick()
        try:
            await fut
        except BaseException:
            if lease.waiting is fut:  # not granted: leave the queue
                lease.waiting = None
                self._waiters.remove((lease, size))
                self._wake()
            raise

    def _grant(self, lease: Lease, size: int) -> None:
        lease.held += size
        self.used += size
        self._holders.add(lease)

    def _release(self, lease: Lease) -> None:
        self.used -= lease.held
        lease.held = 0
        self._holders.discard(lease)
        if lease.waiting is not None:
            self._waiters = collections.deque(w for w in self._waiters if w[0] is not lease)
            lease.waiting = None
        if self._over_limit is lease:
            self._over_limit = None
        self._wake()

    def _wake(self) -> None:
        """Grant waiters in order while they fit; then make sure the queue cannot stand still."""
        while self._waiters:
            lease, size = self._waiters[0]
            if self.used + size > self.limit and lease is not self._over_limit:
                break
            self._waiters.popleft()
            self._resolve(lease, size)
        self._unstick()

    def _resolve(self, lease: Lease, size: int) -> None:
        fut, lease.waiting = lease.waiting, None
        self._grant(lease, size)
        if fut is not None and not fut.done():
            fut.set_result(None)

    def _unstick(self) -> None:
        # Standstill: nothing will be released, because every holder waits for more (or nobody holds
        # anything and the first waiter alone is larger than the budget).
        if self._over_limit is not None or not self._waiters:
            return
        if any(holder.waiting is None for holder in self._holders):
            return
        lease, size = min(self._waiters, key=lambda w: w[0].order)
        self._waiters.remove((lease, size))
        self._over_limit = lease
        self._resolve(lease, size)

    def __repr__(self) -> str:
        return f"MemoryBudget(used={self.used}, limit={self.limit} ({ENV_LARGE_OBJECT_BUDGET}))"


async def read_body_counted(receive: Receive, lease: Lease) -> bytes:
    """The whole request body, each message counted in `lease` as it arrives (and waited for, when the
    budget is full, before the next is asked for: the client is then held back by TCP)."""
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnectedError("client disconnected before the request body was read")
        body: bytes = message.get("body", b"")
        if body:
            await lease.take(len(body))
            parts.append(body)
        if not message.get("more_body"):
            return parts[0] if len(parts) == 1 else b"".join(parts)


async def collect_counted(chunks: AsyncIterator[bytes], lease: Lease) -> bytes:
    """Every chunk of a streamed source, counted in `lease` as it arrives."""
    parts: list[bytes] = []
    async for chunk in chunks:
        await lease.take(len(chunk))
        parts.append(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)
