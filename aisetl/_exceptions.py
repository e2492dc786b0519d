"""Every error aisetl raises on purpose, in one tree. Catch `ETLError` for all of them.

    ETLError
    ├── ConfigError       the environment a server is made with is missing a variable or holds a bad value
    │                     (also an OSError: the SDK raises EnvironmentError there)
    ├── ProtocolError     bad input on the wire: a header, query, FQN, URL or control message (.status_code)
    ├── TargetError       the hpull source (the AIS target) answered an error status (.status_code)
    ├── DirectPutError    delivery: the next stage could not be reached; retries ran out or were not allowed
    ├── ETLCallError      a transform failed, seen from the caller: the ETL server answered an error or could
    │                     not be reached (LocalTarget.get, jobs, ServerHandle helpers; .status)
    └── ExportError       shipping: no container engine, a failed build, no aistore SDK for deploy
        │                 (also a RuntimeError)
        └── ImageNameError  an image name a cluster cannot pull (bare, or :latest); also a ValueError

The server turns the first four into a reply in one place (`aisetl.server.errors`). A transform's own
exception inside the server becomes a 500 whose body names it; a caller sees it as an `ETLCallError`.
Misuse of the API (a wrong type or value) raises `TypeError` or `ValueError` with what was expected.
"""

from __future__ import annotations


class ETLError(Exception):
    """Base class of every aisetl error."""


class ConfigError(ETLError, OSError):
    """The environment the server was constructed in is missing a variable or holds a bad value."""


class ProtocolError(ETLError):
    """The request broke the wire contract; `status_code` is what the server answers."""

    def __init__(self, message: str, *, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


class TargetError(ETLError):
    """The AIS target answered the hpull GET with an error status; the server relays that status."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class DirectPutError(ETLError):
    """A transient failure reaching the next stage (connection refused, reset, dropped...).

    `bail_without_local_retry` is true when the source could not be replayed here (a one-shot PUT body):
    the server then answers 503 + `Ais-Etl-Retry-Reason: direct-put-transient` so that AIS replays the
    request. Otherwise the local retries ran out and the answer is 502.
    A transform may raise it with `bail_without_local_retry=True` to ask AIS for a retry.
    """

    def __init__(
        self, url: str, cause: BaseException | str, *, attempts: int = 1, bail_without_local_retry: bool = False
    ) -> None:
        self.url = url
        self.cause = cause
        self.attempts = attempts
        self.bail_without_local_retry = bail_without_local_retry
        reason = cause if isinstance(cause, str) else f"{type(cause).__name__}({cause})"
        super().__init__(f"direct put to {url!r} failed with a transient error after {attempts} attempt(s): {reason}")

    def __repr__(self) -> str:
        return f"DirectPutError(url={self.url!r}, attempts={self.attempts}, cause={self.cause!r})"


class ETLCallError(ETLError):
    """The ETL answered an error, or could not be reached: `status` and the text AIS would record."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ExportError(ETLError, RuntimeError):
    """Shipping failed: no container engine, the build or deploy failed, or a tool it needs is missing."""


class ImageNameError(ExportError, ValueError):
    """An image name AIS's pods could not pull reliably: no registry, or no tag / `latest` (see ship.names)."""
