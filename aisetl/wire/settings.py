"""The server's settings: read from its environment once, when the server is made (protocol section 7.1)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .._exceptions import ConfigError
from .names import (
    ENV_AUTHN_TOKEN,
    ENV_CLIENT_CA,
    ENV_CONNECT_TIMEOUT,
    ENV_CRT,
    ENV_CRT_KEY,
    ENV_DIRECT_FQN,
    ENV_DIRECT_PUT,
    ENV_DIRECT_PUT_CHUNK_SIZE,
    ENV_DIRECT_PUT_LEGACY,
    ENV_DIRECT_PUT_RETRIES,
    ENV_FQN_ROOT,
    ENV_IDLE_TIMEOUT,
    ENV_KEEPALIVE_EXPIRY,
    ENV_LARGE_OBJECT_BUDGET,
    ENV_MAX_CONN,
    ENV_MAX_KEEPALIVE_CONN,
    ENV_MAX_OBJECT_SIZE,
    ENV_RESPONSE_TIMEOUT,
    ENV_SKIP_VERIFY,
    ENV_SKIP_VERIFY_LEGACY,
    ENV_TARGET_URL,
    ENV_TOKEN_HOSTS,
    HEADER_AUTHORIZATION,
)
from .safety import redact, secrets_of

_TRUE_WORDS = frozenset({"1", "t", "true", "y", "yes", "on"})  # cos.ParseBool's truthy set

# Buffered request bodies above 1 MiB wait for room in this many bytes before they are read: memory stays
# bounded however many large objects arrive at once, and four 16 MiB objects in flight keep one core as
# busy as more would (benchmarks/RESULTS.md, PUT 16 MiB).
DEFAULT_LARGE_OBJECT_BUDGET = 64 << 20
# One object at a time may go past the budget (so that any object still goes through), up to this: an
# endless body or hpull object is cut off here with a 413 instead of taking all memory.
DEFAULT_MAX_OBJECT_SIZE = 1 << 30
# Outbound timeouts, seconds. Timeouts are not retried, so a next stage that never answers fails its
# object after about 30 s, under AIS's default object timeout of 45 s (connect: 5 s, retried).
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_RESPONSE_TIMEOUT = 30.0
DEFAULT_IDLE_TIMEOUT = 30.0


def parse_bool(value: str | None) -> bool:
    """True for 1, t, true, y, yes, on (any case, white space trimmed); false otherwise."""
    return value is not None and value.strip().lower() in _TRUE_WORDS


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
    large_object_budget: int = DEFAULT_LARGE_OBJECT_BUDGET
    max_object_size: int = DEFAULT_MAX_OBJECT_SIZE
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    response_timeout: float = DEFAULT_RESPONSE_TIMEOUT
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    # Opt-in confinement for shared clusters (README "Safety"): None = off, AIS's paths are trusted.
    fqn_root: str | None = None
    token_hosts: tuple[str, ...] | None = None

    @property
    def outbound_headers(self) -> dict[str, str]:
        return {HEADER_AUTHORIZATION: f"Bearer {self.authn_token}"} if self.authn_token else {}

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never leave the server in a body, header or log line: the ETL secret and the token."""
        return secrets_of(self.target_url, self.authn_token)

    def __repr__(self) -> str:
        # A repr ends up in logs and tracebacks: name the target without its secret, never the token.
        return f"Settings(target_url={redact(self.target_url, self.secrets)!r}, direct_put={self.direct_put})"


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


def _env_seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"Environment variable {name!r} must be a number of seconds, got {raw!r}") from None
    if not 0 < value < float("inf"):
        raise ConfigError(f"Environment variable {name!r} must be > 0 seconds, got {raw!r}")
    return value


def read_settings(environ: Mapping[str, str]) -> Settings:
    """Read and check the server's environment; a bad value is a `ConfigError` naming the variable."""
    target_url = environ.get(ENV_TARGET_URL, "").strip()
    if not target_url:
        raise ConfigError(f"Environment variable {ENV_TARGET_URL!r} must be set.")
    parts = urlsplit(target_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"Environment variable {ENV_TARGET_URL!r} must be an http(s) URL, got {target_url!r}")
    cert, key = environ.get(ENV_CRT, "").strip(), environ.get(ENV_CRT_KEY, "").strip()
    if bool(cert) != bool(key):
        raise ConfigError(f"Environment variables {ENV_CRT!r} and {ENV_CRT_KEY!r} must be set together (mTLS)")
    skip_verify_raw = environ.get(ENV_SKIP_VERIFY)
    if skip_verify_raw is None:  # the legacy name is only a fallback
        skip_verify_raw = environ.get(ENV_SKIP_VERIFY_LEGACY)
    return Settings(
        # A trailing slash would double the separator of every composed URL; AIS never sends one.
        target_url=target_url.rstrip("/"),
        direct_fqn=parse_bool(environ.get(ENV_DIRECT_FQN)),
        direct_put=parse_bool(environ.get(ENV_DIRECT_PUT) or environ.get(ENV_DIRECT_PUT_LEGACY)),
        direct_put_retries=_env_int(environ, ENV_DIRECT_PUT_RETRIES, 3, 0),
        direct_put_chunk_size=_env_int(environ, ENV_DIRECT_PUT_CHUNK_SIZE, 1 << 20, 1),
        max_conn=_env_int(environ, ENV_MAX_CONN, 256, 1),
        max_keepalive_conn=_env_int(environ, ENV_MAX_KEEPALIVE_CONN, 128, 0),
        keepalive_expiry=float(_env_int(environ, ENV_KEEPALIVE_EXPIRY, 30, 0)),
        skip_verify=parse_bool(skip_verify_raw),
        client_ca=environ.get(ENV_CLIENT_CA, "").strip() or None,
        client_cert=(cert, key) if cert else None,
        authn_token=environ.get(ENV_AUTHN_TOKEN) or None,
        large_object_budget=_env_int(environ, ENV_LARGE_OBJECT_BUDGET, DEFAULT_LARGE_OBJECT_BUDGET, 1),
        max_object_size=_env_int(environ, ENV_MAX_OBJECT_SIZE, DEFAULT_MAX_OBJECT_SIZE, 1),
        connect_timeout=_env_seconds(environ, ENV_CONNECT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT),
        response_timeout=_env_seconds(environ, ENV_RESPONSE_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT),
        idle_timeout=_env_seconds(environ, ENV_IDLE_TIMEOUT, DEFAULT_IDLE_TIMEOUT),
        fqn_root=_fqn_root(environ),
        token_hosts=_host_list(environ.get(ENV_TOKEN_HOSTS)),
    )


def _fqn_root(environ: Mapping[str, str]) -> str | None:
    root = environ.get(ENV_FQN_ROOT, "").strip()
    if root and not root.startswith("/"):
        raise ConfigError(f"Environment variable {ENV_FQN_ROOT!r} must be an absolute path, got {root!r}")
    return root or None


def _host_list(raw: str | None) -> tuple[str, ...] | None:
    """`a, b` -> ("a", "b") (lower case, brackets of IPv6 literals dropped); unset -> None (no list)."""
    if raw is None or not raw.strip():
        return None
    return tuple(h.strip().strip("[]").lower() for h in raw.split(",") if h.strip())
