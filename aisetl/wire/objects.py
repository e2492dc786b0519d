"""How AIS names objects to its ETLs and where a target keeps them on disk (sections 1.3, 4)."""

from __future__ import annotations

from urllib.parse import quote

from .._exceptions import ProtocolError
from .names import GLOBAL_NAMESPACE, WS_PATH_ROUTE


def path_escape(text: str) -> str:
    """Go's `url.PathEscape`: one path segment; leaves `$ & + : = @` readable, escapes `/ ; , ?`."""
    return quote(text, safe="$&+:=@")


def object_uname(bucket: str, obj: str, provider: str = "ais") -> str:
    """`<provider>/<ns-uname>/<bucket>/<object>`, as AIS names an object to its ETLs (1.3)."""
    return f"{provider}/{GLOBAL_NAMESPACE}/{bucket}/{obj}"


def parse_uname(uname: str) -> tuple[str, str]:
    """`(bucket, object)` of an object uname; a `ProtocolError` (400) when it is not one."""
    parts = uname.split("/", 3)
    if len(parts) != 4 or not parts[0] or not parts[1].startswith("@") or not parts[2] or not parts[3]:
        raise ProtocolError(f"Invalid object uname {uname!r}: expected <provider>/@<ns>/<bucket>/<object>")
    return parts[2], parts[3]


def object_fqn(mountpath: str, bucket: str, obj: str, provider: str = "ais") -> str:
    """Where a target keeps an object on disk (fs/fs.go): `<mountpath>/@<provider>/<bucket>/%ob/<object>`."""
    return f"{mountpath}/@{provider}/{bucket}/%ob/{obj}"


def websocket_url(http_url: str) -> str:
    """The `/ws` endpoint of an ETL server at `http_url` (http -> ws, https -> wss)."""
    base = http_url.rstrip("/")
    scheme, sep, rest = base.partition("://")
    return {"http": "ws", "https": "wss"}.get(scheme, scheme) + sep + rest + WS_PATH_ROUTE
