"""`ETLFastAPI`: the server's `.app`, a real FastAPI app whose object requests cost what the raw handler costs.

The object routes (GET /health, GET and PUT /<path>, WebSocket /ws) are served by `ETLApp`, the raw ASGI
handler, as the router's *default*: what no route claims. So every route the user adds
(`app.get("/metrics")`) wins over the catch-all object path, in any order, and FastAPI's own routes
(/docs, /openapi.json) are ordinary routes.

Two paths, chosen per request by a set lookup:

* fast path, while nothing the user added must see object requests: a request whose path no route
  claims goes straight to `ETLApp`, with no FastAPI routing, middleware or Request/Response objects.
  Routes with fixed paths (/metrics, /docs) do not stop it: their paths are looked up in a set.
* through FastAPI, once there is a user middleware (`app.middleware("http")`, `add_middleware`), a route
  whose path has parameters or a mount (it may match an object path), or FastAPI's native telemetry is
  on: every request goes through FastAPI's middleware stack and router, and reaches `ETLApp` as the
  router's default.

Which one is in use is `fast_path` (re-checked whenever the number of routes or middleware changes).
Errors keep the AIS shape either way: `ETLApp` answers its own; an exception a user route or
middleware raises is answered 500 with a JSON `{"detail": ...}` body, as AIS logs it.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from .._version import __version__
from .app import ETLApp
from .asgi import ABORT_SIGNAL, AbortSignal, Message, Receive, ResponseAbortedError, Scope, Send
from .openapi import etl_paths, merge_paths
from .output import error_detail
from .transforms import Transformer

_SHUTDOWN_DONE = ("lifespan.shutdown.complete", "lifespan.shutdown.failed")


def describe(server: Transformer) -> tuple[str, str]:
    """Title and description of the OpenAPI document: the ETL's name, and the server class's own
    docstring (an `@etl` function's docstring becomes its class's)."""
    cls = type(server)
    title = getattr(cls, "etl_name", "") or cls.__name__
    doc = cls.__dict__.get("__doc__")
    description = inspect.cleandoc(doc) if doc else f"AIS ETL server `{cls.__qualname__}`."
    return title, description


class ETLFastAPI(FastAPI):
    """The FastAPI app of one ETL server; `etl` is the raw handler that serves the object routes."""

    def __init__(self, server: Transformer, **options: Any) -> None:
        title, description = describe(server)
        super().__init__(title=title, description=description, version=__version__, **options)
        self.etl = ETLApp(server)
        self._etl_http = self.etl.http  # bound once: the fast path calls it for every object
        self.router.default = self.serve_object
        self.add_exception_handler(Exception, self._answer_error)
        self._openapi_merged: dict[str, Any] | None = None
        # What the fast-path decision was made from, and its result: the paths routes claim, or None
        # when every request must go through FastAPI.
        self._seen_routes = -1
        self._seen_middleware = -1
        self._claimed: frozenset[str] | None = None

    def __getattr__(self, name: str) -> Any:
        # `.app` was the raw handler before it was a FastAPI app: its attributes (`stats`, `settings`,
        # `large_objects`, `client`...) stay reachable there. Only names FastAPI does not have get here.
        etl = self.__dict__.get("etl")
        if etl is None or name.startswith("__") or not hasattr(etl, name):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return getattr(etl, name)

    # --- ASGI --------------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http" or kind == "websocket":
            # Two len() calls per request notice a route or middleware added since the last decision.
            if len(self.router.routes) != self._seen_routes or len(self.user_middleware) != self._seen_middleware:
                self._decide()
            claimed = self._claimed
            if claimed is not None and scope["path"] not in claimed:
                # Straight to the raw handler (not through serve_object: one coroutine less per object).
                if kind == "http":
                    await self._etl_http(scope, receive, send)
                else:
                    await self.etl.websocket(scope, receive, send)
                return
            if kind == "http":
                await super().__call__(scope, receive, self._never_completing_aborted(scope, send))
                return
        elif kind == "lifespan":
            self._seen_routes = -1  # decide again at start-up: telemetry may have been configured since
            await super().__call__(scope, receive, self._closing_on_shutdown(send))
            return
        await super().__call__(scope, receive, send)

    async def serve_object(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The object routes: directly on the fast path, as the router's default through FastAPI."""
        if scope["type"] == "http":
            await self.etl.http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self.etl.websocket(scope, receive, send)

    @staticmethod
    def _never_completing_aborted(scope: Scope, send: Send) -> Send:
        """`send` for a request going through FastAPI: when the raw handler aborted its response (a stream
        broke off), the closing chunk a middleware would add is refused, so that uvicorn closes the
        connection and the client sees a truncated body, not a complete wrong one."""
        signal = scope[ABORT_SIGNAL] = AbortSignal()

        async def send_unless_aborted(message: Message) -> None:
            if signal.aborted and message["type"] == "http.response.body" and not message.get("more_body"):
                raise ResponseAbortedError("the response was aborted: not completing it")
            await send(message)

        return send_unless_aborted

    def _closing_on_shutdown(self, send: Send) -> Send:
        """`send` for the lifespan: the raw handler's connections and threads are released before uvicorn
        hears that shutdown is complete, whatever lifespan the user set."""

        async def send_after_cleanup(message: Message) -> None:
            if message["type"] in _SHUTDOWN_DONE:
                await self.etl.aclose()
            await send(message)

        return send_after_cleanup

    # --- fast path -----------------------------------------------------------------------------------

    @property
    def fast_path(self) -> bool:
        """True while object requests skip FastAPI (no user middleware, no route that may match an
        object path, no native telemetry)."""
        self._decide()
        return self._claimed is not None

    def _decide(self) -> None:
        self._seen_routes = len(self.router.routes)
        self._seen_middleware = len(self.user_middleware)
        self._claimed = self._claimed_paths()

    def _claimed_paths(self) -> frozenset[str] | None:
        if self.user_middleware or self._telemetry_enabled():
            return None
        if getattr(self.router, "_low_priority_routes", None):  # FastAPI's frontend (SPA fallback) routes
            return None
        paths: set[str] = set()
        for route in self.router.routes:
            path = getattr(route, "path", None)
            if not isinstance(route, (Route, WebSocketRoute)) or not isinstance(path, str) or "{" in path:
                return None  # a mount, an included router or a parameter: it may match object paths
            paths.add(path)
            if self.router.redirect_slashes:  # FastAPI answers the other spelling with a redirect
                paths.add(path[:-1] if path.endswith("/") else path + "/")
        return frozenset(paths)

    def _telemetry_enabled(self) -> bool:
        telemetry = getattr(self, "_native_telemetry", None)
        return bool(telemetry is not None and telemetry.enabled())

    # --- OpenAPI and errors ----------------------------------------------------------------------------

    def openapi(self) -> dict[str, Any]:
        """FastAPI's schema of the user's routes, with the object routes of the raw handler added."""
        schema = super().openapi()
        if schema is not self._openapi_merged:  # FastAPI made a new one (first call, or routes changed)
            mime_type = self.etl.content_type[1].decode("latin-1")
            self._openapi_merged = self.openapi_schema = merge_paths(schema, etl_paths(mime_type))
        return self._openapi_merged

    async def _answer_error(self, request: Request, exc: Exception) -> Response:
        """A user route or middleware raised: 500 with the JSON body AIS logs. FastAPI's error middleware
        re-raises afterwards, so that uvicorn logs the traceback; the widget counts it here."""
        path = request.url.path
        self.etl.stats.record_error("http", path.lstrip("/"), 500, exc)
        return JSONResponse({"detail": f"{request.method} {path} failed: {error_detail(exc)}"}, status_code=500)
