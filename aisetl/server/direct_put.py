"""Direct put: PUT the output to the next stage, retrying transport failures as section 3.6 says.

The decisions (URL, reply mapping, backoff, retry budget) are pure functions of `aisetl.wire`; this
module is only the loop that sends and sleeps.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from .._exceptions import DirectPutError
from ..wire import (
    HEADER_DIRECT_PUT_LENGTH,
    HEADER_NODE_URL,
    DirectPutOutcome,
    Settings,
    backoff_delay,
    compose_direct_put_url,
    interpret_reply,
    retry_budget,
)
from .http11 import NotRetriedError
from .outbound import OutboundClient, Reply, TransientError, read_capped
from .request import Request
from .transforms import TransformRunner

R = TypeVar("R")


class SourceError(Exception):
    """Carries an error of the streamed body's producer through httpx, which must not mistake an
    OSError of the transform's for a failure of the connection to the next stage."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class DirectPut:
    def __init__(self, client: OutboundClient, settings: Settings, log: logging.Logger) -> None:
        self.client = client
        self.settings = settings
        self.log = log

    def _target(self, first: str, remaining: str, path: str, etl_args: str) -> tuple[str, dict[str, str]]:
        url = compose_direct_put_url(first, self.settings.target_url, path, etl_args)
        headers = {HEADER_NODE_URL: remaining} if remaining else {}
        return url, headers

    async def _with_retries(
        self, url: str, budget: int, replayable: bool, attempt_once: Callable[[], Awaitable[R]]
    ) -> R:
        attempt = 0
        while True:
            try:
                return await attempt_once()
            except TransientError as exc:
                # A peer that said nothing for the whole timeout will not do better on a retry within
                # AIS's object timeout: fail now (AIS replays a one-shot body itself).
                if attempt >= budget or isinstance(exc.cause, NotRetriedError):
                    raise DirectPutError(
                        url, exc.cause, attempts=attempt + 1, bail_without_local_retry=not replayable
                    ) from exc
                delay = backoff_delay(attempt)
                self.log.warning(
                    "direct put to %r: attempt %d/%d failed (%s); retrying in %.0f s",
                    url,
                    attempt + 1,
                    budget + 1,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                attempt += 1

    async def put_bytes(self, first: str, remaining: str, path: str, etl_args: str, data: bytes) -> DirectPutOutcome:
        """Buffered output: Content-Length, and always replayable (the bytes are in memory)."""
        url, headers = self._target(first, remaining, path, etl_args)
        reply = await self._with_retries(
            url, self.settings.direct_put_retries, True, lambda: self.client.put(url, data, headers)
        )
        return interpret_reply(reply.status, reply.body, reply.headers.get(HEADER_DIRECT_PUT_LENGTH), len(data))

    async def put_stream(self, req: Request, runner: TransformRunner) -> DirectPutOutcome | ReplyStream:
        """Streaming output, chunked. Each attempt reopens the source and restarts transform_stream.

        The reply is read while the output is still being sent. A next stage answering 200 with a body
        (the last stage of an inline pipeline) is passed on as a `ReplyStream`, never held whole.
        """
        url, headers = self._target(req.first, req.remaining, req.path, req.etl_args)
        sent = 0

        async def attempt_once() -> Reply | ReplyStream:
            nonlocal sent
            sent = 0
            opener, feeder = await runner.open_source(req)
            out = runner.start_stream(opener, req.path, req.etl_args)

            async def body() -> AsyncIterator[bytes]:
                nonlocal sent
                while True:
                    try:
                        chunk = await out.get()
                    except Exception as exc:  # the transform or its source failed, not the hop
                        raise SourceError(exc) from exc
                    if chunk is None:
                        return
                    sent += len(chunk)
                    yield chunk

            def stop_source() -> None:
                out.abandon()
                if feeder is not None:
                    feeder.cancel()

            streaming = False
            try:
                resp = await self.client.open_put(url, body(), headers)
                chunks = self.client.read_stream(resp)
                if resp.status != 200:
                    content = await read_capped(chunks, self.settings.max_object_size, url)
                    return Reply(resp.status, resp.headers, content)
                first = await anext(chunks, None)  # before our answer is committed: may still be retried
                if first is None:
                    return Reply(resp.status, resp.headers, b"")
                streaming = True
                return ReplyStream(first, chunks, stop_source)
            except SourceError as exc:
                raise exc.error from None
            finally:
                if not streaming:
                    stop_source()

        budget = retry_budget(self.settings.direct_put_retries, req.replayable)
        reply = await self._with_retries(url, budget, req.replayable, attempt_once)
        if isinstance(reply, ReplyStream):
            return reply
        return interpret_reply(reply.status, reply.body, reply.headers.get(HEADER_DIRECT_PUT_LENGTH), sent)


class ReplyStream:
    """A next stage's 200 reply with a body, passed on chunk by chunk; `aclose` ends everything behind it."""

    def __init__(self, first: bytes, rest: AsyncIterator[bytes], stop_source: Callable[[], None]) -> None:
        self.first = first
        self._rest = rest
        self._stop_source = stop_source

    async def chunks(self) -> AsyncIterator[bytes]:
        yield self.first
        try:
            async for chunk in self._rest:
                yield chunk
        except SourceError as exc:
            raise exc.error from None

    async def aclose(self) -> None:
        self._stop_source()
        aclose = getattr(self._rest, "aclose", None)
        if aclose is not None:
            await aclose()
