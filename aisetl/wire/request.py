"""The incoming request: its query, the FQN it names, and where hpull fetches its object (sections 1.3, 4)."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from .._exceptions import ProtocolError
from .names import QPARAM_ETL_ARGS, QPARAM_ETL_FQN
from .objects import path_escape
from .safety import check_outbound_value


def parse_query(query_string: bytes) -> tuple[str, str]:
    """Return `(etl_args, etl_fqn)` of a raw query string, each stripped; absent -> "".

    Decoding is the form decoding every web framework applies (`+` is a space); the FQN keeps its own
    layer of path escaping, undone by `decode_fqn`. A repeated key keeps its last value (Starlette's).
    """
    etl_args = etl_fqn = ""
    if not query_string:
        return etl_args, etl_fqn
    for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, encoding="utf-8"):
        if key == QPARAM_ETL_ARGS:
            etl_args = value.strip()
        elif key == QPARAM_ETL_FQN:
            etl_fqn = value.strip()
    return etl_args, etl_fqn


def decode_fqn(fqn: str) -> str:
    """Undo AIS's `url.PathEscape` of an FQN and normalise it to an absolute path.

    Normalisation, not confinement: `..` is clamped at the root, any absolute path stays readable.
    """
    path = posixpath.normpath(posixpath.join("/", unquote(fqn).lstrip("/")))
    if "\x00" in path:
        raise ProtocolError(f"Invalid etl_fqn {fqn!r}: the path contains a NUL byte", status_code=400)
    # normpath keeps a leading "//" (POSIX allows it to mean something else); AIS paths never have one.
    return path[1:] if path.startswith("//") else path


def upstream_object_url(target_url: str, path: str) -> str:
    """The hpull source: AIS_TARGET_URL + "/" + the object path escaped as one segment.

    Any escaping that decodes to the same uname works (1.3); this one escapes `/ # ? %`, space and
    non-ASCII and leaves `@` readable, as the official server does.
    """
    check_outbound_value(path, f"object path {path!r}")  # escaped below, but no name AIS sends has one
    return f"{target_url}/{quote(path, safe='@')}"


def object_query(etl_args: str = "", fqn: str | None = None) -> dict[str, str]:
    """The query a target sends with an object: `etl_fqn` (path-escaped once more, as AIS does) when the
    ETL reads the file itself, and `etl_args` when given (both omitted when empty)."""
    query: dict[str, str] = {}
    if fqn is not None:
        query[QPARAM_ETL_FQN] = path_escape(fqn)
    if etl_args:
        query[QPARAM_ETL_ARGS] = etl_args
    return query


def encode_etl_args(etl_args: str | Mapping[str, Any] | None) -> str:
    """The `etl_args` value as the aistore SDK sends it (`ETLConfig.update_qparams`): a str as given, a dict
    as compact JSON (`json.dumps(args, separators=(",", ":"))`), nothing as ""."""
    if etl_args is None:
        return ""
    if isinstance(etl_args, str):
        return etl_args
    if isinstance(etl_args, Mapping):
        return json.dumps(dict(etl_args), separators=(",", ":"))
    raise TypeError(
        f"etl_args is a str or a dict (sent as compact JSON, as the aistore SDK does), got {type(etl_args).__name__}"
    )
