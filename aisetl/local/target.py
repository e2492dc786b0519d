"""`LocalTarget`: an AIS storage target on 127.0.0.1, for driving ETL servers without a cluster.

Objects live on disk in the AIS FQN layout (`<mountpath>/@ais/<bucket>/%ob/<object>`), so file-path
mode (etl_fqn) reads real files whose paths contain `@` and `%ob`. A real HTTP server in a daemon
thread serves the ETL object route `/v1/etl/_object/<etl-name>/<secret>/<uname>` (GET, HEAD, PUT),
which AIS targets use both as the hpull source and as the direct-put destination.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

from .._exceptions import ETLCallError, ProtocolError
from ..notebook.serve import ServerHandle
from ..server.asgi import Receive, Scope, Send, read_body, send_response
from ..server.files import read_file
from ..server.thread import LoopThread, ServerThread
from ..wire import ETL_OBJECT_ROUTE, object_fqn, object_uname, parse_uname, path_escape
from .calls import RETRY_SLEEP, SOFT_RETRIES, HTTPComm, ObjectCall, WSComm, check_comm, http_pool
from .job import Job, JobSpec

Stage = ServerHandle | str


def stage_url(stage: Stage) -> str:
    """The URL of a pipeline stage: a server handle's, or the string given."""
    return stage.url if isinstance(stage, ServerHandle) else stage


# Bytes per body message when serving an object: large objects are streamed, not loaded whole.
SERVE_CHUNK = 1 << 20


@dataclass(frozen=True)
class Delivery:
    """One object PUT to this target through the ETL route (a direct put)."""

    name: str
    size: int
    query: dict[str, str]


def check_name(name: str) -> tuple[str, str]:
    """Split "bucket/object" and refuse names that could leave the bucket's folder."""
    bucket, sep, obj = name.partition("/")
    if not sep or not bucket or not obj:
        raise ValueError(f"object names are 'bucket/object', got {name!r}")
    if "\x00" in name or obj.startswith("/") or any(part in (".", "..") for part in obj.split("/")):
        raise ValueError(f"invalid object name {name!r}: no NUL, no leading '/', no '.' or '..' segments")
    return bucket, obj


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

    def fqn(self, name: str) -> str:
        bucket, obj = check_name(name)
        return object_fqn(self.mountpath, bucket, obj)

    def put(self, name: str, data: bytes) -> None:
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
        etl_args: str = "",
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
                raise KeyError(f"no object {name!r} on this target") from None
        check_comm(comm)
        stages = [stage_url(p) for p in pipeline]
        if comm == "hpull" and stages:
            raise ETLCallError(400, "inline transform pipeline not supported for hpull://")
        bucket, obj = check_name(name)
        data = None if fqn else self.get(name)
        if data is None and not os.path.isfile(self.fqn(name)):
            raise KeyError(f"no object {name!r} on this target")
        call = ObjectCall(bucket, obj, self.fqn(name), data, etl_args, ",".join(stages))
        return self.loop.run(self._inline(stage_url(etl), comm, call, obj_timeout))

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
        etl_args: str = "",
        soft_retries: int = SOFT_RETRIES,
        retry_sleep: float = RETRY_SLEEP,
    ) -> Job:
        """Offline transform of `src_bucket` (objects starting with `prefix`) into `dst_bucket`.

        `etl` is one server or a list (a pipeline). Each object goes to the first ETL with the other
        stages and the destination in Ais-Node-Url; `ext={"jpg": "png"}` renames extensions. Returns a
        `Job` at once: `job.wait()` blocks and returns the report. `soft_retries` and `retry_sleep`
        are AIS's (10, 1 s growing by 0.5 s); tests may lower them.
        """
        stages = [etl] if isinstance(etl, (str, ServerHandle)) else list(etl)
        names = self.list(src_bucket, prefix)
        spec = JobSpec(
            names=names,
            dst_bucket=dst_bucket,
            etl_urls=[stage_url(s) for s in stages],
            comm=comm,
            ext=ext,
            continue_on_error=continue_on_error,
            num_workers=num_workers,
            obj_timeout=obj_timeout,
            fqn=fqn,
            etl_args=etl_args,
            soft_retries=soft_retries,
            retry_sleep=retry_sleep,
        )
        return Job(self, spec)

    def _record_delivery(self, d: Delivery) -> None:
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
            raise KeyError(f"no object {name!r} on this target") from None

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


def _detail(status: int, text: str) -> tuple[int, bytes]:
    return status, json.dumps({"detail": text}).encode()


class TargetApp:
    """ASGI app of a LocalTarget: the ETL object route, as an AIS target serves it."""

    def __init__(self, target: LocalTarget) -> None:
        self.target = target

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        try:
            name = self.route(scope)
        except ProtocolError as exc:
            status, body = _detail(exc.status_code, str(exc))
            await send_response(send, status, body, [(b"content-type", b"application/json")])
            return
        method = scope["method"]
        if method == "PUT":
            await self.store(name, scope, receive, send)
        elif method in ("GET", "HEAD"):
            await self.serve_object(name, method == "HEAD", send)
        else:
            status, body = _detail(405, f"method {method} not allowed on the ETL object route")
            await send_response(send, status, body, [(b"allow", b"GET, HEAD, PUT")])

    def route(self, scope: Scope) -> str:
        # Split the raw path first: the uname is one escaped segment that may itself hold '/'.
        raw: str = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        prefix = ETL_OBJECT_ROUTE + "/"
        if not raw.startswith(prefix):
            raise ProtocolError(
                f"no route {raw!r}: this target serves {ETL_OBJECT_ROUTE}/<etl>/<secret>/<uname>", status_code=404
            )
        parts = raw[len(prefix) :].split("/", 2)
        if len(parts) != 3 or not parts[2]:
            raise ProtocolError(f"expected {ETL_OBJECT_ROUTE}/<etl>/<secret>/<uname>, got {raw!r}")
        if parts[1] != self.target.secret:
            raise ProtocolError(
                "wrong ETL secret: an ETL server's AIS_TARGET_URL must come from this target "
                "(tgt.ais_target_url(name), or serve(target=tgt))",
                status_code=403,
            )
        bucket, obj = parse_uname(unquote(parts[2]))
        try:
            check_name(f"{bucket}/{obj}")
        except ValueError as exc:
            raise ProtocolError(str(exc)) from None
        return f"{bucket}/{obj}"

    async def serve_object(self, name: str, head_only: bool, send: Send) -> None:
        path = self.target.fqn(name)
        try:
            f = open(path, "rb")
        except (FileNotFoundError, IsADirectoryError):
            status, body = _detail(404, f"object {name!r} does not exist")
            await send_response(send, status, body, [(b"content-type", b"application/json")])
            return
        with f:
            size = os.fstat(f.fileno()).st_size
            headers = [(b"content-type", b"application/octet-stream"), (b"content-length", str(size).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            if head_only:
                await send({"type": "http.response.body", "body": b""})
                return
            loop = asyncio.get_running_loop()
            while chunk := (
                f.read(SERVE_CHUNK) if size <= SERVE_CHUNK else await loop.run_in_executor(None, f.read, SERVE_CHUNK)
            ):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})

    async def store(self, name: str, scope: Scope, receive: Receive, send: Send) -> None:
        data = await read_body(receive)
        await asyncio.get_running_loop().run_in_executor(None, self.target.put, name, data)
        query: dict[str, Any] = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        self.target._record_delivery(Delivery(name, len(data), query))
        # 200 with an empty body: what an AIS target answers a direct put with (3.5).
        await send_response(send, 200, b"", [])
