"""The AIS ETL wire contract as pure functions: no sockets, no event loop, stdlib only.

# Facts (shared/docs/ais-etl-protocol.md; section numbers below refer to it)

* AIS talks to an ETL with `PUT /<path>` (hpush, every pipeline hop), `GET /<path>` (hpull) and `/ws`.
  The object path reaches `transform` percent-decoded, without the leading slash (1.3).
* Query `etl_args` is stripped of surrounding white space; `etl_fqn` is the object's file path, escaped
  once more than the query encoding: after query decoding it is still path-escaped and must be decoded
  exactly once more with plain `unquote` (`+` stays `+`), then normalised to an absolute path (4).
* `Ais-Node-Url` is a comma list of next stages. Absent, empty or white space only: no pipeline; any empty
  entry: 400. The first entry is where the output goes; the rest travels on as `Ais-Node-Url` (3.2).
* A next ETL stage is given without a path: the request's own object path is reused. A destination
  target is given with a path: the path of AIS_TARGET_URL (`/v1/etl/_object/<etl>/<secret>`) is put in
  front of it. Its query (`uuid`, `owt`) is kept; `etl_args` replaces any existing one (3.3).
* The next stage's reply: 204 = delivered (its length header is relayed), 200 + empty body = a target
  stored it (we report our own byte count), 200 + body = content from a last ETL stage (relayed),
  anything else is relayed as is (3.5).
* Transport failures are retried with a backoff of min(2**i, 30) s, but only when the source can be
  replayed; a one-shot PUT body answers 503 + `Ais-Etl-Retry-Reason: direct-put-transient` so that AIS
  replays the whole request; retries exhausted answers 502 without that header (3.6).

# Where we differ from the official server, on purpose (design.md, last section)

* A hop to a next stage uses that stage URL's own scheme when it has one (the official server always
  takes the scheme of AIS_TARGET_URL, which breaks plain-http ETL pods in TLS clusters).
* A next-stage URL that cannot be used (no host, bad port, not http/https) is a `ProtocolError` naming
  it, answered 500 without retries.
* A non-numeric `Ais-Direct-Put-Length` from a next stage leaves the object delivered (length unknown).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from ._exceptions import ConfigError, ProtocolError

# Header names as ASGI hands them over (lower case) and as we send them.
HEADER_NODE_URL = "ais-node-url"  # api/apc/headers.go HdrNodeURL
HEADER_DIRECT_PUT_LENGTH = "ais-direct-put-length"  # HdrDirectPutLength
HEADER_RETRY_REASON = "ais-etl-retry-reason"  # HdrETLRetryReason
RETRY_REASON_DIRECT_PUT_TRANSIENT = "direct-put-transient"  # ETLRetryReasonDirectPutTransient

QPARAM_ETL_ARGS = "etl_args"  # QparamETLTransformArgs
QPARAM_ETL_FQN = "etl_fqn"  # QparamETLFQN (not "fqn")

# WebSocket control-message keys (ext/etl/api.go WebsocketCtrlMsg; all omitempty).
WS_PIPELINE, WS_ETL_ARGS, WS_FQN, WS_PATH = "pipeline", "etl_args", "fqn", "path"

HEALTH_PATH = "/health"
HEALTH_BODY = b"Running"
DEFAULT_MIME_TYPE = "application/octet-stream"

# Retry policy (base_etl_server.py RETRY_BACKOFF_BASE / RETRY_BACKOFF_MAX).
BACKOFF_BASE = 2.0
BACKOFF_MAX = 30.0

# What uvicorn must be told so that AIS can use the server (6.4): 16 GiB frames (the Go side's read
# limit), and no keepalive pings (AIS sends none and has no per-object timeout on this transport).
WS_MAX_SIZE = 17179869184
WS_PING_TIMEOUT = 86400.0

_TRUE_WORDS = frozenset({"1", "t", "true", "y", "yes", "on"})  # cos.ParseBool's truthy set


def parse_bool(value: str | None) -> bool:
    """True for 1, t, true, y, yes, on (any case, white space trimmed); false otherwise."""
    return value is not None and value.strip().lower() in _TRUE_WORDS


# --- environment ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """What the server reads from its environment at construction (7.1)."""

    target_url: str
    direct_fqn: bool = False
    direct_put: bool = False
    direct_put_retries: int = 3
    direct_put_chunk_size: int = 1 << 20
    max_conn: int = 256
    max_keepalive_conn: int = 128
    keepalive_expiry: float = 30.0
    skip_verify: bool = False
    client_ca: str | None = None
    client_cert: tuple[str, str] | None = None
    authn_token: str | None = None

    @property
    def outbound_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.authn_token}"} if self.authn_token else {}


def _env_int(environ: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"Environment variable {name!r} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"Environment variable {name!r} must be >= {minimum}, got {value}")
    return value


def read_settings(environ: Mapping[str, str]) -> Settings:
    """Read and check the server's environment; a bad value is a `ConfigError` naming the variable."""
    target_url = environ.get("AIS_TARGET_URL", "").strip()
    if not target_url:
        raise ConfigError("Environment variable 'AIS_TARGET_URL' must be set.")
    parts = urlsplit(target_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"Environment variable 'AIS_TARGET_URL' must be an http(s) URL, got {target_url!r}")
    cert, key = environ.get("AIS_CRT", "").strip(), environ.get("AIS_CRT_KEY", "").strip()
    if bool(cert) != bool(key):
        raise ConfigError("Environment variables 'AIS_CRT' and 'AIS_CRT_KEY' must be set together (mTLS)")
    skip_verify_raw = environ.get("AIS_SKIP_VERIFY_CRT")
    if skip_verify_raw is None:  # the legacy name is only a fallback
        skip_verify_raw = environ.get("AIS_SKIP_VERIFY")
    return Settings(
        # A trailing slash would double the separator of every composed URL; AIS never sends one.
        target_url=target_url.rstrip("/"),
        direct_fqn=parse_bool(environ.get("ETL_DIRECT_FQN")),
        direct_put=parse_bool(environ.get("DIRECT_PUT") or environ.get("direct_put")),
        direct_put_retries=_env_int(environ, "AIS_DIRECT_PUT_RETRIES", 3, 0),
        direct_put_chunk_size=_env_int(environ, "AIS_DIRECT_PUT_CHUNK_SIZE", 1 << 20, 1),
        max_conn=_env_int(environ, "MAX_CONN", 256, 1),
        max_keepalive_conn=_env_int(environ, "MAX_KEEPALIVE_CONN", 128, 0),
        keepalive_expiry=float(_env_int(environ, "KEEPALIVE_EXPIRY", 30, 0)),
        skip_verify=parse_bool(skip_verify_raw),
        client_ca=environ.get("AIS_CLIENT_CA", "").strip() or None,
        client_cert=(cert, key) if cert else None,
        authn_token=environ.get("AIS_AUTHN_TOKEN") or None,
    )


