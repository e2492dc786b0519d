"""The proxy of a LocalCluster: the endpoint the SDK's `Client(url)` talks to.

Routes as the AIS proxy serves them (see docs/ais-sdk-rest.md): the cluster map and health,
buckets (with msgpack list-objects paging), object requests redirected (307) to the HRW owner, the
ETL lifecycle, offline jobs and their status. Anything slow (starting servers, walking folders) runs
in a thread, so the proxy keeps answering.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from ...server.asgi import Receive, Scope, Send, send_response
from .http import (
    AISHTTPError,
    Request,
    bad_request,
    bucket_missing,
    lifespan,
    send_json,
    send_text,
    serve_http,
)
from .listing import list_page

if TYPE_CHECKING:
    from .etl import ETL, ETLRegistry
    from .jobs import JobRegistry
    from .target import ClusterTarget


class ProxyCluster(Protocol):
    """The cluster as its proxy serves it (LocalCluster is one)."""

    proxy_id: str
    images: dict[str, Any]
    etls: ETLRegistry
    jobs: JobRegistry
    targets: list[ClusterTarget]

    def smap(self) -> dict[str, Any]: ...
    def bucket_names(self) -> list[str]: ...
    def has_bucket(self, name: str) -> bool: ...
    def create_bucket(self, name: str) -> bool: ...
    def destroy_bucket(self, name: str) -> bool: ...
    def owner(self, bucket: str, obj: str) -> ClusterTarget: ...
    def start_job(self, action: str, src: str, value: dict[str, Any], bck_to: str) -> str: ...
    def etl_metrics(self, etl: ETL) -> dict[str, Any]: ...


T = TypeVar("T")
_BUCKET = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
JOB_ACTIONS = ("etl-bck", "etl-listrange", "copy-bck", "copy-listrange")


def check_bucket_name(name: str) -> str:
    if not _BUCKET.match(name) or name in (".", ".."):
        raise bad_request(f"invalid bucket name {name!r}: 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'")
    return name


def check_provider(req: Request) -> None:
    provider = req.query.get("provider", "ais")
    if provider not in ("ais", ""):
        raise bad_request(f"provider {provider!r}: a LocalCluster has ais:// buckets only")


async def in_thread(func: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(None, func, *args)


class ProxyApp:
    def __init__(self, cluster: ProxyCluster) -> None:
        self.cluster = cluster

    @property
    def node(self) -> str:
        return f"p[{self.cluster.proxy_id}]"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
        elif scope["type"] == "http":
            await serve_http(self.node, scope, receive, send, self.route)

    async def route(self, req: Request, send: Send) -> None:
        what = req.part(0)
        if what == "daemon":
            if req.query.get("what") != "smap":
                raise bad_request(f"GET /v1/daemon?what={req.query.get('what', '')}: only what=smap is served")
            await send_json(send, self.cluster.smap())
        elif what == "health":
            await send_response(send, 200, b"", [])
        elif what == "buckets":
            await self.buckets(req, send)
        elif what == "objects":
            await self.redirect(req, send)
        elif what == "etl":
            await self.etl(req, send)
        elif what == "cluster":
            await self.jobs(req, send)
        else:
            raise AISHTTPError(404, f"no route {req.scope['path']!r} on this LocalCluster proxy")

    # --- buckets -----------------------------------------------------------------------------------

    async def buckets(self, req: Request, send: Send) -> None:
        check_provider(req)
        cluster = self.cluster
        name = req.part(1)
        if not name:
            if req.method != "GET":
                raise AISHTTPError(405, f"{req.method} /v1/buckets: list buckets is GET")
            names = cluster.bucket_names()
            await send_json(
                send, [{"name": n, "provider": "ais", "namespace": {"uuid": "", "name": ""}} for n in names]
            )
            return
        check_bucket_name(name)
        if req.method == "HEAD":
            if not cluster.has_bucket(name):
                raise bucket_missing(name)
            await send_response(send, 200, b"", [(b"ais-bucket-props", b'{"provider":"ais"}')])
            return
        action, value = await req.action()
        if req.method == "POST" and action == "create-bck":
            if not cluster.create_bucket(name):
                raise AISHTTPError(409, f'bucket "ais://{name}" already exists')
            await send_response(send, 200, b"", [])
        elif req.method == "DELETE" and action == "destroy-bck":
            if not await in_thread(cluster.destroy_bucket, name):
                raise bucket_missing(name)
            await send_response(send, 200, b"", [])
        elif req.method == "GET" and action == "list":
            if not cluster.has_bucket(name):
                raise bucket_missing(name)
            body = await in_thread(list_page, cluster.targets, name, value or {})
            await send_response(send, 200, body, [(b"content-type", b"application/msgpack")])
        elif req.method == "POST" and action in JOB_ACTIONS:
            if not cluster.has_bucket(name):
                raise bucket_missing(name)
            job_id = await in_thread(cluster.start_job, action, name, value or {}, req.query.get("bck_to", ""))
            await send_text(send, job_id)
        else:
            raise bad_request(
                f"{req.method} /v1/buckets/{name} with action {action!r} is not supported by LocalCluster"
            )

    # --- objects -----------------------------------------------------------------------------------

    async def redirect(self, req: Request, send: Send) -> None:
        """307 to the target that owns the object, as the AIS proxy answers (requests follows it)."""
        check_provider(req)
        bucket, obj = req.part(1), req.rest(2)
        if not bucket or not obj:
            raise bad_request(f"expected /v1/objects/<bucket>/<object>, got {req.scope['path']!r}")
        if not self.cluster.has_bucket(bucket):
            raise bucket_missing(bucket)
        owner = self.cluster.owner(bucket, obj)
        raw_path = req.scope.get("raw_path", req.scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        query = req.scope.get("query_string", b"").decode("latin-1")
        query = f"{query}&pid={self.cluster.proxy_id}" if query else f"pid={self.cluster.proxy_id}"
        location = f"{owner.url}{raw_path}?{query}"
        await send_response(send, 307, b"", [(b"location", location.encode("latin-1"))])

    # --- ETL -----------------------------------------------------------------------------------------

    async def etl(self, req: Request, send: Send) -> None:
        etls = self.cluster.etls
        name, verb = req.part(1), req.part(2)
        if not name:
            if req.method == "PUT":
                msg = await req.json()
                await send_text(send, await in_thread(etls.init, msg, self.cluster.images))
            elif req.method == "GET":
                await send_json(send, [e.info() for e in etls.all()])
            else:
                raise AISHTTPError(405, f"{req.method} /v1/etl: PUT initialises an ETL, GET lists them")
            return
        if req.method == "GET" and not verb:
            job_id = req.query.get("uuid", "")
            job = self.cluster.jobs.find(job_id) if job_id else None
            await send_json(send, etls.get(name).details(job.obj_errors() if job is not None else None))
        elif req.method == "DELETE" and not verb:
            await in_thread(etls.delete, name)
            await send_response(send, 200, b"", [])
        elif req.method == "POST" and verb == "stop":
            await in_thread(etls.stop, name)
            await send_response(send, 200, b"", [])
        elif req.method == "POST" and verb == "start":
            await send_text(send, await in_thread(etls.start, name))
        elif req.method == "GET" and verb == "logs":
            await send_json(send, etls.get(name).logs(req.part(3)))
        elif req.method == "GET" and verb == "health":
            etl = etls.get(name)
            await send_json(send, [{"target_id": t, "status": etl.stage} for t in etl.logs_kept])
        elif req.method == "GET" and verb == "metrics":
            await send_json(send, self.cluster.etl_metrics(etls.get(name)))
        else:
            raise AISHTTPError(404, f"no route {req.method} {req.scope['path']!r}")

    # --- jobs ----------------------------------------------------------------------------------------

    async def jobs(self, req: Request, send: Send) -> None:
        jobs = self.cluster.jobs
        if req.method == "PUT":
            action, value = await req.action()
            if action != "stop" or not isinstance(value, dict):
                raise bad_request(f"PUT /v1/cluster: action {action!r} is not supported by LocalCluster (stop is)")
            jobs.get(str(value.get("ID", ""))).abort("aborted by the client")
            await send_response(send, 200, b"", [])
            return
        if req.method != "GET":
            raise AISHTTPError(405, f"{req.method} /v1/cluster is not supported by LocalCluster")
        what = req.query.get("what", "")
        args = await req.json() or {}
        if not isinstance(args, dict):
            raise bad_request('expected the job query {"ID": ..., "Kind": ...} as the body')
        job_id, kind = str(args.get("ID") or ""), str(args.get("Kind") or args.get("kind") or "")
        selected = [j for j in jobs.all() if (not job_id or j.id == job_id) and (not kind or j.kind == kind)]
        if what == "status":
            await send_json(send, jobs.get(job_id).status())
        elif what == "qryxstats":
            if not selected:
                raise AISHTTPError(404, f'job "{job_id}" not found')
            merged: dict[str, list[dict[str, Any]]] = {}
            for job in selected:
                for tid, snaps in job.snapshots().items():
                    merged.setdefault(tid, []).extend(snaps)
            await send_json(send, merged)
        elif what == "running_all":
            await send_json(send, [f"{j.kind}[{j.id}]" for j in selected if not j.finished])
        elif what == "status_all":
            await send_json(send, [j.status() for j in selected if not args.get("show_active") or not j.finished])
        else:
            raise bad_request(
                f"GET /v1/cluster?what={what}: LocalCluster serves status, qryxstats, running_all, status_all"
            )
