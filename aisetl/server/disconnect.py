"""Outbound work of a client that went away is cancelled, not finished for nobody.

Watching a client costs a task. Per request there is only a dict entry: one sweeper per server, running
about once a second while any direct put is out, starts a watcher for those out longer than WATCH_AFTER
(nearly all objects are done long before), so the fast path pays neither a task nor a timer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

from .asgi import ClientDisconnectedError, Receive

T = TypeVar("T")

WATCH_AFTER = 1.0


class _Watched:
    __slots__ = ("task", "receive", "since", "watcher", "gone")

    def __init__(self, task: asyncio.Task[object], receive: Receive) -> None:
        self.task = task
        self.receive = receive
        self.since = time.monotonic()
        self.watcher: asyncio.Future[None] | None = None
        self.gone = False

    async def watch(self) -> None:
        while (await self.receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        self.task.cancel()


class DisconnectWatch:
    """One per server (event loop): cancels the outbound work of clients that went away."""

    def __init__(self) -> None:
        self._out: dict[int, _Watched] = {}
        self._sweeper: asyncio.Future[None] | None = None

    async def _sweep(self) -> None:
        while self._out:
            await asyncio.sleep(WATCH_AFTER / 2)
            now = time.monotonic()
            for entry in list(self._out.values()):
                if entry.watcher is None and now - entry.since >= WATCH_AFTER:
                    entry.watcher = asyncio.ensure_future(entry.watch())

    async def unless_client_leaves(self, receive: Receive, work: Awaitable[T], what: str) -> T:
        """Await `work` (the request body already read); when the client disconnects meanwhile, cancel it
        and raise ClientDisconnectedError naming `what` was given up."""
        task = asyncio.current_task()
        assert task is not None
        entry = _Watched(task, receive)
        self._out[id(entry)] = entry
        sweeper = self._sweeper
        if sweeper is None or sweeper.done() or sweeper.get_loop() is not task.get_loop():  # (a restarted server)
            self._sweeper = asyncio.ensure_future(self._sweep())
        try:
            return await work
        except asyncio.CancelledError:
            if not entry.gone:
                raise
            uncancel = getattr(task, "uncancel", None)  # Python >= 3.11: this cancellation is handled here
            if uncancel is not None:
                uncancel()
            raise ClientDisconnectedError(f"the client went away; {what} was cancelled") from None
        finally:
            del self._out[id(entry)]
            if entry.watcher is not None:
                entry.watcher.cancel()