# --- the incoming request ---------------------------------------------------------------------------


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
    return f"{target_url}/{quote(path, safe='@')}"


# --- object names on the target side ----------------------------------------------------------------

# The target's route for its ETLs (apc.URLPathETLObject): hpull source and direct-put destination.
ETL_OBJECT_ROUTE = "/v1/etl/_object"
GLOBAL_NAMESPACE = "@#"  # the ns-uname of the global namespace


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


# --- pipelines and direct put -----------------------------------------------------------------------


def parse_pipeline(value: str | None) -> tuple[str, str]:
    """Split an `Ais-Node-Url` value into `(first, remaining)`; `("", "")` means no pipeline."""
    if not value:
        return "", ""
    value = value.strip()
    if not value:
        return "", ""
    if "," not in value:
        return value, ""
    if any(not entry.strip() for entry in value.split(",")):
        raise ProtocolError("Invalid pipeline header: Pipeline header contains empty entry", status_code=400)
    first, _, remaining = value.partition(",")
    # `remaining` is forwarded as AIS wrote it, trimmed only at its ends (3.2).
    return first.strip(), remaining.strip()


def compose_direct_put_url(first: str, target_url: str, path: str, etl_args: str) -> str:
    """The URL the output is PUT to: a next ETL stage (no path) or a destination target (with a path)."""
    try:
        dest = urlsplit(first)
        dest.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError as exc:
        raise ProtocolError(f"Invalid next-stage URL {first!r}: {exc}", status_code=500) from None
    if not dest.netloc or dest.scheme not in ("http", "https", ""):
        raise ProtocolError(
            f"Invalid next-stage URL {first!r}: expected http://host:port[/path], as in Ais-Node-Url",
            status_code=500,
        )
    base = urlsplit(target_url)
    if dest.path:
        # Destination target: keep its escaped uname byte for byte behind our own ETL object route.
        final_path = base.path + dest.path
    else:
        # Next ETL stage: the same object path, escaped so that it decodes to what we were given.
        final_path = "/" + quote(path, safe="/@")
    query = dest.query
    if etl_args:
        pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != QPARAM_ETL_ARGS]
        pairs.append((QPARAM_ETL_ARGS, etl_args))
        query = urlencode(pairs)
    return urlunsplit((dest.scheme or base.scheme, dest.netloc, final_path, query, ""))


