"""Offline jobs of a LocalCluster: bucket-to-bucket (and list/range) transforms and copies.

As AIS runs them: every target works on the source objects it owns, and each result goes to the
target that owns the *destination* name by HRW. For a transform, that destination travels to the
target's own ETL server in `Ais-Node-Url`, and the ETL server puts the result there itself (a direct
put that crosses targets). Each target's share is an aisetl `Job` (the LocalTarget engine: comm
types, soft retries, obj_timeout, delivery checks), seen through `RoutedSource`.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Protocol

from ..job import Job, JobReport, JobSpec, ObjectError, rename
from .http import AISHTTPError

if TYPE_CHECKING:
    from ...server.thread import LoopThread
    from .etl import ETL
    from .target import ClusterTarget


class Placement(Protocol):
    """What a job needs of the cluster: its targets and which one owns a name."""

    @property
    def targets(self) -> Sequence[ClusterTarget]: ...

    def owner(self, bucket: str, obj: str) -> ClusterTarget: ...


GO_ZERO_TIME = "0001-01-01T00:00:00Z"
WATCH_INTERVAL = 0.05
_RANGE = re.compile(r"\{(\d+)\.\.(\d+)(?:\.\.(\d+))?\}|\{([^{}]*,[^{}]*)\}")


def expand_template(template: str) -> Iterator[str]:
    """Bash-style braces as AIS templates use them: `a/{0..9}.txt`, `{00..99..2}`, `{x,y}`."""
    match = _RANGE.search(template)
    if match is None:
        yield template
        return
    head, tail = template[: match.start()], template[match.end() :]
    if match.group(4) is not None:
        choices = match.group(4).split(",")
    else:
        start, stop, step = match.group(1), match.group(2), int(match.group(3) or 1)
        if step <= 0:
            raise ValueError(f"template {template!r}: the step must be positive")
        width = len(start) if start.startswith("0") else 0
        lo, hi = int(start), int(stop)
        numbers = range(lo, hi + 1, step) if lo <= hi else range(lo, hi - 1, -step)
        choices = [str(n).zfill(width) for n in numbers]
    for choice in choices:
        yield from expand_template(head + choice + tail)


class RoutedSource:
    """One target's view for its share of a job: sources here, destinations on their HRW owners
    (with `prepend` put in front of each destination object name)."""

    def __init__(self, source: ClusterTarget, cluster: Placement, prepend: str, dry_run: bool = False) -> None:
        self.source = source
        self.cluster = cluster
        self.prepend = prepend
        self.dry_run = dry_run  # results are counted, not written

    @property
    def loop(self) -> LoopThread:
        return self.source.loop

    def fqn(self, name: str) -> str:
        return self.source.fqn(name)

    def get(self, name: str) -> bytes:
        return self.source.get(name)

    def size(self, name: str) -> int:
        return self.source.size(name)

    def final(self, name: str) -> tuple[ClusterTarget, str]:
        bucket, obj = name.split("/", 1)
        obj = self.prepend + obj
        return self.cluster.owner(bucket, obj), f"{bucket}/{obj}"

    def destination(self, name: str, uuid: str = "local-xact", owt: int = 4) -> str:
        owner, final = self.final(name)
        return owner.destination(final, uuid=uuid, owt=owt)

    def delivered_size(self, job_id: str, name: str) -> int | None:
        owner, final = self.final(name)
        return owner.delivered_size(job_id, final)

    def put(self, name: str, data: bytes) -> None:
        if not self.dry_run:
            owner, final = self.final(name)
            owner.put(final, data)


class CopyPart:
    """One target's share of a copy job: its objects copied to their destination owners, in a thread."""

    def __init__(self, view: RoutedSource, names: list[str], dst_bucket: str, ext: dict[str, str] | None, coer: bool):
        self.view, self.names, self.dst_bucket, self.ext, self.coer = view, names, dst_bucket, ext, coer
        self.job_id = "copy-" + secrets.token_hex(5)
        self._report = JobReport(self.job_id, "running", len(names))
        self._lock = threading.Lock()
        self._started = time.perf_counter()
        self._aborted = False
        self._done = threading.Event()
        threading.Thread(target=self._run, name=f"aisetl-copy:{self.job_id}", daemon=True).start()

    def _run(self) -> None:
        try:
            for name in self.names:
                if self._aborted:
                    break
                bucket, obj = name.split("/", 1)
                try:
                    data = self.view.get(name)
                    self.view.put(f"{self.dst_bucket}/{rename(obj, self.ext)}", data)
                except (OSError, KeyError, ValueError) as exc:
                    with self._lock:
                        self._report.failed += 1
                        self._report.errors.append(ObjectError(f"ais://{name}", 500, f"{type(exc).__name__}: {exc}"))
                        if not self.coer:
                            self._aborted = True
                else:
                    with self._lock:
                        self._report.done += 1
                        self._report.bytes_in += len(data)
                        self._report.bytes_out += len(data)
        finally:
            with self._lock:
                self._report.state = "aborted" if self._aborted else "finished"
                self._report.seconds = time.perf_counter() - self._started
            self._done.set()

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def report(self) -> JobReport:
        with self._lock:
            r = self._report
            return replace(r, errors=list(r.errors))


Part = Job | CopyPart


def _iso(ns: int) -> str:
    if not ns:
        return GO_ZERO_TIME
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _bck(name: str) -> dict[str, Any]:
    return {"name": name, "provider": "ais", "namespace": {"uuid": "", "name": ""}}


