"""The notebook view of a Shown (ipywidgets): targets, ETLs with live counters, jobs with progress.

Refreshed by a timer while the cluster runs, and a widget message only when something changed (the
server widget's rule: never per request).
"""

from __future__ import annotations

import html
import threading
from typing import TYPE_CHECKING, Any, Protocol

import ipywidgets as widgets

if TYPE_CHECKING:
    from .etl import ETLRegistry
    from .jobs import ClusterJob, JobRegistry
    from .target import ClusterTarget


class Shown(Protocol):
    """What the widget shows of a cluster (Shown is one)."""

    name: str
    targets: list[ClusterTarget]
    etls: ETLRegistry
    jobs: JobRegistry

    @property
    def running(self) -> bool: ...

    @property
    def url(self) -> str: ...


REFRESH_SECONDS = 0.5


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


def _table(head: list[str], rows: list[list[str]]) -> str:
    cells = "".join(f"<th style='text-align:left'>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table style='font-size:small'><tr>{cells}</tr>{body}</table>"


def render(cluster: Shown) -> str:
    """The cluster as HTML: state, targets, ETLs (comm, stage, counters, each server's /docs), jobs."""
    running = cluster.running
    color = "#2e7d32" if running else "#757575"
    where = f"<code>{html.escape(cluster.url)}</code>" if running else ""
    parts = [
        f"<b>Shown {html.escape(cluster.name)}</b> <b style='color:{color}'>"
        f"{'running' if running else 'stopped'}</b> {where}"
    ]
    parts.append(
        _table(
            ["target", "URL"],
            [[t.node_id, f"<code>{html.escape(t.url)}</code>"] for t in cluster.targets] if running else [],
        )
    )
    live: dict[str, int] = {}
    for job in cluster.jobs.all():
        if job.etl is not None and not job.finished:
            live[job.etl.spec.name] = live.get(job.etl.spec.name, 0) + job.totals().done
    etl_rows = []
    for etl in cluster.etls.all():
        info = etl.info()
        docs = " ".join(
            f"<a href='{html.escape(i.url)}/docs' target='_blank'>{html.escape(tid)}</a>"
            for tid, i in sorted(etl.instances.items())
        )
        etl_rows.append(
            [
                html.escape(etl.spec.name),
                f"{etl.spec.comm}://",
                html.escape(info["stage"]),
                str(info["obj_count"] + live.get(etl.spec.name, 0)),
                f"{_size(info['in_bytes'])} / {_size(info['out_bytes'])}",
                docs or "-",
            ]
        )
    if etl_rows:
        parts.append(_table(["ETL", "comm", "stage", "objects", "bytes in / out", "/docs"], etl_rows))
    return "<br>".join(parts)


def _job_text(job: ClusterJob) -> str:
    r = job.totals()
    what = f"{job.kind} ais://{html.escape(job.src)} → ais://{html.escape(job.dst)}"
    return f"<code>{html.escape(job.id)}</code> {what}: {r.done}/{r.total} done, {r.failed} failed, {r.state}"


class ClusterWidget:
    """A live view of `cluster`; one progress bar per job."""

    def __init__(self, cluster: Shown) -> None:
        self.cluster = cluster
        self.status = widgets.HTML()
        self.jobs = widgets.VBox([])
        self.box = widgets.VBox([self.status, self.jobs])
        self._bars: dict[str, tuple[widgets.IntProgress, widgets.HTML]] = {}
        self._last = ""
        self.refresh()
        threading.Thread(target=self._tick, name=f"aisetl-cluster-widget:{cluster.name}", daemon=True).start()

    def _tick(self) -> None:
        pause = threading.Event()
        while self.cluster.running:
            self.refresh()
            pause.wait(REFRESH_SECONDS)
        self.refresh()

    def refresh(self) -> None:
        current = render(self.cluster)
        if current != self._last:
            self._last = current
            self.status.value = current
        for job in self.cluster.jobs.all():
            r = job.totals()
            if job.id not in self._bars:
                bar = widgets.IntProgress(value=0, min=0, max=max(r.total, 1), description=job.kind)
                text = widgets.HTML()
                self._bars[job.id] = (bar, text)
                self.jobs.children = (*self.jobs.children, widgets.HBox([bar, text]))
            bar, text = self._bars[job.id]
            value, style, label = (
                r.done + r.failed,
                "danger" if r.failed else ("success" if job.finished else "info"),
                _job_text(job),
            )
            if (bar.value, bar.bar_style, text.value) != (value, style, label):
                bar.value, bar.bar_style, text.value = value, style, label

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = self.box._repr_mimebundle_(include=include, exclude=exclude)
        return bundle
