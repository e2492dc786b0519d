"""A transformer module as a user writes one: a helper, module constants, an SDK-style class and an
@etl function. The export tests ship it."""

from __future__ import annotations

import hashlib
import zlib

import aisetl

SALT = b"pepper"
LEVELS = {"fast": 1, "best": 9}


def salted_digest(data: bytes) -> bytes:
    return hashlib.sha256(SALT + data).hexdigest().encode()


class Digest(aisetl.FastAPIServer):
    def transform(self, data, path, etl_args):
        return salted_digest(data) + b" " + path.encode()


@aisetl.etl(mime_type="application/zlib", name="zlib-compress")
def compress(data: bytes, etl_args: str) -> bytes:
    return zlib.compress(data, LEVELS.get(etl_args, 6))
