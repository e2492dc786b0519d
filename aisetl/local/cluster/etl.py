"""ETLs of a LocalCluster: the init message, one server per target, stages, errors, counters, logs.

As in AIS, `PUT /v1/etl` starts the ETL's server on every target (here: a uvicorn thread per target,
its AIS_TARGET_URL pointing at that target) and answers when all are up; `stop` stops them and moves
the stage to Aborted, `start` starts them again, `delete` stops and forgets the ETL.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import secrets
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ...server.config import uvicorn_options
from ...server.thread import ServerThread
from ...ship.engine import BuiltImage
from .containers import ContainerInstance
from .http import AISHTTPError, bad_request
from .images import construct, resolve

COMMS = ("hpush", "hpull", "ws")
LOG_LINES = 1000
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: object, what: str) -> float:
    """A Go duration ("45s", "5m", "1m30s"; a bare number is seconds) in seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    if not text or _DURATION.sub("", text) != "":
        raise bad_request(f"{what} {value!r} is not a duration like '45s' or '5m'")
    return sum(float(n) * _UNITS[unit] for n, unit in _DURATION.findall(text))


@dataclass(frozen=True)
class ETLSpec:
    """The init message (ETLSpecMsg) as sent, and what it means here."""

    name: str
    comm: str
    obj_timeout: float
    direct_put: bool
    image: str
    env: dict[str, str]
    message: dict[str, Any]

    @classmethod
    def parse(cls, msg: object) -> ETLSpec:
        if not isinstance(msg, dict):
            raise bad_request("expected the ETL init message (JSON object) as the body of PUT /v1/etl")
        name = msg.get("name")
        if not isinstance(name, str) or not 6 <= len(name) <= 32 or not _NAME.match(name):
            raise bad_request(f"invalid ETL name {name!r}: 6 to 32 characters of a-z, 0-9 and '-'")
        comm = str(msg.get("communication", "hpush://")).removesuffix("://")
        if comm not in COMMS:
            raise bad_request(f"ETL {name}: unsupported communication {msg.get('communication')!r} (hpush, hpull, ws)")
        direct_put = bool(msg.get("support_direct_put", False))
        if comm == "ws" and not direct_put:
            raise bad_request(f"ETL {name}: ws:// communication requires support_direct_put")
        runtime = msg.get("runtime")
        if not isinstance(runtime, dict) or not isinstance(runtime.get("image"), str) or not runtime["image"]:
            raise bad_request(f"ETL {name}: the init message needs runtime.image")
        env: dict[str, str] = {}
        for item in runtime.get("env") or []:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise bad_request(f"ETL {name}: runtime.env entries are {{'name': ..., 'value': ...}}")
            env[item["name"]] = str(item.get("value", ""))
        obj_timeout = parse_duration(msg.get("obj_timeout") or "45s", "obj_timeout")
        return cls(name, comm, obj_timeout, direct_put, runtime["image"], env, msg)


class Node(Protocol):
    """What an ETL server needs of the target it serves: its ID and the AIS_TARGET_URL it hands out."""

    node_id: str

    def ais_target_url(self, etl_name: str) -> str: ...


