"""Running the user's transform over a source: the request body, the `etl_fqn` file, or an hpull GET.

Sync transforms run in worker threads (a blocking transform never stalls other requests); `async def`
ones on the loop. Every transport (HTTP, WebSocket, direct put) goes through this one runner.
"""

from __future__ import annotations

import asyncio
import io
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import BinaryIO, Protocol, cast

from .._exceptions import TargetError
from ..wire import Settings, upstream_object_url
from .asgi import iter_body, read_body
from .budget import Lease, collect_counted
from .files import FileSlice, open_object_file, read_all
from .outbound import OutboundClient, TransientError
from .output import as_bytes
from .pipe import Pipe, pipe_reader, pump
from .request import Request
from .stats import ServerStats
from .workers import WorkerPool
from .yields import YieldPipe

# Worker threads for sync transforms: enough that blocking transforms (I/O, sleeps) do not queue
# behind each other under AIS's concurrency; threads are started only when needed.
TRANSFORM_THREADS = 64
# Streamed objects of known size up to this are read whole before the transform starts (see open_source).
STREAM_BUFFER_MAX = 4 << 20
# Files up to this size are read on the loop (cheaper than a thread hop); larger ones in a thread.
INLINE_READ_MAX = 1 << 20


class Transformer(Protocol):
    """What the server layer needs of an ETL server (`aisetl.ETLServer` is one)."""

    settings: Settings
    stats: ServerStats
    logger: logging.Logger
    use_streaming: bool
    transform_is_async: bool

    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes | Awaitable[bytes]: ...
    def transform_stream(self, reader: BinaryIO, path: str, etl_args: str) -> Iterator[bytes]: ...
    def get_mime_type(self) -> str: ...
    def sanitize_fqn(self, fqn: str) -> str: ...


