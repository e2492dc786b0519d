"""The live status widget of an in-kernel server (ipywidgets).

Refreshed by a timer (every REFRESH_SECONDS, and only when something changed), never per request:
a widget message per request costs two thirds of the throughput (notebook-kernel-notes, section 5).
The server's log lines are kept here, in the cell that displays the widget, not in whichever cell
happens to run when they are written.
"""

from __future__ import annotations

import html
import logging
import threading
from collections import deque
from typing import Any, Protocol

import ipywidgets as widgets

from ..api.base import ETLServer

REFRESH_SECONDS = 0.5
LOG_LINES = 200


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.2f} ms"


def _route(server: Any) -> str:
    """Whether object requests skip FastAPI (README, "The FastAPI app")."""
    fast = getattr(server, "fast_path", None)
    return "" if fast is None else ", fast path" if fast else ", through FastAPI (user middleware or routes)"


class _WidgetLogHandler(logging.Handler):
    def __init__(self, lines: deque[str]) -> None:
        super().__init__(logging.INFO)
        self.lines = lines
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a logging handler must never raise into the server
            self.handleError(record)


class ServerHandle(Protocol):
    """What the widget shows of a served server (`aisetl.ServerHandle` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def cls(self) -> type[ETLServer]: ...
    @property
    def running(self) -> bool: ...
    @property
    def state(self) -> str: ...
    @property
    def server(self) -> ETLServer | None: ...


class StatusWidget:
    """State, URL, transform and mode, counters, latency, the last error and the log of one server."""

    def __init__(self, handle: ServerHandle) -> None:
        self.handle = handle
        self.lines: deque[str] = deque(maxlen=LOG_LINES)
        self.status = widgets.HTML()
        self.error = widgets.HTML()
        self.log = widgets.HTML()
        self.box = widgets.VBox([self.status, self.error, self.log])
        self._handler = _WidgetLogHandler(self.lines)
        self._logger: logging.Logger | None = None
        self._ticker: threading.Thread | None = None
        self._last: tuple[str, str, str] = ("", "", "")
        self.attach(handle)

    def attach(self, handle: ServerHandle) -> None:
        """Follow `handle`'s current server (again after a restart)."""
        if self._logger is not None:
            self._logger.removeHandler(self._handler)
            self._logger = None
        if handle.server is not None:
            self._logger = handle.server.logger
            self._logger.addHandler(self._handler)
        self.refresh()
        if handle.running and (self._ticker is None or not self._ticker.is_alive()):
            self._ticker = threading.Thread(target=self._tick, name=f"aisetl-widget:{handle.name}", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        stop = threading.Event()
        while self.handle.running:
            self.refresh()
            stop.wait(REFRESH_SECONDS)
        self.refresh()

    def render(self) -> tuple[str, str, str]:
        h = self.handle
        server = h.server
        state = h.state  # running, stopped, or replaced by a later serve() of the same name
        color = "#2e7d32" if h.running else "#757575"
        rows = [
            ("state", f"<b style='color:{color}'>{state}</b>"),
            ("URL", f"<code>{html.escape(h.url)}</code> <a href='{html.escape(h.url)}/docs' target='_blank'>/docs</a>"),
            ("transform", f"{html.escape(h.cls.__name__)} ({h.mode}){_route(server)}"),
        ]
        error = ""
        if server is not None:
            s = server.stats
            rows += [
                ("requests / objects", f"{s.requests} / {s.objects}"),
                ("bytes in / out", f"{_size(s.bytes_in)} / {_size(s.bytes_out)}"),
                ("errors", f"<b style='color:#c62828'>{s.errors}</b>" if s.errors else "0"),
                ("latency p50 / p99", f"{_ms(s.percentile(0.5))} / {_ms(s.percentile(0.99))}"),
            ]
            if s.last_error is not None:
                e = s.last_error
                error = (
                    f"<details><summary>last error: <code>{html.escape(e.path or '-')}</code> "
                    f"{html.escape(e.message[:300])}</summary><pre>{html.escape(e.traceback)}</pre></details>"
                )
        table = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
        status = f"<table style='font-size:small'>{table}</table>"
        log = ""
        if self.lines:
            log = (
                "<details><summary>log</summary><pre style='max-height:12em;overflow:auto'>"
                + html.escape("\n".join(self.lines))
                + "</pre></details>"
            )
        return status, error, log

    def refresh(self) -> None:
        current = self.render()
        if current != self._last:  # a widget message only when something changed
            self._last = current
            self.status.value, self.error.value, self.log.value = current

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = self.box._repr_mimebundle_(include=include, exclude=exclude)
        return bundle
