"""Outbound HTTP: the hpull GET to the AIS target and the direct-put PUT to the next stage.

One `httpx.AsyncClient` per server and event loop, built on first use with the TLS, auth and pool
settings of the environment. httpx errors are translated here, at one boundary:
transport failures with no committed response become `TransientError` (the caller decides whether to
retry); any other httpx error is a `ProtocolError` answered 500.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from ._exceptions import ConfigError, ProtocolError
from ._protocol import Settings

# Failures that leave no response behind: safe to retry against a replayable source (3.6).
_TRANSIENT_ERRORS = (
    httpx.ConnectError,  # refused, unreachable, DNS
    httpx.ReadError,  # dropped while we read the reply
    httpx.WriteError,  # dropped while we were still sending the body
    httpx.RemoteProtocolError,  # closed without a response, broken framing
    httpx.CloseError,
    httpx.TimeoutException,
)


class TransientError(Exception):
    """A transport-level failure; `cause` is the httpx exception."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}({cause})")
        self.cause = cause


@dataclass(frozen=True)
class Reply:
    status: int
    headers: httpx.Headers
    body: bytes


def build_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of outbound calls, or None to let httpx use its default (system CAs)."""
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
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _get(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            s = self._settings
            limits = httpx.Limits(
                max_connections=s.max_conn,
                max_keepalive_connections=s.max_keepalive_conn,
                keepalive_expiry=s.keepalive_expiry,
            )
            transport = httpx.AsyncHTTPTransport(verify=self._ssl or True, limits=limits)
            # No client-side timeout: the target's obj_timeout bounds the whole chain (3.4).
            self._client = httpx.AsyncClient(transport=transport, timeout=None, headers=s.outbound_headers)
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.aclose()

    async def put(self, url: str, content: bytes | AsyncIterator[bytes], headers: dict[str, str]) -> Reply:
        """PUT and read the whole reply. bytes -> Content-Length; an async iterator -> chunked."""
        try:
            resp = await self._get().put(url, content=content, headers=headers)
        except _TRANSIENT_ERRORS as exc:
            raise TransientError(exc) from exc
        except OSError as exc:
            # Not every transport failure is wrapped by httpx: a TLS 1.3 alert (client certificate
            # required) arrives as a bare ssl.SSLError on the first read. Errors of the body's source
            # never reach here as OSError: the caller wraps them (`_direct_put.SourceError`).
            raise TransientError(exc) from exc
        except httpx.HTTPError as exc:
            raise ProtocolError(f"Direct put to {url!r} failed: {type(exc).__name__}: {exc}", status_code=500) from exc
        return Reply(resp.status_code, resp.headers, resp.content)

    async def open_stream(self, url: str) -> httpx.Response:
        """GET with the body left to read (`aiter_raw`); the caller closes the response."""
        client = self._get()
        try:
            return await client.send(client.build_request("GET", url), stream=True)
        except (*_TRANSIENT_ERRORS, OSError) as exc:
            raise TransientError(exc) from exc
        except httpx.HTTPError as exc:
            raise ProtocolError(f"GET {url!r} failed: {type(exc).__name__}: {exc}", status_code=500) from exc

    async def read_stream(self, resp: httpx.Response) -> AsyncIterator[bytes]:
        """The body of an `open_stream` response; a transport failure mid-body is a TransientError."""
        try:
            async for chunk in resp.aiter_raw():
                yield chunk
        except (*_TRANSIENT_ERRORS, OSError) as exc:
            raise TransientError(exc) from exc
        finally:
            await resp.aclose()
