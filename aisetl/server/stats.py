"""Counters a server keeps about itself: cheap to update per object, read by the status widget.

Bytes are counted where they cross the server's edge, as they do (`took_in` as a request body, an
hpull body or an `etl_fqn` file is read; `sent` as a reply or a direct put goes out), so that a long
stream shows its progress and every transport counts alike. `record` marks an object done.
"""

from __future__ import annotations

import logging
import math
import os
import time
import traceback
from collections import deque
from dataclasses import dataclass, field

from ..wire.safety import redact

# Latencies kept for the percentiles: the most recent objects only, so that the figures follow the load.
LATENCY_WINDOW = 1000
# Failed objects kept with their tracebacks (the count of all of them is `errors`).
ERRORS_KEPT = 20


_OWN_CODE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def user_traceback(exc: BaseException) -> str:
    """The traceback of `exc` as Python prints it, less aisetl's own frames (the server's plumbing is not
    the user's question) unless that leaves none; chained exceptions are kept, each trimmed alike."""
    chain: list[BaseException] = []  # the raised one first, then what it came from
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    blocks: list[str] = []
    for inner, outer in zip(reversed(chain), [*reversed(chain[:-1]), None], strict=True):
        frames = traceback.extract_tb(inner.__traceback__)
        theirs = [f for f in frames if not f.filename.startswith(_OWN_CODE)] or frames
        if theirs:
            blocks.append("Traceback (most recent call last):\n" + "".join(traceback.format_list(theirs)))
        blocks.append("".join(traceback.format_exception_only(type(inner), inner)))
        if outer is not None:
            blocks.append(
                "\nThe above exception was the direct cause of the following exception:\n\n"
                if outer.__cause__ is inner
                else "\nDuring handling of the above exception, another exception occurred:\n\n"
            )
    return "".join(blocks)


@dataclass(frozen=True)
class ErrorRecord:
    """One failed object: where it failed, the message, and the traceback text."""

    when: float
    transport: str
    path: str
    status: int
    message: str
    traceback: str


@dataclass
class ServerStats:
    """Updated on the server's event loop only; a reader in another thread sees a consistent-enough view."""

    requests: int = 0
    objects: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    errors: int = 0
    ws_connections: int = 0
    last_error: ErrorRecord | None = None
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=LATENCY_WINDOW))
    # The ETL secret and the AuthN token: hidden from every message kept here (the widget shows them).
    secrets: tuple[str, ...] = ()
    recent_errors: deque[ErrorRecord] = field(default_factory=lambda: deque(maxlen=ERRORS_KEPT))

    def took_in(self, n: int) -> None:
        """`n` bytes of input arrived (a body chunk, an hpull chunk, an `etl_fqn` file's bytes, a frame)."""
        self.bytes_in += n

    def sent(self, n: int) -> None:
        """`n` bytes of output left (a reply, a streamed chunk, a direct put delivered)."""
        self.bytes_out += n

    def record(self, started: float) -> None:
        """One object done, `started` at this `time.perf_counter()`."""
        self.objects += 1
        self.latencies.append(time.perf_counter() - started)

    def record_error(self, transport: str, path: str, status: int, exc: BaseException | str) -> None:
        self.errors += 1
        if isinstance(exc, BaseException):
            message = f"{type(exc).__name__}: {exc}"
            text = user_traceback(exc)
        else:
            message, text = exc, ""
        message, text = redact(message, self.secrets), redact(text, self.secrets)
        self.last_error = ErrorRecord(time.time(), transport, path, status, message, text)
        self.recent_errors.append(self.last_error)

    def percentiles(self, *qs: float) -> tuple[int, list[float]]:
        """(n, latencies in seconds at quantiles `qs` (0..1)) over the last n <= LATENCY_WINDOW objects.

        Nearest rank: the smallest latency with at least q of the window at or below it; [] when n == 0.
        """
        window = sorted(self.latencies.copy())  # copy(): one C call, safe beside the loop's appends
        n = len(window)
        if not n:
            return 0, []
        return n, [window[max(0, math.ceil(q * n) - 1)] for q in qs]

    def percentile(self, q: float) -> float | None:
        """Latency in seconds at quantile `q` over the recent window; None before any object."""
        _, values = self.percentiles(q)
        return values[0] if values else None


class RedactingFilter(logging.Filter):
    """Rewrites a log record so that neither the ETL secret nor the token reaches a handler: the message
    with its arguments, and the traceback text."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = redact(message, self.secrets), None
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


def redact_logs(logger: logging.Logger, secrets: tuple[str, ...]) -> None:
    """Install a RedactingFilter for `secrets` on `logger` (once per set of secrets)."""
    if not secrets:
        return
    for existing in logger.filters:
        if isinstance(existing, RedactingFilter) and existing.secrets == secrets:
            return
    logger.addFilter(RedactingFilter(secrets))
