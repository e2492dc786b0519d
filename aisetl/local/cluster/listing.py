"""List objects as the SDK needs it: msgpack (`Content-Type: application/msgpack` exactly), paged.

The SDK decodes the reply with msgspec into `BucketList` (`UUID`, `ContinuationToken`, `Flags`,
`Entries` of `{n, s, ...}`, sizes as ints); a JSON reply fails inside pydantic. Its iterator stops
on an empty token only with a non-empty `UUID`. msgpack is written here (a small subset: maps,
arrays, strings, ints, bools, nil), as aisetl does not depend on a msgpack library.
"""

from __future__ import annotations

import os
import secrets
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .target import ClusterTarget

DEFAULT_PAGE_SIZE = 10000  # AIS's page size for ais:// buckets
# The short names AIS gives object properties in a listing (cmn/objlist.go), by the prop asked for.
_PROPS = {"atime": "a", "version": "v", "checksum": "cs", "location": "t", "copies": "c"}


def packb(value: Any) -> bytes:
    """msgpack encoding of JSON-like values."""
    out = bytearray()
    _pack(value, out)
    return bytes(out)


def _pack(v: Any, out: bytearray) -> None:
    if v is None:
        out.append(0xC0)
    elif v is True or v is False:
        out.append(0xC3 if v else 0xC2)
    elif isinstance(v, int):
        if 0 <= v < 128:
            out.append(v)
        elif -32 <= v < 0:
            out += struct.pack("b", v)
        elif 0 <= v < 1 << 64:
            out += b"\xcf" + struct.pack(">Q", v)
        else:
            out += b"\xd3" + struct.pack(">q", v)
    elif isinstance(v, str):
        data = v.encode()
        n = len(data)
        if n < 32:
            out.append(0xA0 | n)
        elif n < 1 << 8:
            out += b"\xd9" + struct.pack(">B", n)
        elif n < 1 << 16:
            out += b"\xda" + struct.pack(">H", n)
        else:
            out += b"\xdb" + struct.pack(">I", n)
        out += data
    elif isinstance(v, (list, tuple)):
        n = len(v)
        out += (
            bytes([0x90 | n])
            if n < 16
            else (b"\xdc" + struct.pack(">H", n) if n < 1 << 16 else b"\xdd" + struct.pack(">I", n))
        )
        for item in v:
            _pack(item, out)
    elif isinstance(v, dict):
        n = len(v)
        out += (
            bytes([0x80 | n])
            if n < 16
            else (b"\xde" + struct.pack(">H", n) if n < 1 << 16 else b"\xdf" + struct.pack(">I", n))
        )
        for key, item in v.items():
            _pack(key, out)
            _pack(item, out)
    else:
        raise TypeError(f"cannot msgpack {type(v).__name__}")


def list_page(targets: Sequence[ClusterTarget], bucket: str, msg: dict[str, Any]) -> bytes:
    """One page of the bucket's listing (LsoMsg in, BucketList out), objects of every target merged."""
    if not isinstance(msg, dict):
        raise ValueError("the list action's value must be an LsoMsg object")
    prefix = str(msg.get("prefix") or "")
    page_size = int(msg.get("pagesize") or 0) or DEFAULT_PAGE_SIZE
    if page_size < 0:
        raise ValueError(f"pagesize must be >= 0, got {page_size}")
    after = str(msg.get("continuation_token") or msg.get("start_after") or "")
    props = {p.strip() for p in str(msg.get("props") or "name,size").split(",")}
    owner_of: dict[str, Any] = {}
    for target in targets:
        for name in target.list(bucket, prefix):
            owner_of[name.split("/", 1)[1]] = target
    names = sorted(o for o in owner_of if o > after)
    page, more = names[:page_size], len(names) > page_size
    entries = []
    for obj in page:
        target = owner_of[obj]
        entry: dict[str, Any] = {"n": obj}
        try:
            st = os.stat(target.fqn(f"{bucket}/{obj}"))
        except FileNotFoundError:
            continue  # deleted while listing
        entry["s"] = st.st_size
        for prop, short in _PROPS.items():
            if prop in props:
                entry[short] = {
                    "atime": str(st.st_atime_ns),
                    "version": "1",
                    "checksum": "",
                    "location": target.node_id,
                    "copies": 1,
                }[prop]
        entry["f"] = 0
        entries.append(entry)
    return packb(
        {
            "UUID": str(msg.get("uuid") or "") or secrets.token_hex(6),
            "ContinuationToken": page[-1] if more and page else "",
            "Flags": 0,
            "Entries": entries or None,
        }
    )
