"""In-process measures of the two streaming pipes, without HTTP: what a yield and a small read cost.

    python benchmarks/streaming_micro.py

* yields: a generator reading a 64 MiB BytesIO in pieces of 100 B, 4 KiB and 64 KiB, run in a thread
  into a YieldPipe and drained on a uvloop loop, against the same generator drained by a plain loop;
* reads: lines, read(100) and read(64 KiB) of 16 MiB through the transform's reader (io.BufferedReader
  over PipeReader), with the pipe already full (no waits: the per-call cost alone).
"""

from __future__ import annotations

import asyncio
import io
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aisetl.server.pipe import Pipe, pipe_reader
from aisetl.server.yields import YieldPipe

MIB = 1 << 20
TOTAL = 64 * MIB


def pieces(size: int) -> Iterator[bytes]:
    reader = io.BytesIO(b"x" * TOTAL)
    while piece := reader.read(size):
        yield piece


async def through_pipe(size: int) -> tuple[float, int]:
    pipe = YieldPipe(asyncio.get_running_loop())

    def produce() -> None:
        try:
            pipe.feed(pieces(size))
        except BaseException as exc:
            pipe.finish_blocking(exc)
            return
        pipe.finish_blocking()

    started = time.perf_counter()
    threading.Thread(target=produce).start()
    writes = 0
    while (chunk := await pipe.get()) is not None:
        writes += len(chunk) > 0
    return TOTAL / MIB / (time.perf_counter() - started), writes


def full_reader(chunks: int = 256) -> io.BufferedReader:
    pipe = Pipe(asyncio.new_event_loop(), depth=chunks + 1)
    chunk = (b"x" * 63 + b"\n") * 1024  # 64 KiB of 64-byte lines
    for _ in range(chunks):
        pipe._items.append(chunk)
    pipe.finish()
    return pipe_reader(pipe)


def main() -> None:
    for size in (100, 4096, 65536):
        started = time.perf_counter()
        for _ in pieces(size):
            pass
        alone = TOTAL / MIB / (time.perf_counter() - started)
        rate, writes = uvloop.run(through_pipe(size))
        print(f"yields of {size:>5} B: {rate:6.0f} MiB/s in {writes} writes; the generator alone {alone:6.0f} MiB/s")
    for name, read in (
        ("for line in reader", lambda r: sum(1 for _ in r)),
        ("read(100)", lambda r: sum(1 for _ in iter(lambda: r.read(100), b""))),
        ("read(64 KiB)", lambda r: sum(1 for _ in iter(lambda: r.read(65536), b""))),
    ):
        reader = full_reader()
        started = time.perf_counter()
        read(reader)
        print(f"reader, {name:>18}: {16 / (time.perf_counter() - started):6.0f} MiB/s")


if __name__ == "__main__":
    main()
