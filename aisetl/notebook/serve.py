"""An ETL server inside the current process (a Jupyter kernel, a script, a test) and a client to drive it.

`serve()` runs the server class under uvicorn in a daemon thread and returns a `ServerHandle`: hpush
(`put`), hpull (`get`) and WebSocket (`ws`) calls shaped the way AIS makes them, with pipelines for
direct put. The server's settings (`serve(MODEL=...)` and its AIS_TARGET_URL) are an environment layer
(aisetl.api.environ): the server, its set-up hook, its transform and whatever they call see them in
os.environ, as in the container; the process environment is never written.

Servers are kept in a registry in this module (a re-run cell does not re-execute it), by name: a re-run
stops and joins the previous server of that name before starting the new one (its port can be bound
again at once: SO_REUSEADDR), and marks the old handle replaced, which says so when it is used.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, Union
from urllib.parse import quote, urlencode

import httpx

from ..api import features
from ..api.base import ETLServer
from ..api.environ import environ_layer
from ..server.config import uvicorn_options
from ..server.thread import ServerThread, http_url
from ..wire import (
    ENV_TARGET_URL,
    ETL_OBJECT_ROUTE,
    HEADER_NODE_URL,
    encode_control_message,
    encode_etl_args,
    object_query,
    object_uname,
    path_escape,
    websocket_url,
)
from .display import ETLResponse, as_etl_response
from .duplex import duplex_put, known_size
from .log import ServerLog
from .stages import check_target, pipeline_urls, setting_value

if TYPE_CHECKING:
    from .widget import StatusWidget

# Stand-in AIS_TARGET_URL for a server started without a target: nothing listens on port 9 (discard),
# so an hpull answers 502 naming the object instead of reaching some unrelated service.
NO_TARGET_URL = "http://127.0.0.1:9" + ETL_OBJECT_ROUTE + "/{name}/no-target"


class Target(Protocol):
    """What a served server needs of its AIS target (`aisetl.LocalTarget` is one)."""

    def ais_target_url(self, etl_name: str) -> str: ...
    def fqn(self, name: str) -> str: ...
    def destination(self, name: str, uuid: str = ..., owt: int = ...) -> str: ...


Stage = Union["ServerHandle", Target, str]
EtlArgs = str | Mapping[str, Any] | None

# Bodies up to this size go through httpx in one exchange; larger ones, files and iterables are sent
# while the reply is read (a streaming server answers as it reads: see duplex.py).
SMALL_BODY = 1 << 20

_servers: dict[str, ServerHandle] = {}
_registry_lock = threading.Lock()


class ServerHandle:
    """A running ETL server of this process, and the client calls to drive it as AIS would.

    ```python
    srv = Upper.serve()                   # 127.0.0.1, a free port
    srv.put(b"hello")                     # hpush: an httpx.Response, .content == b"HELLO"
    srv.get("bkt/obj")                    # hpull: the server GETs bkt/obj from its target
    srv.ws([b"a", b"b"])                  # WebSocket: one reply per object, in order
    srv.put(b"x", pipeline=[other, tgt])  # direct put through `other` to the target
    srv.stop()
    ```
    """

    def __init__(
        self,
        cls: type[ETLServer],
        name: str,
        target: Target | str | None,
        host: str,
        port: int,
        env: Mapping[str, str | None],
    ) -> None:
        self.cls = cls
        self.name = name
        self.target = target
        self.host = host
        self.port = port
        self.env = dict(env)
        self.server: ETLServer | None = None
        self._thread: ServerThread | None = None
        self._http: httpx.Client | None = None
        self._widget: StatusWidget | None = None
        self.replaced = False  # a later serve() of the same name took over
        self.target_url = ""  # the AIS_TARGET_URL it was started with
        self.log = ServerLog(name, shown=lambda: self._widget is not None and self._widget.shown)

    # --- lifecycle ---------------------------------------------------------------------------------

    def _target_url(self) -> str:
        if self.target is None:
            return os.environ.get(ENV_TARGET_URL) or NO_TARGET_URL.format(name=self.name)
        if isinstance(self.target, str):
            return self.target
        return self.target.ais_target_url(self.name)

    def start(self) -> ServerHandle:
        self.target_url = self._target_url()
        # The layer is set while the server is made and while its thread starts: the thread copies this
        # context, and its worker threads and tasks copy the thread's. So does the log (notebook/log.py).
        with environ_layer({ENV_TARGET_URL: self.target_url, **self.env}), self.log.running_in():
            server = self.cls()
            app = getattr(server, "app", None)
            if app is None:
                raise TypeError(f"{self.cls.__name__} has no ASGI app: serve() needs a FastAPIServer subclass")
            # log_level=None: uvicorn's log levels are process-wide; starting one server must not change the
            # logging of the others (docs/notebook-kernel-notes.md, section 2).
            options = uvicorn_options(log_level=None)
            thread = ServerThread(app, host=self.host, port=self.port, name=self.name, **options)
            thread.start()
        self.replaced = False
        self.server, self._thread, self.port = server, thread, thread.port
        if self._widget is not None:
            self._widget.attach(self)
        return self

    def stop(self) -> None:
        """Stop serving; returns when the server's thread is gone (about a second at most)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.stop()
        self.log.detach()
        if self._http is not None:
            self._http.close()
            self._http = None
        with _registry_lock:
            if _servers.get(self.name) is self:
                del _servers[self.name]
        if self._widget is not None:
            self._widget.refresh()

    def restart(self) -> ServerHandle:
        """Stop, construct the server class again (its environment re-read), serve on the same port."""
        self.stop()
        _register(self)
        return self.start()

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.running

    @property
    def state(self) -> str:
        """running, stopped, or replaced (by a later serve() of the same name)."""
        return "running" if self.running else "replaced" if self.replaced else "stopped"

    @property
    def url(self) -> str:
        return http_url(self.host, self.port)

    @property
    def ws_url(self) -> str:
        return websocket_url(self.url)

    @property
    def mode(self) -> str:
        return "streaming" if self.server is not None and self.server.use_streaming else "buffered"

    # --- client calls ------------------------------------------------------------------------------

    @property
    def http(self) -> httpx.Client:
        # One persistent client: building one costs ~20 ms, a request on it well under 1 ms.
        if self._http is None:
            self._http = httpx.Client(base_url=self.url, timeout=None)
        return self._http

    def check_running(self) -> None:
        """Raise, saying what to do, unless the server is running."""
        if self.replaced:
            raise RuntimeError(
                f"server {self.name!r} was replaced by a newer serve() of `{self.name}`; pass name= to keep both "
                "(or .restart() this one to take the name back)"
            )
        if not self.running:
            raise RuntimeError(f"server {self.name!r} is stopped: call .restart() to start it again")

    def pipeline_header(self, pipeline: Sequence[Stage] | Stage | None, path: str) -> str:
        """The `Ais-Node-Url` value for `pipeline`: handles and URLs as given, a LocalTarget as the
        destination of the object under the same name (`tgt.destination(name)` names another)."""
        return ",".join(pipeline_urls(pipeline, path))

    def put(
        self,
        data: bytes | str | BinaryIO | Iterable[bytes] = b"",
        path: str = "obj",
        etl_args: EtlArgs = "",
        pipeline: Sequence[Stage] | Stage | None = None,
        fqn: str | None = None,
        stream: bool = False,
    ) -> ETLResponse:
        """hpush: `PUT /<path>` with `data` as the body (str is sent UTF-8), as a target does.

        `data` may also be a binary file object or an iterable of bytes, produced while the reply comes
        back: large bodies are sent and answered at the same time (full duplex), so an object of any
        size streams through a streaming server. `stream=True` leaves the reply body unread: iterate
        `resp.iter_bytes()` (constant memory) or `resp.read()`. `fqn` sends that file path as `etl_fqn`
        (file-path mode, empty body) instead.
        """
        self.check_running()
        if not isinstance(data, (bytes, bytearray, memoryview, str, Iterable)) and not hasattr(data, "read"):
            raise TypeError(
                f"data is bytes, str, a binary file or an iterable of bytes, got {type(data).__name__}: "
                "the object's content, e.g. srv.put(b'...')"
            )
        params = object_query(encode_etl_args(etl_args), fqn)
        if fqn is not None:
            data = b""
        headers = {}
        if header := self.pipeline_header(pipeline, path):
            headers[HEADER_NODE_URL] = header
        body = data.encode() if isinstance(data, str) else data
        if isinstance(body, bytes) and len(body) <= SMALL_BODY and not stream:
            resp = self.http.put("/" + path.lstrip("/"), content=body, params=params, headers=headers)
            return as_etl_response(resp, pipeline=header)
        query = f"?{urlencode(params)}" if params else ""
        url = f"{self.url}/{quote(path.lstrip('/'), safe='/@')}{query}"
        resp = duplex_put(url, body, headers, known_size(body))
        if not stream:
            resp.read()
        return as_etl_response(resp, pipeline=header)

    def get(self, path: str, etl_args: EtlArgs = "", pipeline: Sequence[Stage] | Stage | None = None) -> ETLResponse:
        """hpull: `GET /<uname>` for object `path` ("bucket/object"); the server pulls it from its target."""
        self.check_running()
        bucket, _, obj = path.partition("/")
        if not obj:
            raise ValueError(f"hpull takes an object name 'bucket/object', got {path!r}")
        if self.target_url == NO_TARGET_URL.format(name=self.name):
            raise ValueError(
                f"server {self.name!r} has no target to pull {path!r} from: serve it with "
                "serve(target=LocalTarget()) (or an AIS_TARGET_URL)"
            )
        params = object_query(encode_etl_args(etl_args))
        headers = {}
        if header := self.pipeline_header(pipeline, path):
            headers[HEADER_NODE_URL] = header
        resp = self.http.get("/" + path_escape(object_uname(bucket, obj)), params=params, headers=headers)
        return as_etl_response(resp, pipeline=header)

    def ws(
        self,
        objects: Iterable[bytes | str],
        etl_args: EtlArgs = "",
        pipeline: Sequence[Stage] | Stage | None = None,
    ) -> list[bytes | str]:
        """WebSocket: every object sent before the first reply is read, as AIS pipelines them.

        A bytes item travels in a content frame; a str item names an object of the target
        ("bucket/object") and travels as its FQN. Returns one reply per object, in order: bytes
        (transformed), or str (a byte count when delivered by direct put, or an error text).
        """
        from websockets.sync.client import connect

        self.check_running()
        if isinstance(objects, (bytes, bytearray, memoryview, str)) or not isinstance(objects, Iterable):
            raise TypeError(f"ws() takes a list of objects, e.g. srv.ws([b'...']), got {type(objects).__name__}")
        args = encode_etl_args(etl_args)
        frames: list[tuple[bytes, bytes | None]] = []
        for i, item in enumerate(objects):
            fqn: str | None = None
            if isinstance(item, str):
                if self.target is None or isinstance(self.target, str):
                    raise ValueError(f"object {item!r} by name needs a target: serve(target=LocalTarget(...))")
                fqn, path, content = self.target.fqn(item), item.partition("/")[2], None
            else:
                path, content = f"obj-{i}", item
            header = self.pipeline_header(pipeline, path)
            frames.append((encode_control_message(path, fqn, args, header), content))
        with connect(self.ws_url, max_size=None, compression=None, open_timeout=10) as conn:
            for ctrl_frame, content in frames:
                conn.send(ctrl_frame)
                if content is not None:
                    conn.send(content)
            return [conn.recv() for _ in frames]

    # --- display -----------------------------------------------------------------------------------

    def check(self, data: bytes | None = None, etl_args: EtlArgs = "") -> Any:
        """Check this server against the AIS contract, as `aisetl check` does; a report that displays.

        With a LocalTarget as its target, hpull and direct put to a target are checked too (in a scratch
        bucket, removed afterwards). `data` and `etl_args`: check with a real object and real arguments.
        """
        self.check_running()
        return features.call("check", self, data=data, etl_args=encode_etl_args(etl_args))

    def __repr__(self) -> str:
        text = f"<ServerHandle {self.name!r} {self.state} at {self.url}, {self.cls.__name__} ({self.mode})"
        if self.server is not None:
            s = self.server.stats
            text += f", {s.objects} objects, {s.errors} errors"
        return text + ">"

    @property
    def widget(self) -> StatusWidget:
        """The live status widget (ipywidgets); created on first use."""
        if self._widget is None:
            from .widget import StatusWidget

            self._widget = StatusWidget(self)
        return self._widget

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        try:
            bundle: dict[str, Any] = self.widget._repr_mimebundle_(include=include, exclude=exclude)
        except ImportError:  # ipywidgets missing: plain text
            bundle = {}
        return {**bundle, "text/plain": repr(self)}


