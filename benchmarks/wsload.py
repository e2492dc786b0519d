"""WebSocket load generator: N connections, each keeping K objects in flight, as AIS pipelines them.

Prints one JSON line: {"objects": n, "seconds": s, "errors": e}. Run it pinned to its own core.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import uvloop
from websockets.asyncio.client import connect


async def one_connection(
    url: str, payload: bytes, ctrl: bytes, depth: int, deadline: float, counts: dict[str, int]
) -> None:
    async with connect(url, max_size=None, compression=None, ping_interval=None) as ws:
        in_flight = 0
        while True:
            now = time.monotonic()
            while in_flight < depth and now < deadline:
                await ws.send(ctrl)
                await ws.send(payload)
                in_flight += 1
            if in_flight == 0:
                return
            reply = await ws.recv()
            in_flight -= 1
            if isinstance(reply, str) and not reply.isdigit():
                counts["errors"] += 1
            else:
                counts["objects"] += 1


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--depth", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--pipeline", default="")
    args = parser.parse_args()
    ctrl = {"path": "bkt/obj"}
    if args.pipeline:
        ctrl["pipeline"] = args.pipeline
    payload = b"a" * args.size
    counts = {"objects": 0, "errors": 0}
    started = time.monotonic()
    deadline = started + args.seconds
    await asyncio.gather(
        *(
            one_connection(args.url, payload, json.dumps(ctrl).encode(), args.depth, deadline, counts)
            for _ in range(args.connections)
        )
    )
    print(json.dumps({**counts, "seconds": time.monotonic() - started}))


if __name__ == "__main__":
    uvloop.run(main())