class _Lines(logging.Handler):
    def __init__(self, lines: deque[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a log handler never raises into the server
            self.handleError(record)


def rebind_logger(server: Any, logger: logging.Logger) -> None:
    """Point a server's logging at `logger`, one per target: servers of one class share a logger by
    default, and each target's log must hold that target's lines only."""
    for holder, attr in ((server, "logger"), (getattr(server, "app", None), "log")):
        if holder is not None and isinstance(getattr(holder, attr, None), logging.Logger):
            setattr(holder, attr, logger)
    direct_put = getattr(getattr(server, "app", None), "direct_put", None)
    if direct_put is not None and isinstance(getattr(direct_put, "log", None), logging.Logger):
        direct_put.log = logger


class Instance:
    """The server of one ETL on one target."""

    def __init__(self, cls: type, etl: ETL, target: Node) -> None:
        self.target = target
        self.lines: deque[str] = deque(maxlen=LOG_LINES)
        self.logger = logging.getLogger(f"aisetl.cluster.{etl.registry.cluster_name}.{etl.spec.name}.{target.node_id}")
        self.logger.setLevel(logging.INFO)
        self._handler = _Lines(self.lines)
        self.logger.addHandler(self._handler)
        environ = {**os.environ, **etl.spec.env, "AIS_TARGET_URL": target.ais_target_url(etl.spec.name)}
        self.server = construct(cls, environ)
        rebind_logger(self.server, self.logger)
        app = getattr(self.server, "app", None)
        if app is None:
            raise bad_request(f"{cls.__name__} has no ASGI app (.app): run a FastAPIServer subclass")
        self.thread = ServerThread(app, name=f"etl:{etl.spec.name}@{target.node_id}", **uvicorn_options(log_level=None))
        self.thread.start()
        self.logger.info(
            "%s serving on %s (%s://) for target %s", cls.__name__, self.url, etl.spec.comm, target.node_id
        )

    @property
    def url(self) -> str:
        return self.thread.url

    def stop(self) -> None:
        self.thread.stop()
        self.logger.info("stopped")
        self.logger.removeHandler(self._handler)


@dataclass
class ETL:
    registry: ETLRegistry
    spec: ETLSpec
    cls: Any  # a server class, or a BuiltImage run as containers
    xaction_id: str = field(default_factory=lambda: "etl-" + secrets.token_hex(5))
    stage: str = "Initializing"
    instances: dict[str, Instance | ContainerInstance] = field(default_factory=dict)
    errors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # job id ("" inline) -> errors
    obj_count: int = 0
    in_bytes: int = 0
    out_bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    logs_kept: dict[str, deque[str]] = field(default_factory=dict)

    def start(self) -> None:
        try:
            for target in self.registry.targets:
                instance: Instance | ContainerInstance
                if isinstance(self.cls, BuiltImage):
                    instance = ContainerInstance(self.cls, self.spec.name, dict(self.spec.env), target)
                else:
                    instance = Instance(self.cls, self, target)
                self.instances[target.node_id] = instance
                self.logs_kept[target.node_id] = instance.lines
        except BaseException:
            self.stop()
            raise
        self.stage = "Running"

    def stop(self) -> None:
        instances, self.instances = self.instances, {}
        for instance in instances.values():
            instance.stop()
        self.stage = "Aborted"

    def url_on(self, target: Node) -> str:
        try:
            return self.instances[target.node_id].url
        except KeyError:
            raise AISHTTPError(400, f"ETL {self.spec.name} is not running on {target.node_id}") from None

    def record_error(self, job_id: str | None, obj_name: str, status: int, message: str) -> None:
        with self.lock:
            self.errors.setdefault(job_id or "", []).append({"obj_name": obj_name, "msg": message, "ecode": status})

    def count(self, size_in: int, size_out: int, objects: int = 1) -> None:
        with self.lock:
            self.obj_count += objects
            self.in_bytes += size_in
            self.out_bytes += size_out

    def info(self) -> dict[str, Any]:
        with self.lock:
            return {
                "id": self.spec.name,
                "stage": self.stage,
                "xaction_id": self.xaction_id,
                "obj_count": self.obj_count,
                "in_bytes": self.in_bytes,
                "out_bytes": self.out_bytes,
            }

    def details(self, job_errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """`view()`: the init message, and the inline errors (or those of a job, given by the caller)."""
        with self.lock:
            errors = list(self.errors.get("", [])) if job_errors is None else job_errors
        return {"init_msg": self.spec.message, "obj_errors": errors}

    def logs(self, target_id: str = "") -> list[dict[str, str]]:
        if target_id and target_id not in self.logs_kept:
            raise AISHTTPError(404, f"no target {target_id!r} in this cluster (targets: {', '.join(self.logs_kept)})")
        ids = [target_id] if target_id else list(self.logs_kept)
        return [{"target_id": t, "logs": base64.b64encode("\n".join(self.logs_kept[t]).encode()).decode()} for t in ids]


class ETLRegistry:
    """The cluster's ETLs by name."""

    def __init__(self, cluster_name: str, proxy_id: str, targets: Sequence[Node]) -> None:
        self.cluster_name = cluster_name
        self.proxy_id = proxy_id
        self.targets = targets  # the cluster's own list
        self._etls: dict[str, ETL] = {}
        self._lock = threading.Lock()

    def node(self) -> str:
        return f"p[{self.proxy_id}]"

    def get(self, name: str) -> ETL:
        with self._lock:
            etl = self._etls.get(name)
        if etl is None:
            raise AISHTTPError(404, f"{self.node()}: etl job {name} does not exist")
        return etl

    def running(self, name: str) -> ETL:
        """The ETL a transform names; AIS's texts: unknown is a 404 without `etl job`, not running a 400."""
        with self._lock:
            etl = self._etls.get(name)
        if etl is None:
            raise AISHTTPError(404, f"ETL {name} doesn't exist")
        if etl.stage != "Running":
            raise AISHTTPError(400, f"ETL {name} is not running (stage {etl.stage}): client.etl({name!r}).start()")
        return etl

    def all(self) -> list[ETL]:
        with self._lock:
            return list(self._etls.values())

    def init(self, msg: object, images: Mapping[str, Any]) -> str:
        spec = ETLSpec.parse(msg)
        cls = resolve(spec.image, spec.env, images)
        with self._lock:
            if spec.name in self._etls:
                raise AISHTTPError(409, f"{self.node()}: etl job {spec.name} already exists")
            etl = ETL(self, spec, cls)
            self._etls[spec.name] = etl
        try:
            etl.start()
        except Exception as exc:
            self._forget(spec.name)
            if isinstance(exc, AISHTTPError):
                raise
            # The user's class failed to construct or serve: the init fails, as a 4xx (see http.py).
            raise AISHTTPError(
                400, f"ETL {spec.name}: {getattr(cls, '__name__', cls)} did not start: {type(exc).__name__}: {exc}"
            ) from exc
        except BaseException:
            self._forget(spec.name)
            raise
        return etl.xaction_id

    def _forget(self, name: str) -> None:
        with self._lock:
            self._etls.pop(name, None)

    def stop(self, name: str) -> None:
        self.get(name).stop()

    def start(self, name: str) -> str:
        etl = self.get(name)
        if etl.stage == "Running":
            raise AISHTTPError(400, f"{self.node()}: etl job {name} is already running")
        etl.xaction_id = "etl-" + secrets.token_hex(5)
        try:
            etl.start()
        except AISHTTPError:
            raise
        except Exception as exc:  # as in init: the class failed to construct or serve, a 4xx
            raise AISHTTPError(
                400, f"ETL {name}: {etl.cls.__name__} did not start: {type(exc).__name__}: {exc}"
            ) from exc
        return etl.xaction_id

    def delete(self, name: str) -> None:
        etl = self.get(name)
        etl.stop()
        with self._lock:
            self._etls.pop(name, None)

    def stop_all(self) -> None:
        for etl in self.all():
            etl.stop()
