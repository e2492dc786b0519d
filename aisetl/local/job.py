"""Offline (bucket-to-bucket) transforms on a LocalTarget, with AIS's semantics.

Every source object is sent to the first ETL once, with the rest of the pipeline and the destination
in `Ais-Node-Url`, as an AIS target does when the destination object lives on another target. The ETL
answers 204 (it delivered the object by direct put) or 200 with the bytes (the target writes them
itself). Beyond AIS, a 204 is checked: the object must have reached the destination under this job's
id, else the object fails — nothing is reported as done that is not at the destination.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import html
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .._exceptions import ETLCallError
from .calls import RETRY_SLEEP, SOFT_RETRIES, Answer, HTTPComm, ObjectCall, WSComm, check_comm, http_pool

if TYPE_CHECKING:
    from ..server.thread import LoopThread

# How often a displayed job's progress bar refreshes (the server widget's cadence).
PROGRESS_SECONDS = 0.5
# How long cancel() waits for the job to stop; it takes milliseconds (in-flight requests are dropped).
CANCEL_WAIT = 10.0


@dataclass(frozen=True)
class ObjectError:
    """A failed object, as AIS records it: `ais://bucket/object`, status, message."""

    name: str
    status: int
    message: str


@dataclass
class JobReport:
    job_id: str
    state: str  # running, finished, aborted (an error without continue_on_error), cancelled
    total: int
    done: int = 0
    failed: int = 0
    cancelled: int = 0  # objects in flight or not yet sent when the job was cancelled
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    errors: list[ObjectError] = field(default_factory=list)

    @property
    def objects_per_second(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0

    @property
    def mib_per_second(self) -> float:
        return self.bytes_in / self.seconds / (1 << 20) if self.seconds else 0.0

    def summary(self) -> str:
        text = (
            f"job {self.job_id} {self.state}: {self.done}/{self.total} done, {self.failed} failed, "
            + (f"{self.cancelled} cancelled, " if self.state == "cancelled" else "")
            + f"{self.bytes_in} bytes in, {self.bytes_out} bytes out, {self.seconds:.2f} s, "
            f"{self.objects_per_second:.0f} objects/s, {self.mib_per_second:.1f} MiB/s"
        )
        for e in self.errors[:20]:
            text += f"\n  {e.name}: {e.status} {e.message}"
        if len(self.errors) > 20:
            text += f"\n  ... and {len(self.errors) - 20} more"
        return text


def rename(obj: str, ext: dict[str, str] | None) -> str:
    """The destination object name: the source name with its extension mapped (`{"jpg": "png"}`)."""
    if ext:
        stem, dot, suffix = obj.rpartition(".")
        if dot and suffix in ext:
            return f"{stem}.{ext[suffix]}"
    return obj


class ObjectStore(Protocol):
    """What a job needs of the target it runs on (a `LocalTarget` is one)."""

    @property
    def loop(self) -> LoopThread: ...
    def fqn(self, name: str) -> str: ...
    def get(self, name: str) -> bytes: ...
    def put(self, name: str, data: bytes) -> None: ...
    def size(self, name: str) -> int: ...
    def destination(self, name: str, uuid: str = ..., owt: int = ...) -> str: ...
    def delivered_size(self, job_id: str, name: str) -> int | None: ...


@dataclass(frozen=True)
class JobSpec:
    """What an offline transform is asked to do: the objects, where they go, through which ETLs, how."""

    names: list[str]
    dst_bucket: str
    etl_urls: list[str]
    comm: str = "hpush"
    ext: dict[str, str] | None = None
    continue_on_error: bool = False
    num_workers: int = 4
    obj_timeout: float | None = 45.0
    fqn: bool = True
    etl_args: str = ""
    soft_retries: int = SOFT_RETRIES
    retry_sleep: float = RETRY_SLEEP
    direct_put: bool = True  # the destination travels in Ais-Node-Url; else the target writes the bytes


class Job:
    """A running or finished offline transform: `wait()`, `report()`, live progress in a notebook."""

    def __init__(self, store: ObjectStore, spec: JobSpec) -> None:
        if not spec.etl_urls:
            raise ValueError("an offline transform needs at least one ETL server")
        if spec.num_workers < 1:
            raise ValueError(f"num_workers must be >= 1, got {spec.num_workers}")
        self.target = store
        self.spec = spec
        self.names = spec.names
        self.dst_bucket = spec.dst_bucket
        self.etl_urls = spec.etl_urls
        self.comm = check_comm(spec.comm)
        self.ext = spec.ext
        self.continue_on_error = spec.continue_on_error
        self.num_workers = spec.num_workers
        self.obj_timeout = spec.obj_timeout
        self.fqn = spec.fqn
        self.etl_args = spec.etl_args
        self.soft_retries = spec.soft_retries
        self.retry_sleep = spec.retry_sleep
        self.job_id = "etl-" + uuid.uuid4().hex[:10]
        self._report = JobReport(self.job_id, "running", len(spec.names))
        self._lock = threading.Lock()
        self._started = time.perf_counter()
        self._aborted = False
        self._cancelled = False
        self._workers: asyncio.Future[list[None]] | None = None
        self._future = store.loop.submit(self._run())

    # --- running -----------------------------------------------------------------------------------

    async def _run(self) -> None:
        client = http_pool(self.num_workers)
        try:
            queue = list(reversed(self.names))
            if self.comm == "ws":
                comms: list[HTTPComm | WSComm] = [WSComm(self.etl_urls[0]) for _ in range(self.num_workers)]
            else:
                http = HTTPComm(
                    client, self.etl_urls[0], self.comm, self.obj_timeout, self.soft_retries, self.retry_sleep
                )
                comms = [http] * self.num_workers
            try:
                if not self._cancelled:
                    self._workers = asyncio.gather(*(self._worker(queue, c) for c in comms))
                    await self._workers
            except asyncio.CancelledError:
                if not self._cancelled:  # not ours: the loop is going away
                    raise
            finally:
                for c in comms:
                    if isinstance(c, WSComm):
                        await c.aclose()
        finally:
            await client.aclose()
        with self._lock:
            r = self._report
            r.state = "cancelled" if self._cancelled else "aborted" if self._aborted else "finished"
            if self._cancelled:
                r.cancelled = r.total - r.done - r.failed
            r.seconds = time.perf_counter() - self._started

    async def _worker(self, queue: list[str], comm: HTTPComm | WSComm) -> None:
        loop = asyncio.get_running_loop()
        while queue and not self._aborted and not self._cancelled:
            name = queue.pop()
            bucket, obj = name.split("/", 1)
            dst = f"{self.dst_bucket}/{rename(obj, self.ext)}"
            fqn = self.target.fqn(name)
            try:
                data = None if self.fqn else await loop.run_in_executor(None, self.target.get, name)
                # Without direct put (the ETL's support_direct_put off) the last stage answers the bytes.
                last = [self.target.destination(dst, uuid=self.job_id)] if self.spec.direct_put else []
                pipeline = ",".join([*self.etl_urls[1:], *last])
                call = ObjectCall(bucket, obj, fqn, data, self.etl_args, pipeline)
                size_in = len(data) if data is not None else self.target.size(name)
                answer = await comm.send(call)
                size_out = await self._land(answer, dst, isinstance(comm, WSComm))
            except ETLCallError as exc:
                self._fail(name, exc.status, str(exc))
            except (OSError, KeyError, ValueError) as exc:
                self._fail(name, 500, f"{type(exc).__name__}: {exc}")
            else:
                with self._lock:
                    self._report.done += 1
                    self._report.bytes_in += size_in
                    self._report.bytes_out += size_out

    async def _land(self, answer: Answer, dst: str, over_ws: bool) -> int:
        """Where the transformed object ended up; its size at the destination."""
        if answer.delivered:
            size = self.target.delivered_size(self.job_id, dst)
            if size is None:
                raise ETLCallError(502, f"the ETL reported {dst!r} delivered, but it never reached the destination")
            return size
        if over_ws:
            # AIS expected a direct put (the destination is remote) and has nowhere to write bytes.
            raise ETLCallError(500, "expected direct put but got result from pipeline")
        await asyncio.get_running_loop().run_in_executor(None, self.target.put, dst, answer.body)
        return len(answer.body)

    def _fail(self, name: str, status: int, message: str) -> None:
        with self._lock:
            self._report.failed += 1
            self._report.errors.append(ObjectError(f"ais://{name}", status, message))
            if not self.continue_on_error:
                self._aborted = True

    # --- results -----------------------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self._future.done()

    def report(self) -> JobReport:
        """A snapshot of the counters (final once the job finished)."""
        with self._lock:
            r = self._report
            seconds = r.seconds if self.finished else time.perf_counter() - self._started
            return JobReport(
                r.job_id,
                r.state,
                r.total,
                r.done,
                r.failed,
                r.cancelled,
                r.bytes_in,
                r.bytes_out,
                seconds,
                list(r.errors),
            )

    def cancel(self) -> None:
        """Stop the job; returns once it stopped (at once: requests in flight are dropped).

        Objects in flight or not yet sent are reported `cancelled`; objects done stay done. A finished
        job is left as it is.
        """
        if self.finished:
            return
        self.target.loop.loop.call_soon_threadsafe(self._cancel_in_loop)
        with contextlib.suppress(concurrent.futures.TimeoutError):
            self._future.result(CANCEL_WAIT)

    def _cancel_in_loop(self) -> None:
        self._cancelled = True
        if self._workers is not None:
            self._workers.cancel()

    def wait(self, timeout: float | None = None) -> JobReport:
        """Block until the job ends; its report. An interrupt (Ctrl-C, a notebook cell's stop button)
        cancels the job before it is raised."""
        try:
            self._future.result(timeout)
        except KeyboardInterrupt:
            self.cancel()
            raise KeyboardInterrupt(self.report().summary().split("\n")[0]) from None
        return self.report()

    def __repr__(self) -> str:
        return f"<Job {self.report().summary()}>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        try:
            return self._progress_bundle(include, exclude)
        except ImportError:  # no ipywidgets (the notebook extra): text only
            return {"text/plain": repr(self)}

    def _progress_bundle(self, include: Any, exclude: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = JobProgress(self).box._repr_mimebundle_(include=include, exclude=exclude)
        bundle["text/plain"] = repr(self)
        return bundle

    def _report_html(self) -> str:
        r = self.report()
        rows = html.escape(r.summary().split("\n")[0])
        if r.errors:
            items = "".join(
                f"<tr><td><code>{html.escape(e.name)}</code></td><td>{e.status}</td><td>{html.escape(e.message[:300])}</td></tr>"
                for e in r.errors[:50]
            )
            rows += (
                f"<table style='font-size:small'><tr><th>object</th><th>status</th><th>message</th></tr>{items}</table>"
            )
        return rows


class JobProgress:
    """Progress bar and counters of an offline job, refreshed on a timer until it ends, then its report."""

    def __init__(self, job: Job) -> None:
        import ipywidgets as widgets  # the notebook extra: only where a job is displayed

        self.job = job
        total = max(job.report().total, 1)
        self.bar = widgets.IntProgress(value=0, min=0, max=total, description="objects")
        self.text = widgets.HTML()
        self.box = widgets.VBox([self.bar, self.text])
        self.refresh()
        if not job.finished:
            threading.Thread(target=self._tick, name=f"aisetl-job:{job.job_id}", daemon=True).start()

    def _tick(self) -> None:
        pause = threading.Event()
        while not self.job.finished:
            self.refresh()
            pause.wait(PROGRESS_SECONDS)
        self.refresh()

    def refresh(self) -> None:
        r = self.job.report()
        self.bar.value = r.done + r.failed
        style = "warning" if r.state == "cancelled" else "success" if self.job.finished else "info"
        self.bar.bar_style = "danger" if r.failed else style
        text = self.job._report_html()
        if not self.job.finished:  # saved mid-run, the notebook says when this was true, not "running"
            text = f"<i>as of {time.strftime('%H:%M:%S')}</i> " + text
        self.text.value = text