class TransformRunner:
    """The transform of one server, its worker threads, and the sources it reads from."""

    def __init__(self, server: Transformer, client: OutboundClient) -> None:
        self.server = server
        self.settings = server.settings
        self.stats = server.stats
        self.client = client
        self._workers: WorkerPool | None = None

    @property
    def workers(self) -> WorkerPool:
        if self._workers is None:
            self._workers = WorkerPool(TRANSFORM_THREADS, "aisetl-transform")
        return self._workers

    def shutdown(self) -> None:
        workers, self._workers = self._workers, None
        if workers is not None:
            workers.shutdown()

    async def run_transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        server = self.server
        if server.transform_is_async:
            out = await server.transform(data, path, etl_args)  # type: ignore[misc]
        else:
            out = await self.workers.run(server.transform, data, path, etl_args)
        return as_bytes(out, "transform()")

    def produce(self, open_reader: Callable[[], BinaryIO], path: str, etl_args: str, out: YieldPipe) -> None:
        """Worker thread: run transform_stream over a fresh reader, feeding `out` until it ends."""
        try:
            reader = open_reader()
        except BaseException as exc:
            out.finish_blocking(exc)
            return
        chunks: Iterator[bytes] | None = None
        try:
            chunks = self.server.transform_stream(reader, path, etl_args)
            out.feed(chunks)
        except BaseException as exc:
            out.finish_blocking(exc)
        else:
            out.finish_blocking()
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
            reader.close()

    def start_stream(self, opener: Callable[[], BinaryIO], path: str, etl_args: str) -> YieldPipe:
        """Start transform_stream in a worker thread; its output arrives on the returned pipe, coalesced."""
        out = YieldPipe(asyncio.get_running_loop())
        self.workers.start_soon(self.produce, opener, path, etl_args, out)
        return out

    async def open_upstream(self, path: str) -> tuple[int | None, AsyncIterator[bytes]]:
        """hpull: start the GET of the object from the AIS target: (its Content-Length, its body).

        An error status is a TargetError carrying that status.
        """
        url = upstream_object_url(self.settings.target_url, path)
        try:
            resp = await self.client.open_stream(url)
        except TransientError as exc:
            raise TargetError(
                f"Network error: cannot GET object {path!r} from the AIS target: {exc}", status_code=502
            ) from exc
        if not 200 <= resp.status < 300:
            try:
                snippet = (await resp.read())[:256].decode("utf-8", "replace")
            except Exception:
                snippet = ""
            raise TargetError(
                f"Target request failed: GET of object {path!r} from the AIS target answered "
                f"{resp.status}{': ' + snippet if snippet else ''}",
                status_code=resp.status,
            )
        length = resp.header("content-length")
        return (int(length) if length and length.isdigit() else None), self.client.read_stream(resp)

    async def fetch_upstream(self, path: str, lease: Lease | None = None) -> bytes:
        length, chunks = await self.open_upstream(path)
        if length is not None and length <= INLINE_READ_MAX:
            lease = None  # small, and held to its length by the parser: not worth counting
        return await self.collect_upstream(path, chunks, lease)

    async def collect_upstream(self, path: str, chunks: AsyncIterator[bytes], lease: Lease | None = None) -> bytes:
        try:
            if lease is not None:
                data = await collect_counted(chunks, lease)
            else:
                data = b"".join([chunk async for chunk in chunks])
            self.stats.took_in(len(data))
            return data
        except TransientError as exc:
            raise TargetError(
                f"Network error: GET of object {path!r} from the AIS target broke off: {exc}", status_code=502
            ) from exc

    def open_fqn(self, fqn: str) -> tuple[int, int]:
        """Open the object file (non-blocking, regular files only, confined when so set): (fd, size)."""
        return open_object_file(fqn, self.settings.fqn_root)

    async def read_fqn(self, fqn: str, lease: Lease | None = None) -> bytes:
        fd, size = self.open_fqn(fqn)
        # Small files are read on the loop (cheaper than a thread hop, and a regular file's read does not
        # wait on anyone); larger ones in a thread, once the memory budget has room for them. Never more
        # than the size seen at open.
        if size <= INLINE_READ_MAX:
            data = read_all(fd, size)
        else:
            try:
                if lease is not None:
                    await lease.take(size)
            except BaseException:
                os.close(fd)
                raise
            data = await self.workers.run(read_all, fd, size)
        self.stats.took_in(len(data))
        return data

    def fqn_opener(self, fqn: str) -> Callable[[], BinaryIO]:
        """A thread-side opener of the object file, checked now (on the loop) so that a bad name fails early."""
        fd, size = self.open_fqn(fqn)
        # Counted as opened, on the loop: the transform reads it in a thread (a count there would race
        # the reply), and it is the object the transform was given.
        self.stats.took_in(size)
        return lambda: cast(BinaryIO, FileSlice(fd, size))

    async def open_source(self, req: Request) -> tuple[Callable[[], BinaryIO], asyncio.Task[None] | None]:
        """The source of a streaming transform: a thread-side opener, and the loop task that feeds it.

        An object of known size up to STREAM_BUFFER_MAX is read whole first: the transform then reads
        it from memory without a thread hop per chunk (several times faster for objects of a few MiB),
        and memory stays bounded by that size. Larger or unsized objects are pumped chunk by chunk.
        """
        if req.fqn:
            return self.fqn_opener(req.fqn), None
        if req.method == "GET":
            length, chunks = await self.open_upstream(req.path)
            if length is not None and length <= STREAM_BUFFER_MAX:
                data = await self.collect_upstream(req.path, chunks)
                return (lambda: io.BytesIO(data)), None
        elif req.content_length is not None and req.content_length <= STREAM_BUFFER_MAX:
            body = await read_body(req.receive)
            self.stats.took_in(len(body))
            return (lambda: io.BytesIO(body)), None
        else:
            chunks = iter_body(req.receive)
        loop = asyncio.get_running_loop()
        pipe = Pipe(loop)
        return (lambda: cast(BinaryIO, pipe_reader(pipe))), loop.create_task(pump(chunks, pipe, self.stats.took_in))