def _register(handle: ServerHandle) -> None:
    with _registry_lock:
        old = _servers.get(handle.name)
        _servers[handle.name] = handle
    if old is not None and old is not handle:
        old.replaced = True
        old.stop()  # joins its thread: the port is free again when this returns


def serve(
    cls: type[ETLServer],
    target: Target | str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    name: str | None = None,
    **env: object,
) -> ServerHandle:
    """Run `cls` in a daemon thread of this process; see `ServerHandle`.

    `target` is a LocalTarget (the server's AIS_TARGET_URL points at it) or an AIS_TARGET_URL string.
    `env` sets environment variables for this server only (`ETL_DIRECT_FQN=True`, `MODEL="resnet"`;
    None unsets one): the server, its set-up hook, its transform and what they call (subprocesses
    included) see them in os.environ / os.getenv, as in the container; the kernel's environment is not
    touched. A server of the same `name` (default: the class's ETL name) already running here is
    replaced: stopped first, its handle then says so.
    """
    # Every argument is checked before an old server of the same name is stopped: a mistake here must
    # not take down what is running.
    if not (isinstance(cls, type) and issubclass(cls, ETLServer)):
        raise TypeError(
            f"serve() takes an ETL server class (a FastAPIServer subclass or an @etl function), got {cls!r}"
        )
    check_target(target)
    settings = {key: setting_value(key, value) for key, value in env.items()}
    name = name or getattr(cls, "etl_name", None) or cls.__name__
    handle = ServerHandle(cls, name, target, host, port, settings)
    _register(handle)
    try:
        return handle.start()
    except BaseException:
        with _registry_lock:
            if _servers.get(name) is handle:
                del _servers[name]
        raise


def running_servers() -> dict[str, ServerHandle]:
    """The servers this process runs, by name."""
    with _registry_lock:
        return dict(_servers)


def stop_all() -> None:
    for handle in list(running_servers().values()):
        handle.stop()


# Daemon threads would otherwise be cut at interpreter exit without a graceful stop.
atexit.register(stop_all)


features.provide("serve", serve)
