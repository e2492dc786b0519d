"""The live status widget of an in-kernel server (ipywidgets).

Refreshed by a timer (every REFRESH_SECONDS, and only when something changed), never per request:
a widget message per request costs two thirds of the throughput (docs/notebook-kernel-notes.md, section 5).

What it says is meant to be true when read, including in a notebook saved with its widget state and
opened later: the state line carries the time it was last confirmed ("running, as of 14:32:05"; it is
confirmed at least every CONFIRM_SECONDS while the server runs), so a saved view says when it was true.
The errors and the log are collapsible panes of their own (ipywidgets Accordions): a pane the user
opened stays open while the numbers update, because the update changes what is inside it, never it.
"""

from __future__ import annotations

import html
import threading
import time
from collections import deque
from typing import Any, Protocol

import ipywidgets as widgets

from ..api.base import ETLServer
from ..server.stats import ServerStats
from .log import ServerLog

REFRESH_SECONDS = 0.5
# While a server runs, its state line is re-confirmed this often even when nothing else changed.
CONFIRM_SECONDS = 5.0
# Rates are the change of the counters over this last stretch of time.
RATE_WINDOW_SECONDS = 5.0
QUANTILES = (0.5, 0.9, 0.99)
_AS_OF = "{as_of}"  # the time of sending, filled in when the status is sent

_STYLE = (
    "<style>.aisetl-table{line-height:1.45;border-collapse:collapse}"
    ".aisetl-table td{padding:1px 12px 1px 0;vertical-align:top;text-align:left}"
    ".aisetl-table td:first-child{color:var(--jp-ui-font-color2,#616161);white-space:nowrap}"
    ".aisetl-table .num{font-family:var(--jp-code-font-family,monospace);font-variant-numeric:tabular-nums}"
    ".aisetl-pre{max-height:16em;overflow:auto;margin:0;font-size:small}</style>"
)


def size_text(n: float) -> str:
    """A byte count in IEC units: `512 B`, `1.5 KiB`, `3.0 MiB`, `1.2 GiB`, `2.0 TiB`."""
    if n < 1024:
        return f"{n:.0f} B"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024
        if n < 1024:
            return f"{n:.1f} {unit}"
    return f"{n / 1024:.1f} TiB"


def rate_text(per_second: float, unit: str) -> str:
    """A rate: bytes as `1.5 MiB/s`, anything else as `12.5 objects/s`."""
    if unit == "B":
        return size_text(per_second) + "/s"
    return f"{per_second:.1f} {unit}/s"


