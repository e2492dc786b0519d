"""What the notebook API takes as arguments (an ETL, a pipeline stage, a target, a setting), and errors
that name the fix.

An ETL is a served handle (`srv = Upper.serve()`) or the URL of any running ETL server; a pipeline may
also end in a target (`tgt`, the destination of the object under the same name, or
`tgt.destination("bucket/object")`). The usual mistakes get an error saying what to do instead: the
server class or a server object where a served handle belongs, a stopped server (which would otherwise
cost a target's ten soft retries before failing), a URL without its scheme, anything else.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeGuard

from ..api.base import ETLServer
from ..wire import ETL_OBJECT_ROUTE


class Served(Protocol):
    """A server this process serves (`aisetl.ServerHandle`)."""

    @property
    def url(self) -> str: ...
    def check_running(self) -> None: ...


class Destination(Protocol):
    """A target objects can be delivered to (`aisetl.LocalTarget`)."""

    def destination(self, name: str, uuid: str = ..., owt: int = ...) -> str: ...


# Looked up on the class, never on the object: a LocalTarget's `url` starts its server when read.
def is_served(obj: object) -> TypeGuard[Served]:
    return not isinstance(obj, type) and callable(getattr(type(obj), "check_running", None))


def is_destination(obj: object) -> TypeGuard[Destination]:
    return not isinstance(obj, type) and callable(getattr(type(obj), "destination", None))


def _not_a_stage(stage: object, what: str) -> Exception:
    if isinstance(stage, type) and issubclass(stage, ETLServer):
        name = stage.__name__
        return TypeError(
            f"{name} is a server class, not a running server: srv = {name}.serve(...), then pass srv as the {what}"
        )
    if isinstance(stage, ETLServer):
        name = type(stage).__name__
        return TypeError(
            f"{stage!r} is a server object, not a running server: serve its class (srv = {name}.serve(...)) "
            f"and pass srv as the {what}"
        )
    return TypeError(f"a {what} is a served handle, an ETL URL or a LocalTarget, got {type(stage).__name__}")


def etl_url(etl: object, what: str = "ETL") -> str:
    """The URL of an ETL server given as a served handle (running) or as a URL."""
    if is_served(etl):
        etl.check_running()
        return etl.url
    if isinstance(etl, str):
        if not etl.startswith(("http://", "https://")):
            raise ValueError(f"an ETL URL starts with http:// or https://, got {etl!r} (e.g. 'http://{etl}')")
        return etl.rstrip("/")
    if is_destination(etl):
        raise TypeError(f"a target is not an ETL server: pass a served handle or an ETL URL as the {what}")
    raise _not_a_stage(etl, what)


def as_stages(pipeline: object) -> list[object]:
    """One stage or a list of them, as a list."""
    if pipeline is None:
        return []
    if isinstance(pipeline, (str, bytes, type)) or is_served(pipeline) or is_destination(pipeline):
        return [pipeline]
    if not isinstance(pipeline, Iterable):
        return [pipeline]
    return list(pipeline)


def pipeline_urls(pipeline: object, path: str) -> list[str]:
    """The `Ais-Node-Url` entries of `pipeline`: ETLs by URL, a target as the destination of `path`."""
    urls = []
    for stage in as_stages(pipeline):
        if is_destination(stage) and not is_served(stage):
            if "/" not in path.strip("/"):
                raise ValueError(
                    f"a direct put to a target delivers the object under its path, and {path!r} names no object: "
                    "pass path='bucket/object' (or tgt.destination('bucket/object') as the stage)"
                )
            urls.append(stage.destination(path.strip("/")))
        else:
            urls.append(etl_url(stage, "pipeline stage"))
    return urls


def etl_urls(etl: object) -> list[str]:
    """The ETL servers of an offline job (one or a pipeline), by URL."""
    stages: Sequence[object] = as_stages(etl)
    return [etl_url(s, "job's ETL") for s in stages]


def setting_value(key: str, value: object) -> str | None:
    """A setting as its environment variable's text; None unsets the variable for this server."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, os.PathLike)):
        return str(value)
    raise TypeError(
        f"serve({key}=...): a setting is an environment variable, a str (or a number, a bool, a path, None "
        f"to unset it), got {type(value).__name__}"
    )


def check_target(target: object) -> None:
    if target is None or callable(getattr(type(target), "ais_target_url", None)):
        return
    if not isinstance(target, str):
        raise TypeError(f"target is a LocalTarget or an AIS_TARGET_URL string, got {type(target).__name__}")
    if not target.startswith(("http://", "https://")) or ETL_OBJECT_ROUTE + "/" not in target:
        raise ValueError(
            f"an AIS_TARGET_URL is <target>{ETL_OBJECT_ROUTE}/<etl>/<secret>, as tgt.ais_target_url(name) gives "
            f"(or pass the LocalTarget itself), got {target!r}"
        )
