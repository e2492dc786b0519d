"""Object placement as AIS does it: highest random weight over the targets of the cluster map.

The SDK's `Smap.get_target_for_object` (what `get_reader(direct=True)` uses) and the Go proxy agree
on this, so a LocalCluster that places objects the same way has them found by direct reads:

    digest(uname)   = xxhash64(uname, seed=1103515245)        uname = "ais/@#/<bucket>/<object>"
    id_digest(node) = xxhash64(node id, seed=1103515245)
    owner           = argmax over targets of xoshiro256 mix(id_digest ^ digest)

xxhash64 is written out here (the SDK's `xxhash` package is not a dependency of aisetl); tests check
it against that package and the placement against the SDK's own function.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Protocol, TypeVar

MASK = 0xFFFFFFFFFFFFFFFF
SEED = 1103515245  # cos.MLCG32 in AIS, XX_HASH_SEED in the SDK

_P1 = 11400714785074694791
_P2 = 14029467366897019727
_P3 = 1609587929392839161
_P4 = 9650029242287828579
_P5 = 2870177450012600261

_GOLDEN_RATIO = 0x9E3779B97F4A7C15
_MIX1 = 0xBF58476D1CE4E5B9
_MIX2 = 0x94D049BB133111EB


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & MASK


def _round(acc: int, lane: int) -> int:
    acc = (acc + lane * _P2) & MASK
    return (_rotl(acc, 31) * _P1) & MASK


def _merge(acc: int, value: int) -> int:
    acc ^= _round(0, value)
    return (acc * _P1 + _P4) & MASK


def xxhash64(data: bytes, seed: int = SEED) -> int:
    """XXH64 of `data` (the reference algorithm, 64-bit arithmetic masked)."""
    n = len(data)
    i = 0
    if n >= 32:
        v1 = (seed + _P1 + _P2) & MASK
        v2 = (seed + _P2) & MASK
        v3 = seed & MASK
        v4 = (seed - _P1) & MASK
        while i + 32 <= n:
            a, b, c, d = struct.unpack_from("<4Q", data, i)
            v1, v2, v3, v4 = _round(v1, a), _round(v2, b), _round(v3, c), _round(v4, d)
            i += 32
        h = (_rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)) & MASK
        for v in (v1, v2, v3, v4):
            h = _merge(h, v)
    else:
        h = (seed + _P5) & MASK
    h = (h + n) & MASK
    while i + 8 <= n:
        (lane,) = struct.unpack_from("<Q", data, i)
        h ^= _round(0, lane)
        h = (_rotl(h, 27) * _P1 + _P4) & MASK
        i += 8
    if i + 4 <= n:
        (word,) = struct.unpack_from("<I", data, i)
        h ^= (word * _P1) & MASK
        h = (_rotl(h, 23) * _P2 + _P3) & MASK
        i += 4
    while i < n:
        h ^= (data[i] * _P5) & MASK
        h = (_rotl(h, 11) * _P1) & MASK
        i += 1
    h ^= h >> 33
    h = (h * _P2) & MASK
    h ^= h >> 29
    h = (h * _P3) & MASK
    return h ^ (h >> 32)


def mix(seed: int) -> int:
    """The xoshiro256-style mixer AIS applies to `id_digest ^ digest` (cmn/xoshiro256)."""
    z = (seed + _GOLDEN_RATIO) & MASK
    z = ((z ^ (z >> 30)) * _MIX1) & MASK
    z = ((z ^ (z >> 27)) * _MIX2) & MASK
    z = ((z ^ (z >> 31)) + _GOLDEN_RATIO) & MASK
    z = ((z ^ (z >> 30)) * _MIX1) & MASK
    z = ((z ^ (z >> 27)) * _MIX2) & MASK
    z = ((z ^ (z >> 31)) * 5) & MASK
    return (_rotl(z, 7) * 9) & MASK


def node_digest(node_id: str) -> int:
    """A node's `id_digest` in the cluster map."""
    return xxhash64(node_id.encode())


class Node(Protocol):
    """Anything placed by HRW: a node with its `id_digest`."""

    @property
    def id_digest(self) -> int: ...


N = TypeVar("N", bound=Node)


def owner(nodes: Iterable[N], uname: str) -> N:
    """The node that owns `uname` ("ais/@#/<bucket>/<object>"): the highest mixed weight wins."""
    digest = xxhash64(uname.encode())
    best: N | None = None
    best_weight = -1
    for node in nodes:
        weight = mix(node.id_digest ^ digest)
        if weight > best_weight:
            best, best_weight = node, weight
    if best is None:
        raise LookupError("no targets in the cluster map")
    return best
