"""The one place an exception becomes an HTTP status and a body a person can act on."""

from __future__ import annotations

import json
import logging

from .._exceptions import DirectPutError, ProtocolError, TargetError
from ..wire import HEADER_RETRY_REASON, RETRY_REASON_DIRECT_PUT_TRANSIENT
from ..wire.safety import redact
from .asgi import JSON_HEADER, ClientDisconnectedError
from .output import error_detail
from .stats import ServerStats

Headers = list[tuple[bytes, bytes]]
_RETRY_REASON = (HEADER_RETRY_REASON.encode(), RETRY_REASON_DIRECT_PUT_TRANSIENT.encode())


def error_response(
    exc: Exception, path: str, fqn: str, log: logging.Logger, stats: ServerStats
) -> tuple[int, bytes, Headers]:
    """Status, JSON body (`{"detail": ...}`, as FastAPI's HTTPException) and headers for `exc`, raised
    while serving object `path` (read from the file `fqn`, when one was named). Logs and counts it."""
    headers = [JSON_HEADER]
    if isinstance(exc, (ProtocolError, TargetError)):
        status, detail = exc.status_code, str(exc)
    elif isinstance(exc, FileNotFoundError) and fqn and exc.filename == fqn:
        status, detail = 404, f"Error processing object {path!r}: file not found at {fqn!r}."
    elif isinstance(exc, DirectPutError):
        if exc.bail_without_local_retry:
            status, detail = 503, f"Direct put bailed (one-shot body): {exc}"
            headers.append(_RETRY_REASON)
        else:
            status, detail = 502, f"Direct put failed after retries: {exc}"
    elif isinstance(exc, ClientDisconnectedError):
        status, detail = 400, str(exc)
    else:
        status, detail = 500, f"Processing error: {error_detail(exc)}"
    if status >= 500 and not isinstance(exc, (TargetError, DirectPutError)):
        log.error("object %r: %s", path, detail, exc_info=exc)
    else:
        log.warning("object %r: %d %s", path, status, detail)
    stats.record_error("http", path, status, exc)
    # A reason may echo a URL (a next stage's, the target's): never with the ETL secret or the token in it.
    return status, json.dumps({"detail": redact(detail, stats.secrets)}).encode(), headers
