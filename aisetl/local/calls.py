"""How an AIS target talks to an ETL server (protocol sections 1.2, 6 and 9), as a LocalTarget does.

One request per object: hpush (`PUT /<bucket>/<object>`), hpull (`GET /<uname>`) or a WebSocket
control (+ content) frame, with the inline pipeline or the offline destination in `Ais-Node-Url`, and
the target's reading of the answer: 200/202 body = the transformed object, 204 = delivered by direct
put, >= 400 = `ETL error: <body>`; over WebSocket any text frame = delivered.

The target's retry loop (`retryConnSoftErr`): refused/reset connections and a 503 carrying
`Ais-Etl-Retry-Reason: direct-put-transient` (when the target pushed the bytes and can push them
again) are soft errors, retried up to 10 times with a sleep of 1 s growing by 0.5 s; a timeout is
fatal; any other status is returned once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from .._exceptions import ETLCallError
from ..server.http11 import ConnectError, InvalidURLError, Limits, Pool, ReadError, WriteError
from ..wire import (
    HEADER_NODE_URL,
    HEADER_RETRY_REASON,
    RETRY_REASON_DIRECT_PUT_TRANSIENT,
    encode_control_message,
    object_query,
    object_uname,
    path_escape,
    websocket_url,
)

SOFT_RETRIES = 10  # cmn.RetryArgs SoftErr
RETRY_SLEEP = 1.0  # seconds before the first retry
RETRY_SLEEP_STEP = 0.5  # added per retry
COMMS = ("hpush", "hpull", "ws")


@dataclass(frozen=True)
class Answer:
    """What the ETL gave back for one object: the transformed bytes, or `delivered` by direct put."""

    body: bytes
    delivered: bool


@dataclass(frozen=True)
class ObjectCall:
    """One object to send: its name, its file (for etl_fqn), or its bytes (pushed)."""

    bucket: str
    obj: str
    fqn: str
    data: bytes | None  # None: send the FQN instead of the bytes
    etl_args: str = ""
    pipeline: str = ""  # Ais-Node-Url: the remaining stages and/or the destination


def check_comm(comm: str) -> str:
    if comm not in COMMS:
        raise ValueError(f"comm must be one of {', '.join(COMMS)} (without '://'), got {comm!r}")
    return comm


def http_pool(connections: int) -> Pool:
    """A keep-alive pool for hpush/hpull calls: the server's own HTTP/1.1 client, which reads the
    answer while the body is still going out (a streaming ETL answers as it reads; httpx would send
    the whole body first and, past the socket buffers, wait for ever)."""
    return Pool(Limits(connections, connections, 30.0), None, {})


class HTTPComm:
    """hpush and hpull, with the target's soft-retry loop and obj_timeout."""

    def __init__(
        self,
        client: Pool,
        etl_url: str,
        comm: str,
        obj_timeout: float | None,
        soft_retries: int = SOFT_RETRIES,
        retry_sleep: float = RETRY_SLEEP,
    ) -> None:
        self.client = client
        self.etl_url = etl_url.rstrip("/")
        self.comm = comm
        self.obj_timeout = obj_timeout
        self.soft_retries = soft_retries
        self.retry_sleep = retry_sleep

    def request(self, call: ObjectCall) -> tuple[str, str, dict[str, str], bytes]:
        """(method, URL, headers, body) of the call."""
        params = object_query(call.etl_args, call.fqn if call.data is None else None)
        query = f"?{urlencode(params)}" if params else ""
        headers = {HEADER_NODE_URL: call.pipeline} if call.pipeline else {}
        if self.comm == "hpull":
            return "GET", f"{self.etl_url}/{path_escape(object_uname(call.bucket, call.obj))}{query}", headers, b""
        # AIS sends the hpush path unescaped, which mangles names with '#' or '?' (protocol 1.3);
        # escaping it keeps every name intact and decodes to the same path.
        url = f"{self.etl_url}/{quote(call.bucket, safe='')}/{quote(call.obj, safe='/@')}{query}"
        return "PUT", url, headers, call.data or b""

    async def exchange(self, call: ObjectCall) -> tuple[int, dict[str, str], bytes]:
        method, url, headers, body = self.request(call)
        resp = await self.client.request(method, url, headers, body)
        return resp.status, resp.headers, await resp.read()

    async def send(self, call: ObjectCall) -> Answer:
        attempt = 0
        while True:
            try:
                status, headers, body = await asyncio.wait_for(self.exchange(call), self.obj_timeout)
            except asyncio.TimeoutError:
                raise ETLCallError(
                    504, f"ETL timeout: no complete answer within obj_timeout={self.obj_timeout}s"
                ) from None
            except InvalidURLError as exc:
                raise ETLCallError(500, f"ETL URL unusable: {exc}") from None
            except (ConnectError, ReadError, WriteError, OSError) as exc:
                if attempt >= self.soft_retries:
                    raise ETLCallError(
                        503, f"ETL unreachable after {attempt + 1} attempts: {type(exc).__name__}: {exc}"
                    ) from None
            else:
                replayable = call.data is not None
                retry_asked = status == 503 and headers.get(HEADER_RETRY_REASON) == RETRY_REASON_DIRECT_PUT_TRANSIENT
                if not (retry_asked and replayable):
                    return self.answer(status, body)
                if attempt >= self.soft_retries:
                    raise ETLCallError(503, "503 Service Unavailable: retriable soft error")
            await asyncio.sleep(self.retry_sleep + RETRY_SLEEP_STEP * attempt)
            attempt += 1

    @staticmethod
    def answer(status: int, body: bytes) -> Answer:
        if status in (200, 202):
            return Answer(body, delivered=False)
        if status == 204:
            return Answer(b"", delivered=True)
        if status >= 400:
            raise ETLCallError(status, f"ETL error: {body.decode('utf-8', 'replace')}")
        raise ETLCallError(status, f"ETL answered {status}: not a status a target can use")


class WSComm:
    """ws://: one connection, objects sent one after another; any text reply means delivered."""

    def __init__(self, etl_url: str) -> None:
        self.ws_url = websocket_url(etl_url)
        self._conn: Any = None
        self._lock = asyncio.Lock()

    async def send(self, call: ObjectCall) -> Answer:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake

        ctrl = encode_control_message(call.obj, call.fqn if call.data is None else None, call.etl_args, call.pipeline)
        async with self._lock:  # one object at a time per connection: replies match requests
            try:
                if self._conn is None:
                    self._conn = await connect(self.ws_url, max_size=None, compression=None, ping_interval=None)
                await self._conn.send(ctrl)
                if call.data is not None:
                    await self._conn.send(call.data)
                reply = await self._conn.recv()
            except (OSError, ConnectionClosed, InvalidHandshake) as exc:
                self._conn = None
                raise ETLCallError(503, f"ETL WebSocket failed: {type(exc).__name__}: {exc}") from None
        if isinstance(reply, str):
            return Answer(b"", delivered=True)
        return Answer(bytes(reply), delivered=False)

    async def aclose(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
