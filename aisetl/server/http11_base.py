"""The vocabulary of the outbound HTTP/1.1 client (`http11`): its errors, its limits and timeouts, and
how a URL becomes a connection key and a request target."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..wire.safety import control_character

__all__ = ["ConnectError", "EarlyAnswerError", "HTTPError", "HeadTooLongError", "InvalidURLError", "Limits"]
__all__ += ["NotRetriedError", "ReadError", "TimeoutError_", "WriteError", "split_url"]

# Which hosts a pool may send its default headers (the AuthN token) to: `(host, port) -> bool`; None: all.
MaySend = Callable[[str, int], bool] | None


class HTTPError(Exception):
    """Base of this client's errors."""


class ConnectError(HTTPError):
    """No connection could be made (refused, unreachable, TLS handshake failed)."""


class WriteError(HTTPError):
    """The connection broke while the request was being sent."""


class ReadError(HTTPError):
    """The connection broke, or the peer closed it, before the response was complete."""


class NotRetriedError(ReadError):
    """A failure a retry would only repeat: a peer that stayed silent, or one sending an endless head."""


class HeadTooLongError(NotRetriedError):
    """The response head went on past MAX_HEAD bytes."""


class TimeoutError_(NotRetriedError):
    """The peer made no progress in time: no connection, no response head, or a stalled body."""


class EarlyAnswerError(ReadError):
    """A 2xx response completed before the whole request body had been sent: not delivered."""


class InvalidURLError(HTTPError):
    """The URL cannot be requested (no host, a bad port, a scheme other than http or https)."""


@dataclass(frozen=True)
class Limits:
    max_connections: int = 256
    max_keepalive: int = 128
    keepalive_expiry: float = 30.0
    # Seconds (Settings: AISETL_CONNECT_TIMEOUT, AISETL_RESPONSE_TIMEOUT, AISETL_IDLE_TIMEOUT).
    connect_timeout: float = 5.0
    response_timeout: float = 30.0  # the peer sends nothing while it owes a response head
    idle_timeout: float = 30.0  # no body byte moves while the peer owes one


# A response head longer than this is an error (a peer sending header lines forever).
MAX_HEAD = 64 * 1024


def split_url(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, request target) of an absolute http(s) URL; InvalidURLError otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURLError(f"invalid URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidURLError(f"invalid URL {url!r}: expected http(s)://host[:port]/path")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    if control_character(url) is not None or " " in target or not target.isascii():  # no request splitting
        raise InvalidURLError(f"invalid URL {url!r}: control characters, spaces or non-ASCII in it")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80), target


def check_headers(headers: list[tuple[str, str]]) -> None:
    """No request splitting through a header: InvalidURLError on a control character in one."""
    for name, value in headers:
        if control_character(name + value) is not None:
            raise InvalidURLError(f"invalid header {name!r}: control characters in its name or value")