@dataclass(frozen=True)
class DirectPutOutcome:
    """What to answer after the next stage replied: status, body, and the Ais-Direct-Put-Length value."""

    status: int
    body: bytes
    length: int

    @property
    def delivered(self) -> bool:
        return self.status == 204

    def response_headers(self) -> list[tuple[bytes, bytes]]:
        """`Ais-Direct-Put-Length` only when known and non-zero (the official server omits 0)."""
        if self.length > 0:
            return [(b"ais-direct-put-length", str(self.length).encode())]
        return []


def interpret_reply(status: int, body: bytes, length_header: str | None, bytes_sent: int) -> DirectPutOutcome:
    """Map the next stage's reply to ours (3.5)."""
    if status == 204:
        try:
            length = int(length_header) if length_header else 0
        except ValueError:
            length = 0  # delivered all the same; the count is only informational
        return DirectPutOutcome(204, b"", max(length, 0))
    if status == 200:
        if body:
            return DirectPutOutcome(200, body, 0)
        return DirectPutOutcome(204, b"", bytes_sent)
    return DirectPutOutcome(status, body, 0)


def backoff_delay(attempt: int) -> float:
    """Seconds to sleep after failed attempt `attempt` (0-based): 1, 2, 4, 8, 16, 30, 30, ..."""
    return min(BACKOFF_BASE ** min(attempt, 16), BACKOFF_MAX)  # capped exponent: no float overflow


def retry_budget(retries: int, replayable: bool) -> int:
    """Local retries allowed: none when the source is a one-shot request body (3.6)."""
    return retries if replayable else 0


# --- WebSocket control messages ---------------------------------------------------------------------


@dataclass(frozen=True)
class ControlMessage:
    """One object's control frame (6.2): an empty `fqn` means a content frame follows."""

    pipeline: str = ""
    etl_args: str = ""
    fqn: str = ""
    path: str = ""


def parse_control_message(payload: bytes | str) -> ControlMessage:
    """Decode a control frame (binary or text JSON object); a `ProtocolError` says what is wrong."""
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"Invalid control message: not JSON ({exc})", status_code=400) from None
    if not isinstance(obj, dict):
        raise ProtocolError(
            f"Invalid control message: expected a JSON object, got {type(obj).__name__}", status_code=400
        )
    fields: dict[str, str] = {}
    for key in (WS_PIPELINE, WS_ETL_ARGS, WS_FQN, WS_PATH):
        value = obj.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ProtocolError(
                f"Invalid control message: {key!r} must be a string, got {type(value).__name__}", status_code=400
            )
        fields[key] = value
    return ControlMessage(
        pipeline=fields.get(WS_PIPELINE, ""),
        etl_args=fields.get(WS_ETL_ARGS, "").strip(),
        fqn=fields.get(WS_FQN, "").strip(),
        path=fields.get(WS_PATH, ""),
    )
