"""The transforms the image tests ship: a buffered and a streaming @etl server, each using a module
constant and a helper, as a user's notebook would."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import BinaryIO

import aisetl

TAG = b"img:"
CHUNK = 64 * 1024


def digest_line(data: bytes) -> bytes:
    return TAG + hashlib.sha256(data).hexdigest().encode() + b"\n"


@aisetl.etl(name="image-buffered")
def buffered(data: bytes, path: str, etl_args: str) -> bytes:
    return digest_line(data) + path.encode() + b"|" + etl_args.encode() + b"|" + data[::-1]


@aisetl.etl(name="image-streaming")
def streaming(reader: BinaryIO, path: str) -> Iterator[bytes]:
    total = 0
    while chunk := reader.read(CHUNK):
        total += len(chunk)
        yield chunk.swapcase()
    yield b"\n" + TAG + str(total).encode() + b" " + path.encode()


@aisetl.etl(name="image-file-digest")
def file_digest(data: bytes | str, path: str) -> bytes:
    """With direct file access (ETL_DIRECT_FQN) the transform gets the object's file path and reads it."""
    if isinstance(data, str):
        with open(data, "rb") as f:
            data = f.read()
    return digest_line(data) + path.encode()
