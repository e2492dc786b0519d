"""Outbound HTTP of the server: the hpull GET to the AIS target and the direct-put PUT to the next stage.

One connection pool (`_http11`) per server and event loop, built on first use with the TLS, auth and
pool settings of the environment. Its errors are translated here, at one boundary: transport failures
with no committed response become `TransientError` (the caller decides whether to retry); an unusable
URL is a `ProtocolError` answered 500.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from .._exceptions import ConfigError, ProtocolError
from ..wire import Settings
from ..wire.safety import token_allowed
from . import http11 as _http11
from .http11_response import Response

# Failures that leave no response behind: safe to retry against a replayable source (3.6).
_TRANSIENT_ERRORS = (_http11.ConnectError, _http11.ReadError, _http11.WriteError, OSError)


async def read_capped(chunks: AsyncIterator[bytes], cap: int, url: str) -> bytes:
    """A reply body held whole, up to `cap` bytes: an endless one is cut off with an error (502)."""
    parts: list[bytes] = []
    total = 0
    async for chunk in chunks:
        total += len(chunk)
        if total > cap:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
            raise ProtocolError(
                f"The reply of {url!r} is longer than {cap} bytes (AISETL_MAX_OBJECT_SIZE): cut off", status_code=502
            )
        parts.append(chunk)
    return b"".join(parts)


class TransientError(Exception):
    """A transport-level failure; `cause` is the underlying error."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}({cause})")
        self.cause = cause


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def build_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of outbound calls, or None for the default (system CAs, built when needed)."""
    if not (settings.skip_verify or settings.client_ca or settings.client_cert):
        return None
    try:
        ctx = ssl.create_default_context(cafile=settings.client_ca)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"Cannot load AIS_CLIENT_CA {settings.client_ca!r}: {exc}") from exc
    if settings.skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if settings.client_cert:
        try:
            ctx.load_cert_chain(*settings.client_cert)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"Cannot load AIS_CRT/AIS_CRT_KEY {settings.client_cert!r}: {exc}") from exc
    return ctx


class OutboundClient:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._ssl = build_ssl_context(settings)  # checked at construction: a bad file fails early
        target = urlsplit(settings.target_url)  # the AIS target: always trusted with the token
        self._target = (target.hostname or "", target.port or (443 if target.scheme == "https" else 80))
        self._pool: _http11.Pool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _get(self) -> _http11.Pool:
        loop = asyncio.get_running_loop()
        if self._pool is None or self._loop is not loop:
            s = self._settings
            limits = _http11.Limits(
                s.max_conn,
                s.max_keepalive_conn,
                s.keepalive_expiry,
                s.connect_timeout,
                s.response_timeout,
                s.idle_timeout,
            )
            self._pool = _http11.Pool(limits, self._ssl, s.outbound_headers, self._token_allowed)
            self._loop = loop
        return self._pool

    def _token_allowed(self, host: str, port: int) -> bool:
        return token_allowed(host, port, self._settings.token_hosts, self._target)

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None and self._loop is asyncio.get_running_loop():
            await pool.aclose()

    async def put(self, url: str, content: bytes | AsyncIterator[bytes], headers: dict[str, str]) -> Reply:
        """PUT and read the whole reply. bytes -> Content-Length; an async iterator -> chunked."""
        try:
            resp = await self._get().request("PUT", url, headers, content)
            body = await read_capped(resp.iter_chunks(), self._settings.max_object_size, url)
        except _http11.InvalidURLError as exc:
            raise ProtocolError(f"Direct put to {url!r} failed: {exc}", status_code=500) from exc
        except _TRANSIENT_ERRORS as exc:
            raise TransientError(exc) from exc
        return Reply(resp.status, resp.headers, body)

    async def open_put(self, url: str, content: AsyncIterator[bytes], headers: dict[str, str]) -> Response:
        """PUT a chunked body; returns at the reply's head while the body may still be going out (the
        reply is read with `read_stream`, or `release`d). Full duplex: a next stage that streams its
        answer back as it reads is read from meanwhile, so neither side waits for the other."""
        try:
            return await self._get().request("PUT", url, headers, content)
        except _http11.InvalidURLError as exc:
            raise ProtocolError(f"Direct put to {url!r} failed: {exc}", status_code=500) from exc
        except _TRANSIENT_ERRORS as exc:
            raise TransientError(exc) from exc

    async def open_stream(self, url: str) -> Response:
        """GET with the body left to read (`read_stream`, or `release`)."""
        try:
            return await self._get().request("GET", url, {})
        except _http11.InvalidURLError as exc:
            raise ProtocolError(f"GET {url!r} failed: {exc}", status_code=500) from exc
        except _TRANSIENT_ERRORS as exc:
            raise TransientError(exc) from exc

    async def read_stream(self, resp: Response) -> AsyncIterator[bytes]:
        """The body of an `open_stream` response; a transport failure mid-body is a TransientError."""
        try:
            async for chunk in resp.iter_chunks():
                yield chunk
        except _TRANSIENT_ERRORS as exc:
            raise TransientError(exc) from exc
        finally:
            resp.release()
