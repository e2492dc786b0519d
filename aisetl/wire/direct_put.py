"""Pipelines and direct put: where the output goes and what the next stage's reply means (section 3)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from .._exceptions import ProtocolError
from .names import HEADER_DIRECT_PUT_LENGTH, QPARAM_ETL_ARGS
from .safety import check_outbound_value, encode_target


def parse_pipeline(value: str | None) -> tuple[str, str]:
    """Split an `Ais-Node-Url` value into `(first, remaining)`; `("", "")` means no pipeline."""
    if not value:
        return "", ""
    value = value.strip()
    if not value:
        return "", ""
    if "," not in value:
        return check_outbound_value(value, f"pipeline header entry {value!r}"), ""
    entries = [entry.strip() for entry in value.split(",")]
    if not all(entries):
        raise ProtocolError("Invalid pipeline header: Pipeline header contains empty entry", status_code=400)
    for entry in entries:
        # Each URL goes into a request line and the rest into a header: no CR, LF or other control.
        check_outbound_value(entry, f"pipeline header entry {entry!r}")
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
        check_outbound_value(path, f"object path {path!r}")
        final_path = "/" + quote(path, safe="/@")
    query = dest.query
    if etl_args:
        pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != QPARAM_ETL_ARGS]
        pairs.append((QPARAM_ETL_ARGS, etl_args))
        query = urlencode(pairs)
    # The path and query go out percent-encoded (spaces, non-ASCII), escapes already made kept as sent.
    target = encode_target(final_path, query)
    return urlunsplit((dest.scheme or base.scheme, dest.netloc, "", "", "")) + target


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
            return [(HEADER_DIRECT_PUT_LENGTH.encode(), str(self.length).encode())]
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
