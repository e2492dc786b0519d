"""Counters a server keeps about itself: cheap to update per object, read by the status widget."""

from __future__ import annotations

import logging
import time
import traceback
from collections import deque
from dataclasses import dataclass, field

from ..wire.safety import redact

# Latencies kept for the percentiles: the most recent ones only, so that the figures follow the load.
LATENCY_WINDOW = 4096


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

    def record(self, started: float, bytes_in: int, bytes_out: int) -> None:
        self.objects += 1
        self.bytes_in += bytes_in
        self.bytes_out += bytes_out
        self.latencies.append(time.perf_counter() - started)

    def record_error(self, transport: str, path: str, status: int, exc: BaseException | str) -> None:
        self.errors += 1
        if isinstance(exc, BaseException):
            message = f"{type(exc).__name__}: {exc}"
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        else:
            message, text = exc, ""
        message, text = redact(message, self.secrets), redact(text, self.secrets)
        self.last_error = ErrorRecord(time.time(), transport, path, status, message, text)

    def percentile(self, q: float) -> float | None:
        """Latency in seconds at quantile `q` (0..1) over the recent window; None before any object."""
        window = sorted(self.latencies)
        if not window:
            return None
        return window[min(len(window) - 1, int(q * len(window)))]


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
