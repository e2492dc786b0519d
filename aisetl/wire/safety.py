"""Rules that keep hostile input from becoming something else: a header, a blocked loop, a leaked secret.

Pure functions (stdlib only, no I/O); the server layer applies them at its edges.

* Anything that ends up in an outbound request line or header must not carry a control character: a CR
  or LF there would start a header (or a request) of the sender's choosing at the next stage.
* A request target is sent percent-encoded: spaces and non-ASCII are escaped, escapes already there kept.
* An IPv6 literal host is bracketed in the Host header (RFC 9110 7.2): `[::1]:8080`.
* Only regular files are read as objects: a FIFO or a device never ends (or never starts), a directory
  has no bytes.
* The ETL secret (the last path segment of AIS_TARGET_URL) and the AuthN token are redacted from any
  text that leaves the server: error bodies, log lines, the status widget.
"""

from __future__ import annotations

import posixpath
import re
import stat
from collections.abc import Iterable
from urllib.parse import quote, urlsplit

from .._exceptions import ProtocolError

REDACTED = "***"
# Shorter secrets are not redacted: replacing every "a" in a message would hide more than it protects.
MIN_SECRET_LENGTH = 4

# Bytes kept as they are in a request target: RFC 3986 unreserved, sub-delims, ":" "@" "/" and "%" (an
# escape already made by the sender stays byte for byte; AIS's unames arrive escaped).
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def control_character(value: str) -> str | None:
    """The first control character in `value` (C0, DEL or C1), or None (a regex: on every request)."""
    found = _CONTROL.search(value)
    return found.group() if found else None


def check_outbound_value(value: str, what: str, status_code: int = 400) -> str:
    """`value` unchanged, or a `ProtocolError` when it holds a control character (header injection)."""
    ch = control_character(value)
    if ch is not None:
        raise ProtocolError(
            f"Invalid {what}: it contains the control character {ch!r}, which cannot be sent on",
            status_code=status_code,
        )
    return value


_NEEDS_QUOTING = re.compile('[^!-~]|["#<>\\^`{|}]')  # outside visible ASCII, or not allowed in a target


def encode_target(path: str, query: str) -> str:
    """A valid HTTP/1.1 request target from a URL's path and query: spaces, non-ASCII and other unsafe
    bytes percent-encoded (UTF-8), existing escapes and reserved characters kept."""
    if not _NEEDS_QUOTING.search(path) and not _NEEDS_QUOTING.search(query) and path.startswith("/"):
        return path + "?" + query if query else path  # already a valid target: the common case
    target = quote(path, safe=_PATH_SAFE) or "/"
    if not target.startswith("/"):
        target = "/" + target
    if query:
        target += "?" + quote(query, safe=_QUERY_SAFE)
    return target


def host_header(host: str, port: int, default_port: int) -> str:
    """The Host header value: IPv6 literals bracketed, the port left out when it is the scheme's default."""
    shown = f"[{host}]" if ":" in host else host
    return shown if port == default_port else f"{shown}:{port}"


def file_kind_problem(mode: int) -> str | None:
    """Why a file of this `st_mode` cannot be an object's bytes, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def is_within(root: str, path: str) -> bool:
    """Whether the absolute, already resolved `path` is `root` or lies under it (both normalised)."""
    root = posixpath.normpath(root)
    path = posixpath.normpath(path)
    return path == root or path.startswith(root.rstrip("/") + "/")


def target_secret(target_url: str) -> str:
    """The ETL secret: the last path segment of AIS_TARGET_URL (`/v1/etl/_object/<etl>/<secret>`)."""
    return urlsplit(target_url).path.rstrip("/").rpartition("/")[2]


def secrets_of(target_url: str, token: str | None) -> tuple[str, ...]:
    """The strings `redact` hides for a server: its ETL secret and its AuthN token, when long enough."""
    found = [target_secret(target_url), token or ""]
    return tuple(s for s in found if len(s) >= MIN_SECRET_LENGTH)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each secret (raw or percent-encoded) replaced by `***`."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
        escaped = quote(secret, safe="")
        if escaped != secret and escaped in text:
            text = text.replace(escaped, REDACTED)
    return text


def token_allowed(host: str, port: int, allowed_hosts: tuple[str, ...] | None, target: tuple[str, int]) -> bool:
    """Whether a request to `host:port` may carry the AuthN token: always to the AIS target itself (its
    host and port), to any host when no allow-list is set, otherwise only to hosts on the list (any port,
    case-insensitive)."""
    host = host.lower()
    if allowed_hosts is None or (host, port) == (target[0].lower(), target[1]):
        return True
    return host in allowed_hosts
