"""Worker threads for sync transforms, with a cheaper hop than `loop.run_in_executor`.

Measured on 1 KiB hpush (benchmarks/RESULTS.md): `run_in_executor` builds a concurrent.futures.Future
(a Condition and an RLock), chains it to an asyncio future and goes through the executor's work
queue; that was about a third of the server's time per object. Here a job is a tuple in a C
`SimpleQueue`, the result goes straight to the asyncio future through `call_soon_threadsafe` (which
uvloop coalesces into one wake-up per loop iteration), and threads start only when none is idle.

A blocking transform occupies one thread and nothing else: the loop and the other workers go on.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_STOP = None


def _resolve(fut: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if fut.cancelled():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)


class WorkerPool:
    """Up to `max_workers` daemon threads, started on demand, running calls for one event loop."""

    def __init__(self, max_workers: int, name: str) -> None:
        self._max = max_workers
        self._name = name
        self._jobs: queue.SimpleQueue[tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any] | None] | None] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0  # threads waiting for a job
        self._pending = 0  # jobs queued and not yet taken
        self._closed = False

    def _work(self) -> None:
        jobs = self._jobs
        while True:
            with self._lock:
                self._idle += 1
            job = jobs.get()
            with self._lock:
                self._idle -= 1
                self._pending -= 1
            if job is _STOP:
                return
            fn, args, fut = job
            try:
                result = fn(*args)
            except BaseException as exc:
                if fut is not None:
                    fut.get_loop().call_soon_threadsafe(_resolve, fut, None, exc)
            else:
                if fut is not None:
                    fut.get_loop().call_soon_threadsafe(_resolve, fut, result, None)
                del result
            # An idle thread must not keep its last object alive (16 MiB objects: measured).
            del job, fn, args, fut

    def _submit(self, job: tuple[Callable[..., Any], tuple[Any, ...], asyncio.Future[Any] | None]) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"worker pool {self._name!r} is shut down")
            self._pending += 1
            # A new thread only when every idle one already has a job waiting for it: a blocking
            # transform must never make the next object wait behind it.
            spawn = self._pending > self._idle and len(self._threads) < self._max
            if spawn:
                # Context variables follow the work into the thread, as with asyncio.to_thread.
                context = contextvars.copy_context()
                t = threading.Thread(
                    target=context.run, args=(self._work,), name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(t)
        if spawn:
            t.start()
        self._jobs.put(job)

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Call `fn(*args)` in a worker thread; await the returned future for its result."""
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._submit((fn, args, fut))
        return fut

    def start_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Call `fn(*args)` in a worker thread without waiting for it (it reports by its own means)."""
        self._submit((fn, args, None))

    def shutdown(self) -> None:
        """Let every thread finish its current call and exit; queued calls still run first."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
            self._pending += len(threads)
        for _ in threads:
            self._jobs.put(_STOP)
