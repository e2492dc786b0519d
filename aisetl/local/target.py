"""`LocalTarget`: an AIS storage target on 127.0.0.1, for driving ETL servers without a cluster.

Objects live on disk in the AIS FQN layout (`<mountpath>/@ais/<bucket>/%ob/<object>`), so file-path
mode (etl_fqn) reads real files whose paths contain `@` and `%ob`. A real HTTP server in a daemon
thread serves the ETL object route `/v1/etl/_object/<etl-name>/<secret>/<uname>` (GET, HEAD, PUT),
which AIS targets use both as the hpull source and as the direct-put destination.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path

from .._exceptions import ETLCallError
from ..notebook.serve import EtlArgs, ServerHandle
from ..notebook.stages import etl_url, etl_urls
from ..server.files import read_file
from ..server.thread import LoopThread, ServerThread
from ..wire import ETL_OBJECT_ROUTE, encode_etl_args, object_fqn, object_uname, path_escape
from .calls import RETRY_SLEEP, SOFT_RETRIES, HTTPComm, ObjectCall, WSComm, check_comm, http_pool
from .job import Job, JobSpec
from .target_app import Delivery, TargetApp, check_name

Stage = ServerHandle | str
__all__ = ["Delivery", "LocalTarget", "TargetApp", "check_name"]


def _missing(name: str) -> KeyError:
    bucket = name.partition("/")[0]
    return KeyError(f"no object {name!r} on this target: tgt.put({name!r}, data) first (tgt.list({bucket!r}) lists it)")


class LocalTarget:
    """An AIS target on this machine: objects on disk as AIS lays them out, and its ETL object route.

    `port` (default: a free one) and `secret` (default: random) fix its AIS_TARGET_URL in advance, for
    an ETL server started elsewhere.

    ```python
    tgt = LocalTarget()                      # objects in a temporary folder, removed by close()
    tgt.put("src/a.txt", b"hello")
    tgt.fqn("src/a.txt")                     # .../@ais/src/%ob/a.txt
    tgt.ais_target_url("my-etl")             # AIS_TARGET_URL for an ETL server, any process
    ```
    """

    def __init__(self, root: str | os.PathLike[str] | None = None, *, port: int = 0, secret: str | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="aisetl-target-") if root is None else None
        base = Path(self._tmp.name if self._tmp is not None else root)  # type: ignore[arg-type]
        self.mountpath = str((base / "mp1").resolve())
        os.makedirs(self.mountpath, exist_ok=True)
        self.secret = secret or secrets.token_hex(8)
        self.port = port
        self.deliveries: list[Delivery] = []
        self._delivered: dict[tuple[str, str], int] = {}  # (uuid, name) -> size
        self._lock = threading.Lock()
        self._thread: ServerThread | None = None
        self._loop: LoopThread | None = None
        self._jobs: weakref.WeakSet[Job] = weakref.WeakSet()
        self.closed = False

    @classmethod
    def from_dir(cls, path: str | os.PathLike[str]) -> LocalTarget:
        """A target holding the files under `path`: each top-level folder is a bucket."""
        tgt = cls()
        src = Path(path)
        if not src.is_dir():
            raise NotADirectoryError(f"LocalTarget.from_dir: {str(src)!r} is not a folder")
        for bucket_dir in sorted(p for p in src.iterdir() if p.is_dir()):
            for f in sorted(p for p in bucket_dir.rglob("*") if p.is_file()):
                name = f"{bucket_dir.name}/{f.relative_to(bucket_dir).as_posix()}"
                dst = Path(tgt.fqn(name))
                dst.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(f, dst)  # same file system: no copy
                except OSError:
                    shutil.copyfile(f, dst)
        return tgt

    # --- objects -----------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("this LocalTarget is closed: create a new one (tgt = LocalTarget())")

    def fqn(self, name: str) -> str:
        self._check_open()
        bucket, obj = check_name(name)
        return object_fqn(self.mountpath, bucket, obj)

    def put(self, name: str, data: bytes | str) -> None:
        """Store an object (str is stored UTF-8); readers never see half of it."""
        if isinstance(data, str):
            data = data.encode()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"an object's data is bytes or str, got {type(data).__name__}")
        path = Path(self.fqn(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # readers never see half an object

    def get(
        self,
        name: str,
        etl: Stage | None = None,
        comm: str = "hpush",
        etl_args: EtlArgs = "",
        pipeline: Sequence[Stage] = (),
        fqn: bool = True,
        obj_timeout: float | None = 45.0,
    ) -> bytes:
        """The object's bytes; with `etl`, transformed inline, as a client GET with etl_name.

        `etl` is an in-kernel server handle or the URL of any running ETL server. hpush sends the
        object's FQN with an empty body (`fqn=False`: the bytes), hpull the escaped uname, ws the
        control (+ content) frames; `pipeline` lists further ETL stages (Ais-Node-Url). An ETL error
        raises `ETLCallError` with the status and the text AIS would report.
        """
        if etl is None:
            try:
                return read_file(self.fqn(name))
            except FileNotFoundError:
                raise _missing(name) from None
        check_comm(comm)
        url = etl_url(etl)
        stages = [etl_url(p, "pipeline stage") for p in pipeline]
        if comm == "hpull" and stages:
            raise ETLCallError(400, "inline transform pipeline not supported for hpull://")
        if comm == "hpull" and isinstance(etl, ServerHandle) and etl.target is not self:
            raise ValueError(
                f"server {etl.name!r} pulls objects from its own target, not from this one: serve it with "
                "serve(target=this target) to transform this target's objects over hpull"
            )
        bucket, obj = check_name(name)
        data = None if fqn else self.get(name)
        if data is None and not os.path.isfile(self.fqn(name)):
            raise _missing(name)
        call = ObjectCall(bucket, obj, self.fqn(name), data, encode_etl_args(etl_args), ",".join(stages))
        return self.loop.run(self._inline(url, comm, call, obj_timeout))

    async def _inline(self, etl_url: str, comm: str, call: ObjectCall, obj_timeout: float | None) -> bytes:
        if comm == "ws":
            ws = WSComm(etl_url)
            try:
                answer = await ws.send(call)
            finally:
                await ws.aclose()
        else:
            client = http_pool(1)
            try:
                answer = await HTTPComm(client, etl_url, comm, obj_timeout).send(call)
            finally:
                await client.aclose()
        return answer.body

    def transform(
        self,
        src_bucket: str,
        dst_bucket: str,
        etl: Stage | Sequence[Stage],
        comm: str = "hpush",
        prefix: str = "",
        ext: dict[str, str] | None = None,
        continue_on_error: bool = False,
        num_workers: int = 4,
        obj_timeout: float | None = 45.0,
        fqn: bool = True,
        etl_args: EtlArgs = "",
        soft_retries: int = SOFT_RETRIES,
        retry_sleep: float = RETRY_SLEEP,
    ) -> Job:
        """Offline transform of `src_bucket` (objects starting with `prefix`) into `dst_bucket`.

        `etl` is one server or a list (a pipeline). Each object goes to the first ETL with the other
        stages and the destination in Ais-Node-Url; `ext={"jpg": "png"}` renames extensions. Returns a
        `Job` at once: `job.wait()` blocks and returns the report. `soft_retries` and `retry_sleep`
        are AIS's (10, 1 s growing by 0.5 s); tests may lower them.
        """
        urls = etl_urls(etl)
        if not urls:
            raise ValueError("an offline transform needs at least one ETL server: etl=srv or etl=[srv, ...]")
        check_comm(comm)
        names = self.list(src_bucket, prefix)
        if not names:
            buckets = ", ".join(sorted({n.partition("/")[0] for n in self})) or "none"
            raise ValueError(
                f"no objects in bucket {src_bucket!r}"
                + (f" starting with {prefix!r}" if prefix else "")
                + f": tgt.put('{src_bucket}/name', data) first; buckets here: {buckets}"
            )
        spec = JobSpec(
            names=names,
            dst_bucket=dst_bucket,
            etl_urls=urls,
            comm=comm,
            ext=ext,
            continue_on_error=continue_on_error,
            num_workers=num_workers,
            obj_timeout=obj_timeout,
            fqn=fqn,
            etl_args=encode_etl_args(etl_args),
            soft_retries=soft_retries,
            retry_sleep=retry_sleep,
        )
        job = Job(self, spec)
        self._jobs.add(job)
        return job

    def record_delivery(self, d: Delivery) -> None:
        with self._lock:
            self.deliveries.append(d)
            self._delivered[(d.query.get("uuid", ""), d.name)] = d.size

    def size(self, name: str) -> int:
        return os.path.getsize(self.fqn(name))

    def delivered_size(self, job_id: str, name: str) -> int | None:
        """Size of `name` as delivered to this target by job `job_id` (its uuid), None if never."""
        with self._lock:
            return self._delivered.get((job_id, name))

    @property
    def loop(self) -> LoopThread:
        """The event loop this target's client work (inline calls, jobs) runs on."""
        if self._loop is None:
            self._loop = LoopThread("aisetl-target-client")
        return self._loop

    def delete(self, name: str) -> None:
        try:
            os.remove(self.fqn(name))
        except FileNotFoundError:
            raise _missing(name) from None

    def list(self, bucket: str, prefix: str = "") -> list[str]:
        """Names ("bucket/object") of the bucket's objects starting with `prefix`, sorted."""
        root = Path(object_fqn(self.mountpath, bucket, ""))
        if not root.is_dir():
            return []
        names = (
            f"{bucket}/{p.relative_to(root).as_posix()}"
            for p in root.rglob("*")
            if p.is_file() and not p.name.endswith(".tmp")
        )
        return sorted(n for n in names if n.startswith(f"{bucket}/{prefix}"))

    def __contains__(self, name: str) -> bool:
        return os.path.isfile(self.fqn(name))

    def __iter__(self) -> Iterator[str]:
        ais = Path(self.mountpath) / "@ais"
        buckets = sorted(p.name for p in ais.iterdir()) if ais.is_dir() else []
        for bucket in buckets:
            yield from self.list(bucket)

    # --- the HTTP side -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The target's base URL (its server starts on first use)."""
        self._check_open()
        if self._thread is None:
            self._thread = ServerThread(
                TargetApp(self), port=self.port, name="aisetl-target", log_level="warning"
            ).start()
        return self._thread.url

    def destination(self, name: str, uuid: str = "local-xact", owt: int = 4) -> str:
        """The `Ais-Node-Url` entry AIS gives an ETL to deliver object `name` to this target."""
        try:
            bucket, obj = check_name(name)
        except ValueError as exc:
            raise ValueError(f"{exc}: name the destination object with tgt.destination('bucket/object')") from None
        return f"{self.url}/{path_escape(object_uname(bucket, obj))}?uuid={uuid}&owt={owt}"

    def ais_target_url(self, etl_name: str) -> str:
        """The AIS_TARGET_URL an ETL server named `etl_name` gets from this target."""
        return f"{self.url}{ETL_OBJECT_ROUTE}/{etl_name}/{self.secret}"

    def close(self) -> None:
        """Cancel its running jobs, stop serving, remove a temporary folder; the target is unusable after."""
        for job in list(self._jobs):
            job.cancel()
        for job in list(self._jobs):
            job.wait(timeout=10)
        self.closed = True
        if self._loop is not None:
            self._loop.stop()
            self._loop = None
        if self._thread is not None:
            self._thread.stop()
            self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> LocalTarget:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self._thread.url if self._thread is not None else "not serving yet"
        return f"<LocalTarget {self.mountpath!r} {where}>"