def duration_text(seconds: float) -> str:
    """A latency: `850 µs`, `12.3 ms`, `1.52 s`."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def clock(when: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(when))


def _route(server: Any) -> str:
    """Whether object requests skip FastAPI (README, "The FastAPI app")."""
    fast = getattr(server, "fast_path", None)
    return "" if fast is None else ", fast path" if fast else ", through FastAPI (user middleware or routes)"


class Rates:
    """Objects, bytes in and bytes out per second over the last RATE_WINDOW_SECONDS, from counter samples."""

    def __init__(self, window: float = RATE_WINDOW_SECONDS) -> None:
        self.window = window
        self.samples: deque[tuple[float, int, int, int]] = deque()

    def update(self, now: float, stats: ServerStats) -> tuple[float, float, float] | None:
        """Add a sample; the rates over the window, or None until the samples span some time."""
        self.samples.append((now, stats.objects, stats.bytes_in, stats.bytes_out))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window:
            self.samples.popleft()
        first, last = self.samples[0], self.samples[-1]
        span = last[0] - first[0]
        if span < REFRESH_SECONDS / 2:
            return None
        (_, objects0, in0, out0), (_, objects1, in1, out1) = first, last
        return (objects1 - objects0) / span, (in1 - in0) / span, (out1 - out0) / span


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
    @property
    def log(self) -> ServerLog: ...


def _pane(kind: str) -> tuple[widgets.HTML, widgets.Accordion]:
    body = widgets.HTML()
    pane = widgets.Accordion(children=[body], titles=(kind,))
    pane.add_class(f"aisetl-{kind}")
    return body, pane


class StatusWidget:
    """State, URL, transform and mode, counters, rates, latency; the errors and the log in their panes."""

    def __init__(self, handle: ServerHandle) -> None:
        self.handle = handle
        self.status = widgets.HTML()
        self.status.add_class("aisetl-status")
        self.errors, self.errors_pane = _pane("errors")
        self.log, self.log_pane = _pane("log")
        self.box = widgets.VBox([self.status, self.errors_pane, self.log_pane])
        self.box.add_class("aisetl-server")
        self.shown = False  # displayed at least once: from then on the log is read here
        self.rates = Rates()
        self._ticker: threading.Thread | None = None
        self._last: tuple[str, ...] = ()
        self._confirmed = 0.0
        self._stopped_at: float | None = None
        self.attach(handle)

    def attach(self, handle: ServerHandle) -> None:
        """Follow `handle`'s current server (again after a restart)."""
        self.rates = Rates()
        self._stopped_at = None
        self.refresh()
        if handle.running and (self._ticker is None or not self._ticker.is_alive()):
            self._ticker = threading.Thread(target=self._tick, name=f"aisetl-widget:{handle.name}", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        pause = threading.Event()
        while self.handle.running:
            self.refresh()
            pause.wait(REFRESH_SECONDS)
        self.refresh()

    # --- what it says ------------------------------------------------------------------------------

    def state_html(self, now: float) -> str:
        if self.handle.running:
            return f"<b style='color:#2e7d32'>running</b>, as of {_AS_OF}"
        if self._stopped_at is None:
            self._stopped_at = now
        # "replaced": a later serve() of the same name took over (README, serve()).
        why = "replaced by a later serve() of the same name" if self.handle.state == "replaced" else "stopped"
        return f"<b style='color:#757575'>not running</b> ({why} at {clock(self._stopped_at)})"

    def rows(self, now: float) -> list[tuple[str, str]]:
        h = self.handle
        server = h.server
        url = html.escape(h.url)
        rows = [
            ("URL", f"<code>{url}</code> <a href='{url}/docs' target='_blank'>/docs</a>"),
            ("transform", f"{html.escape(h.cls.__name__)} ({h.mode}){_route(server)}"),
        ]
        if server is None:
            return rows
        s = server.stats
        errors = f"<b style='color:#c62828'>{s.errors}</b>" if s.errors else "0"
        rows += [
            ("requests / objects / errors", f"<span class='num'>{s.requests} / {s.objects} / {errors}</span>"),
            ("bytes in / out", f"<span class='num'>{size_text(s.bytes_in)} / {size_text(s.bytes_out)}</span>"),
        ]
        if s.ws_connections:
            rows.append(("WebSocket connections", f"<span class='num'>{s.ws_connections}</span>"))
        rates = self.rates.update(now, s) if h.running else None
        if rates is not None:
            objects, bytes_in, bytes_out = rates
            text = f"{rate_text(objects, 'objects')} · in {rate_text(bytes_in, 'B')} · out {rate_text(bytes_out, 'B')}"
            rows.append((f"rate, last {RATE_WINDOW_SECONDS:.0f} s", f"<span class='num'>{text}</span>"))
        n, values = s.percentiles(*QUANTILES)
        if n:
            text = " · ".join(f"p{round(q * 100)} {duration_text(v)}" for q, v in zip(QUANTILES, values, strict=True))
            rows.append((f"latency, last {n} objects", f"<span class='num'>{text}</span>"))
        return rows

    def errors_html(self) -> str:
        server = self.handle.server
        if server is None or not server.stats.recent_errors:
            return "<i>no errors</i>"
        parts = []
        for e in reversed(server.stats.recent_errors):  # the newest first
            where = f"{e.transport} <code>{html.escape(e.path or '-')}</code>" + (f" → {e.status}" if e.status else "")
            parts.append(
                f"<div><b>{clock(e.when)}</b> {where}: {html.escape(e.message[:500])}"
                + (f"<pre class='aisetl-pre'>{html.escape(e.traceback)}</pre>" if e.traceback else "")
                + "</div>"
            )
        return f"{_STYLE}<div style='max-height:24em;overflow:auto'>{''.join(parts)}</div>"

    def render(self, now: float | None = None) -> tuple[str, ...]:
        """(status, errors title, errors, log title, log): the widget's text, with the status's time to fill in."""
        now = time.time() if now is None else now
        rows = [("state", self.state_html(now)), *self.rows(now)]
        table = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in rows)
        status = f"{_STYLE}<table class='aisetl-table'>{table}</table>"
        server = self.handle.server
        errors = server.stats.errors if server is not None else 0
        kept = len(server.stats.recent_errors) if server is not None else 0
        errors_title = f"errors: {errors}" + (f" (the last {kept} shown)" if errors > kept else "")
        log = self.handle.log
        log_title = f"log: {log.written} lines"
        if log.written > len(log.lines):
            log_title += f" (the last {len(log.lines)} shown)"
        log_body = f"{_STYLE}<pre class='aisetl-pre'>{html.escape(log.text())}</pre>" if log.lines else "<i>empty</i>"
        return status, errors_title, self.errors_html(), log_title, log_body

    def refresh(self) -> None:
        """Send what changed; while the server runs, re-confirm the state line every CONFIRM_SECONDS."""
        now = time.time()
        current = self.render(now)
        due = self.handle.running and now - self._confirmed >= CONFIRM_SECONDS
        if current == self._last and not due:
            return
        self._last, self._confirmed = current, now
        status, errors_title, errors, log_title, log = current
        self.status.value = status.replace(_AS_OF, clock(now))
        self.errors_pane.titles = (errors_title,)
        self.errors.value = errors
        self.log_pane.titles = (log_title,)
        self.log.value = log

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        self.shown = True
        bundle: dict[str, Any] = self.box._repr_mimebundle_(include=include, exclude=exclude)
        return bundle
