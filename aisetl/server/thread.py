"""`ServerThread`: a real uvicorn server in a daemon thread of this process.

Used by the notebook layer and by the tests. The pitfalls it avoids are measured in
docs/notebook-kernel-notes.md: a failed start (port taken, lifespan error) only kills the thread
with SystemExit, so start() watches the thread instead of waiting for `started` forever; the loop is
run with `run_until_complete(server.serve())` rather than `server.run()` so that nest_asyncio's
patched `asyncio.run` cannot break it; an endless stream cannot block shutdown
(`timeout_graceful_shutdown`); leftover tasks are cancelled before the loop closes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import logging
import socket
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvicorn

T = TypeVar("T")

# Seconds a graceful stop may take before open streams are cut; the join waits a little longer so that
# the lifespan shutdown still runs (notes, section 4).
GRACEFUL_SHUTDOWN = 1.0
START_TIMEOUT = 10.0


def http_url(host: str, port: int) -> str:
    """The base URL of a server listening on host:port (IPv6 literals in brackets)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class ServerStartError(RuntimeError):
    """uvicorn did not start: the message says why (address in use, lifespan failure...)."""


class ServerThread:
    """uvicorn serving `app` on host:port (0 = a free port) in a daemon thread; `start()` returns when
    it accepts connections, `stop()` when the thread is gone."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, name: str = "aisetl", **options: Any) -> None:
        options.setdefault("timeout_graceful_shutdown", GRACEFUL_SHUTDOWN)
        # log_config=None: uvicorn's dictConfig is process-global and would reset every other server's
        # logging each time one starts (notes, section 2).
        options.setdefault("log_config", None)
        self.config = uvicorn.Config(app, host=host, port=port, **options)
        self.server = uvicorn.Server(self.config)
        self.name = name
        self.host = host
        self.port = port
        self.error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        return http_url(self.host, self.port)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self.server.started

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise ServerStartError(f"cannot bind {self.host}:{self.port}: {exc.strerror or exc}") from exc
        sock.listen(self.config.backlog)
        sock.set_inheritable(True)
        return sock

    def _run(self, sock: socket.socket) -> None:
        factory = self.config.get_loop_factory()
        loop = factory() if factory is not None else asyncio.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.server.serve(sockets=[sock]))
        except BaseException as exc:  # SystemExit(3) when the lifespan startup fails
            self.error = exc
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def start(self) -> ServerThread:
        # Binding here, not in uvicorn, turns "address in use" into an exception in the caller and
        # tells the port before the thread starts.
        sock = self._bind()
        self._sock = sock
        self.port = sock.getsockname()[1]
        self.server.should_exit = False
        # The server runs in the context of whoever started it: in a notebook kernel that context holds
        # the parent header of the starting cell, so the server's output stays in that cell.
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._run, sock), name=f"uvicorn:{self.name}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                reason = repr(self.error) if self.error is not None else "no reason given (see the log)"
                raise ServerStartError(f"server {self.name!r} did not start on {self.url}: {reason}")
            time.sleep(0.001)
        return self

    def stop(self, timeout: float = GRACEFUL_SHUTDOWN + 3.0) -> None:
        thread = self._thread
        if thread is not None:
            self.server.should_exit = True
            thread.join(timeout)
            if thread.is_alive():
                self.server.force_exit = True
                thread.join(timeout)
            if thread.is_alive():
                logging.getLogger("aisetl").error("server %r did not stop within %.0f s", self.name, 2 * timeout)
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None
        self._thread = None

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class LoopThread:
    """An event loop in a daemon thread, for client work driven from sync code (a notebook cell)."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        return self.submit(coro).result(timeout)

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()
