"""Outbound work of a client that went away is cancelled, not finished for nobody.

Watching the client costs a task; objects that take less than WATCH_AFTER seconds (nearly all) never
start one: a timer that is cancelled costs about a microsecond.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from .asgi import ClientDisconnectedError, Receive

T = TypeVar("T")

WATCH_AFTER = 1.0


async def unless_client_leaves(receive: Receive, work: Awaitable[T], what: str) -> T:
    """Await `work` (the request body already read); when the client disconnects meanwhile, cancel it
    and raise ClientDisconnectedError naming `what` was given up."""
    task = asyncio.current_task()
    assert task is not None
    gone = False
    watcher: asyncio.Future[None] | None = None

    async def watch() -> None:
        nonlocal gone
        while (await receive())["type"] != "http.disconnect":
            pass
        gone = True
        task.cancel()

    def start() -> None:
        nonlocal watcher
        watcher = asyncio.ensure_future(watch())

    timer = asyncio.get_running_loop().call_later(WATCH_AFTER, start)
    try:
        return await work
    except asyncio.CancelledError:
        if not gone:
            raise
        uncancel = getattr(task, "uncancel", None)  # Python >= 3.11: this cancellation is handled here
        if uncancel is not None:
            uncancel()
        raise ClientDisconnectedError(f"the client went away; {what} was cancelled") from None
    finally:
        timer.cancel()
        if watcher is not None:
            watcher.cancel()