class ClusterJob:
    """A transform or copy across the cluster: one part per target, AIS's job status and snapshots."""

    def __init__(
        self,
        cluster: Placement,
        kind: str,
        src: str,
        dst: str,
        names: dict[str, list[str]],  # node ID -> the source names it owns
        etls: list[ETL],
        ext: dict[str, str] | None,
        prepend: str,
        coer: bool,
        num_workers: int,
        missing: list[str] = (),  # type: ignore[assignment]
        dry_run: bool = False,
    ) -> None:
        self.cluster, self.kind, self.src, self.dst, self.coer = cluster, kind, src, dst, coer
        self.etl = etls[0] if etls else None
        self.id = secrets.token_urlsafe(7).replace("-", "x").replace("_", "y")
        self.start_ns = time.time_ns()
        self.end_ns = 0
        self.aborted = False
        self.err = ""
        self.missing = [ObjectError(f"ais://{src}/{o}", 404, f"ais://{src}/{o} does not exist") for o in missing]
        self.parts: dict[str, Part] = {}
        for target in cluster.targets:
            view = RoutedSource(target, cluster, prepend, dry_run)
            own = names.get(target.node_id, [])
            if etls:
                first = etls[0].spec
                spec = JobSpec(
                    own,
                    dst,
                    [e.url_on(target) for e in etls],
                    comm=first.comm,
                    ext=ext,
                    continue_on_error=coer,
                    num_workers=num_workers,
                    obj_timeout=first.obj_timeout,
                    direct_put=first.direct_put and not dry_run,  # a dry run gets the bytes back
                )
                self.parts[target.node_id] = Job(view, spec)
            else:
                self.parts[target.node_id] = CopyPart(view, own, dst, ext, coer)
        if self.missing and not coer:
            self.abort(self.missing[0].message)
        threading.Thread(target=self._watch, name=f"aisetl-job:{self.id}", daemon=True).start()

    def _watch(self) -> None:
        pause = threading.Event()
        while not all(p.finished for p in self.parts.values()):
            if not self.coer and not self.aborted:
                failed = [e for p in self.parts.values() for e in p.report().errors]
                if failed:
                    self.abort(f"{failed[0].name}: {failed[0].message}")
            pause.wait(WATCH_INTERVAL)
        reports = [p.report() for p in self.parts.values()]
        if not self.coer and any(r.errors for r in reports) and not self.aborted:
            first = next(e for r in reports for e in r.errors)
            self.abort(f"{first.name}: {first.message}")
        if self.etl is not None:
            self.etl.count(
                sum(r.bytes_in for r in reports), sum(r.bytes_out for r in reports), sum(r.done for r in reports)
            )
        self.end_ns = time.time_ns()

    def abort(self, reason: str = "aborted") -> None:
        if not self.aborted:
            self.aborted, self.err = True, reason
        for part in self.parts.values():
            part._aborted = True

    @property
    def finished(self) -> bool:
        return self.end_ns != 0

    def reports(self) -> dict[str, JobReport]:
        return {tid: p.report() for tid, p in self.parts.items()}

    def totals(self) -> JobReport:
        """The parts' reports added up (state: running, finished or aborted)."""
        reports = list(self.reports().values())
        state = "running" if not self.finished else ("aborted" if self.aborted else "finished")
        seconds = ((self.end_ns or time.time_ns()) - self.start_ns) / 1e9
        return JobReport(
            self.id,
            state,
            total=sum(r.total for r in reports) + len(self.missing),
            done=sum(r.done for r in reports),
            failed=sum(r.failed for r in reports) + len(self.missing),
            bytes_in=sum(r.bytes_in for r in reports),
            bytes_out=sum(r.bytes_out for r in reports),
            seconds=seconds,
            errors=self.missing + [e for r in reports for e in r.errors],
        )

    def obj_errors(self) -> list[dict[str, Any]]:
        return [{"obj_name": e.name, "msg": e.message, "ecode": e.status} for e in self.totals().errors]

    def status(self) -> dict[str, Any]:
        return {"uuid": self.id, "kind": self.kind, "err": self.err, "end_time": self.end_ns, "aborted": self.aborted}

    def snapshots(self) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for tid, r in self.reports().items():
            stats = {"loc-objs": r.done, "loc-bytes": r.bytes_in, "out-objs": r.done, "out-bytes": r.bytes_out}
            out[tid] = [
                {
                    "id": self.id,
                    "kind": self.kind,
                    "start-time": _iso(self.start_ns),
                    "end-time": _iso(self.end_ns),
                    "bck": _bck(self.dst),
                    "src-bck": _bck(self.src),
                    "dst-bck": _bck(self.dst),
                    "stats": {**stats, "in-objs": 0, "in-bytes": 0},
                    "aborted": self.aborted,
                    "is_idle": self.finished,
                    "abort-err": self.err if self.aborted else "",
                    "err": "",
                }
            ]
        return out


class JobRegistry:
    """Every job of the cluster, finished ones included (the SDK's wait queries them after the end)."""

    def __init__(self) -> None:
        self._jobs: dict[str, ClusterJob] = {}
        self._lock = threading.Lock()

    def add(self, job: ClusterJob) -> ClusterJob:
        with self._lock:
            self._jobs[job.id] = job
        return job

    def find(self, job_id: str) -> ClusterJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def get(self, job_id: str) -> ClusterJob:
        job = self.find(job_id)
        if job is None:
            raise AISHTTPError(404, f'job "{job_id}" not found')
        return job

    def all(self) -> list[ClusterJob]:
        with self._lock:
            return list(self._jobs.values())

    def stop_all(self) -> None:
        for job in self.all():
            job.abort("the cluster stopped")
        for job in self.all():
            for part in job.parts.values():
                if isinstance(part, Job):
                    part.cancel()
                else:
                    part._done.wait(10)
