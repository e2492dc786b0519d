"""Transformer classes the server tests run, written the SDK way (subclasses of FastAPIServer)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import BinaryIO

from aisetl import FastAPIServer


class Upper(FastAPIServer):
    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        assert isinstance(data, bytes)
        return data.upper()


class Echo(FastAPIServer):
    """Answers with what the transform was given, so that a test can see it over HTTP."""

    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        seen = {
            "type": type(data).__name__,
            "data": data if isinstance(data, str) else data.decode("latin-1"),
            "path": path,
            "etl_args": etl_args,
        }
        return json.dumps(seen).encode()


class TextUpper(Upper):
    def get_mime_type(self) -> str:
        return "text/plain"


class Failing(FastAPIServer):
    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        raise ValueError(f"cannot transform {path}")


class WrongType(FastAPIServer):
    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        return 42  # type: ignore[return-value]


class Empty(FastAPIServer):
    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        return b""


class Reverse(FastAPIServer):
    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        assert isinstance(data, bytes)
        return data[::-1]


class Bang(FastAPIServer):
    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        assert isinstance(data, bytes)
        return data + b"!"


class Sleepy(FastAPIServer):
    """Blocks the calling thread (as a model or a blocking client would) for objects named slow*."""

    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        if "slow" in path:
            time.sleep(1.5)
        assert isinstance(data, bytes)
        return data


class AsyncUpper(FastAPIServer):
    async def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:  # type: ignore[override]
        assert isinstance(data, bytes)
        return data.upper()


class StreamUpper(FastAPIServer):
    """Reads 4 KiB at a time, as the SDK's integration tests do."""

    def transform_stream(self, reader: BinaryIO, path: str, etl_args: str) -> Iterator[bytes]:
        while chunk := reader.read(4096):
            yield chunk.upper()


class StreamCounting(FastAPIServer):
    """Counts how often transform_stream starts (class-wide), to see retries restart it."""

    starts = 0
    lock = threading.Lock()

    def transform_stream(self, reader: BinaryIO, path: str, etl_args: str) -> Iterator[bytes]:
        with StreamCounting.lock:
            StreamCounting.starts += 1
        while chunk := reader.read(1 << 16):
            yield chunk


class StreamFailsFirst(FastAPIServer):
    def transform_stream(self, reader: BinaryIO, path: str, etl_args: str) -> Iterator[bytes]:
        raise RuntimeError("bad header in object")
        yield b""  # a generator all the same


class StreamFailsLater(FastAPIServer):
    def transform_stream(self, reader: BinaryIO, path: str, etl_args: str) -> Iterator[bytes]:
        yield b"first part;"
        raise RuntimeError("corrupt tail")


class Both(FastAPIServer):
    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        return b"buffered"

    def transform_stream(self, reader: BinaryIO, path: str, etl_args: str) -> Iterator[bytes]:
        yield b"streaming"


class Neither(FastAPIServer):
    pass


class StreamRaisesOSError(FastAPIServer):
    """Fails with an OSError of its own (not a network failure of the hop)."""

    def transform_stream(self, reader: BinaryIO, path: str, etl_args: str) -> Iterator[bytes]:
        yield reader.read(10)
        raise ConnectionResetError("the model server went away")


class PNGOnly(FastAPIServer):
    """Refuses anything but a PNG image, and tags the output with etl_args (which it requires)."""

    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        assert isinstance(data, bytes)
        if not data.startswith(b"\x89PNG\r\n\x1a\n"):
            raise ValueError(f"{path} is not a PNG image")
        if not etl_args:
            raise ValueError("etl_args with the output size are required")
        return etl_args.encode() + b":" + data[::-1]
