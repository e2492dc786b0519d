"""A target of a LocalCluster: a `LocalTarget` that also serves the object API (`/v1/objects/...`).

The proxy redirects every object request here (307, as AIS does), and `get_reader(direct=True)` comes
here straight from the cluster map. A GET with `etl_name` is an inline transform: this target calls
its own server of that ETL (hpush, hpull or ws), as an AIS target calls the ETL pod beside it.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from email.utils import formatdate
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..._exceptions import ETLCallError
from ...server.asgi import Receive, Scope, Send, iter_body, send_response
from ...server.http11 import Pool
from ...server.thread import ServerThread
from ...wire import parse_uname
from ..calls import Answer, HTTPComm, ObjectCall, WSComm, http_pool
from ..target import LocalTarget, TargetApp, check_name
from .hrw import node_digest
from .http import AISHTTPError, Request, bad_request, bucket_missing, lifespan, object_missing, send_json, serve_http

# Bytes per body message when serving an object; larger files are read in a thread, chunk by chunk.
SERVE_CHUNK = 1 << 20

if TYPE_CHECKING:
    from .etl import ETL, ETLRegistry


class ClusterView(Protocol):
    """What a target needs of its cluster: the map, the buckets, placement and the ETLs."""

    etls: ETLRegistry

    def smap(self) -> dict[str, Any]: ...
    def has_bucket(self, name: str) -> bool: ...
    def owner(self, bucket: str, obj: str) -> ClusterTarget: ...


def inline_status(status: int) -> int:
    """What the client gets for an ETL failure: the ETL's 4xx as is, anything else as 400.

    AIS relays the pod's status; a 5xx would make the SDK retry the GET for about 90 s, so a failed
    transform is answered with a 4xx and its real status is kept in the message and in obj_errors.
    """
    return status if 400 <= status < 500 else 400


def byte_range(header: str, size: int) -> tuple[int, int]:
    """(start, length) of a single `Range: bytes=a-b` (or `a-`, `-n`) over `size` bytes; else a 416."""
    unit, _, spec = header.partition("=")
    first, dash, last = spec.strip().partition("-")
    try:
        if unit.strip() != "bytes" or not dash or "," in spec:
            raise ValueError
        if not first:
            start = max(size - int(last), 0)
            end = size - 1
        else:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
    except ValueError:
        raise AISHTTPError(416, f"range {header!r}: one range 'bytes=<first>-<last>' is served") from None
    if start < 0 or start > end:
        raise AISHTTPError(416, f"range {header!r} is outside the object's {size} bytes")
    return start, end - start + 1


class ClusterTarget(LocalTarget):
    """One target of a LocalCluster: its own folder, port and node ID; objects placed here by HRW."""

    def __init__(self, cluster: ClusterView, node_id: str, root: Path | None, secret: str) -> None:
        super().__init__(root, secret=secret)
        self.cluster = cluster
        self.node_id = node_id
        self._digest = node_digest(node_id)

    @property
    def id_digest(self) -> int:
        return self._digest

    @property
    def url(self) -> str:
        if self._thread is None:
            app = TargetNodeApp(self)
            self._thread = ServerThread(app, name=f"aisetl-target:{self.node_id}", log_level="warning").start()
        return self._thread.url

    def port_of(self) -> int:
        _ = self.url
        assert self._thread is not None
        return self._thread.port

    def buckets(self) -> list[str]:
        """Buckets that have a folder on this target (a cluster re-opened on the same root finds them)."""
        ais = Path(self.mountpath) / "@ais"
        return sorted(p.name for p in ais.iterdir() if p.is_dir()) if ais.is_dir() else []

    def __repr__(self) -> str:
        where = self._thread.url if self._thread is not None else "not serving"
        return f"<ClusterTarget {self.node_id} {where} {self.mountpath!r}>"


class TargetNodeApp:
    """The target's ASGI app: the object API here, the ETL object route (hpull, direct put) as LocalTarget's."""

    def __init__(self, target: ClusterTarget) -> None:
        self.target = target
        self.etl_route = TargetApp(target)
        self._client: Pool | None = None

    @property
    def node(self) -> str:
        return f"t[{self.target.node_id}]"

    @property
    def client(self) -> Pool:
        if self._client is None:
            self._client = http_pool(64)
        return self._client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            if self._client is not None:
                await self._client.aclose()
            return
        if scope["type"] != "http":
            return
        if scope["path"].startswith("/v1/etl/_object/"):
            await self.etl_route(scope, receive, send)
            return
        await serve_http(self.node, scope, receive, send, self.route)

    async def route(self, req: Request, send: Send) -> None:
        what = req.part(0)
        if what == "health":
            await send_response(send, 200, b"", [])
        elif what == "daemon" and req.query.get("what") == "smap":
            await send_json(send, self.target.cluster.smap())
        elif what == "objects":
            await self.objects(req, send)
        else:
            raise AISHTTPError(404, f"no route {req.scope['path']!r} on a target of this LocalCluster")

    async def objects(self, req: Request, send: Send) -> None:
        bucket, obj = req.part(1), req.rest(2)
        if not bucket or not obj:
            raise bad_request(f"expected /v1/objects/<bucket>/<object>, got {req.scope['path']!r}")
        check_name(f"{bucket}/{obj}")
        if not self.target.cluster.has_bucket(bucket):
            raise bucket_missing(bucket)
        method = req.method
        if method == "GET":
            await self.get(req, bucket, obj, send)
        elif method == "HEAD":
            await self.head(bucket, obj, send)
        elif method == "PUT":
            if "object_to" in req.query:
                await self.copy(req, bucket, obj, send)
            else:
                await self.store(req, bucket, obj, send)
        elif method == "DELETE":
            try:
                os.remove(self.target.fqn(f"{bucket}/{obj}"))
            except FileNotFoundError:
                raise object_missing(self.node, bucket, obj) from None
            await send_response(send, 200, b"", [])
        else:
            raise AISHTTPError(405, f"method {method} is not supported on objects")

    async def get(self, req: Request, bucket: str, obj: str, send: Send) -> None:
        fqn = self.target.fqn(f"{bucket}/{obj}")
        etl_name = req.query.get("etl_name", "")
        if etl_name:
            if not os.path.isfile(fqn):
                raise object_missing(self.node, bucket, obj)
            stages = [s for s in req.query.get("etl_pipeline", "").split(",") if s]
            body = await self.transform(bucket, obj, etl_name, stages, req.query.get("etl_args", ""))
            await send_response(send, 200, body, [(b"content-type", b"application/octet-stream")])
            return
        try:
            f = open(fqn, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise object_missing(self.node, bucket, obj) from None
        with f:
            size = os.fstat(f.fileno()).st_size
            status, start, length = 200, 0, size
            headers = [(b"content-type", b"application/octet-stream")]
            if "range" in req.headers:
                start, length = byte_range(req.headers["range"], size)
                status = 206
                headers.append((b"content-range", f"bytes {start}-{start + length - 1}/{size}".encode()))
            headers.append((b"content-length", str(length).encode()))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            f.seek(start)
            loop = asyncio.get_running_loop()
            while length > 0:
                n = min(SERVE_CHUNK, length)
                chunk = f.read(n) if size <= SERVE_CHUNK else await loop.run_in_executor(None, f.read, n)
                if not chunk:
                    break  # the file shrank while being served
                length -= len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})

    async def transform(self, bucket: str, obj: str, etl_name: str, stages: list[str], etl_args: str) -> bytes:
        """Inline ETL: this target's server of `etl_name` (and of each pipeline stage) transforms the object."""
        cluster = self.target.cluster
        etl = cluster.etls.running(etl_name)
        urls = [cluster.etls.running(s).url_on(self.target) for s in stages]
        if etl.spec.comm == "hpull" and urls:
            raise bad_request("inline transform pipeline not supported for hpull://")
        call = ObjectCall(bucket, obj, self.target.fqn(f"{bucket}/{obj}"), None, etl_args, ",".join(urls))
        size_in = self.target.size(f"{bucket}/{obj}")
        try:
            answer = await self.call(etl, call)
        except ETLCallError as exc:
            etl.record_error(None, f"ais://{bucket}/{obj}", exc.status, str(exc))
            raise AISHTTPError(inline_status(exc.status), f"{exc} (ETL {etl_name}, status {exc.status})") from None
        etl.count(size_in, len(answer.body))
        return answer.body

    async def call(self, etl: ETL, call: ObjectCall) -> Answer:
        url = etl.url_on(self.target)
        if etl.spec.comm == "ws":
            ws = WSComm(url)
            try:
                return await ws.send(call)
            finally:
                await ws.aclose()
        return await HTTPComm(self.client, url, etl.spec.comm, etl.spec.obj_timeout).send(call)

    async def head(self, bucket: str, obj: str, send: Send) -> None:
        try:
            st = os.stat(self.target.fqn(f"{bucket}/{obj}"))
        except (FileNotFoundError, NotADirectoryError):
            raise object_missing(self.node, bucket, obj) from None
        headers = [
            (b"content-length", str(st.st_size).encode()),
            (b"ais-present", b"true"),
            (b"ais-atime", str(int(st.st_atime_ns)).encode()),
            (b"ais-version", b"1"),
            (b"ais-location", f"{self.node}@{self.target.mountpath}".encode()),
            (b"last-modified", formatdate(st.st_mtime, usegmt=True).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    async def store(self, req: Request, bucket: str, obj: str, send: Send) -> None:
        """An object PUT: streamed to a temporary file, renamed into place when complete."""
        path = Path(self.target.fqn(f"{bucket}/{obj}"))
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, lambda: path.parent.mkdir(parents=True, exist_ok=True))
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            with open(tmp, "wb") as f:
                async for chunk in iter_body(req.receive):
                    if len(chunk) > SERVE_CHUNK:
                        await loop.run_in_executor(None, f.write, chunk)
                    else:
                        f.write(chunk)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        await send_response(send, 200, b"", [])

    async def copy(self, req: Request, bucket: str, obj: str, send: Send) -> None:
        """`object_to` (a copy, transformed when `etl_name` is given) to the target that owns the copy."""
        dst_uname = req.query["object_to"]
        provider, _, rest = dst_uname.partition("/")
        if provider != "ais":
            raise bad_request(f"object_to {dst_uname!r}: LocalCluster has ais:// buckets only")
        dst_bucket, dst_obj = parse_uname(dst_uname)
        check_name(f"{dst_bucket}/{dst_obj}")
        cluster = self.target.cluster
        if not cluster.has_bucket(dst_bucket):
            raise bucket_missing(dst_bucket)
        name = f"{bucket}/{obj}"
        if not os.path.isfile(self.target.fqn(name)):
            raise object_missing(self.node, bucket, obj)
        etl_name = req.query.get("etl_name", "")
        loop = asyncio.get_running_loop()
        if etl_name:
            data = await self.transform(bucket, obj, etl_name, [], req.query.get("etl_args", ""))
        else:
            data = await loop.run_in_executor(None, self.target.get, name)
        owner = cluster.owner(dst_bucket, dst_obj)
        await loop.run_in_executor(None, owner.put, f"{dst_bucket}/{dst_obj}", data)
        await send_response(send, 200, b"", [])
