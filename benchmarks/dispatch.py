"""CPU time per object request of each way into the server, in one process, without sockets.

wrk over loopback measures everything (uvicorn, the kernel, the load generator) and, on a shared
machine, everyone else's load too. This measures only what the app adds: the same 1 KiB hpush request
is handed to each ASGI app below many times, and the process CPU time (not wall time, so that other
processes' load counts less) per request is reported, the best of several interleaved rounds.

    raw          the raw handler (`server.app.etl`, what `.app` was before it became a FastAPI app)
    fast path    `server.app`, nothing added: the set lookup, then the raw handler
    + route      `server.app` with a fixed-path user route (/metrics): still the fast path
    + asgi mw    a pure ASGI middleware added (`add_middleware`): through FastAPI's stack and router
    + http mw    `@app.middleware("http")` (BaseHTTPMiddleware): through FastAPI, Request/Response built

The transform is `async def` (no worker-thread hop), so the figures are the dispatch costs themselves;
`--sync` uses a plain `def transform`, as the wrk rows do.

    AIS_TARGET_URL=http://127.0.0.1:9/v1/etl/_object/x/y python benchmarks/dispatch.py [--requests 20000] [--sync]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

os.environ.setdefault("AIS_TARGET_URL", "http://127.0.0.1:9/v1/etl/_object/bench/secret")

from aisetl import FastAPIServer

BODY = b"a" * 1024


class Identity(FastAPIServer):
    async def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:  # type: ignore[override]
        assert isinstance(data, bytes)
        return data


class SyncIdentity(FastAPIServer):
    """A plain `def transform`: each object also takes the hop to a worker thread and back (--sync)."""

    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        assert isinstance(data, bytes)
        return data


class PassThrough:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def apps(cls: type[FastAPIServer]) -> dict[str, Any]:
    plain = cls()
    routed = cls()
    routed.app.add_api_route("/metrics", lambda: {"ok": True})
    asgi_mw = cls()
    asgi_mw.app.add_middleware(PassThrough)
    http_mw = cls()

    @http_mw.app.middleware("http")
    async def pass_through(request: Any, call_next: Any) -> Any:
        return await call_next(request)

    assert plain.fast_path and routed.fast_path and not asgi_mw.fast_path and not http_mw.fast_path
    return {
        "raw": plain.app.etl,
        "fast path": plain.app,
        "+ route": routed.app,
        "+ asgi mw": asgi_mw.app,
        "+ http mw": http_mw.app,
    }


async def drive(app: Any, n: int) -> float:
    """CPU seconds per request over `n` hpush requests."""
    headers = [(b"host", b"127.0.0.1"), (b"content-length", b"1024")]
    sent: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent.append(message["status"])

    start = time.process_time()
    for _ in range(n):
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "PUT",
            "scheme": "http",
            "path": "/bkt/obj",
            "raw_path": b"/bkt/obj",
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 8000),
        }
        await app(scope, receive, send)
    elapsed = time.process_time() - start
    assert sent == [200] * n, set(sent)
    return elapsed / n


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sync", action="store_true", help="a plain def transform (worker-thread hop)")
    args = parser.parse_args()
    candidates = apps(SyncIdentity if args.sync else Identity)
    best = {name: float("inf") for name in candidates}
    for _ in range(args.rounds):
        for name, app in candidates.items():  # interleaved: a burst of load from elsewhere hits all alike
            best[name] = min(best[name], await drive(app, args.requests))
    raw = best["raw"]
    print(f"{args.requests} requests x {args.rounds} rounds, best round, CPU time per 1 KiB hpush request:")
    for name, seconds in best.items():
        print(f"  {name:10} {seconds * 1e6:7.2f} us  ({seconds / raw:.3f}x raw, {1 / seconds:,.0f} req/s of CPU)")


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
