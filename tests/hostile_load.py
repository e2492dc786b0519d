"""Concurrent large objects in every input mode, for the memory tests and `benchmarks/hostile.py`.

Each function sends `n` objects of `size` bytes at once to an ETL server at `url` and waits for the
answers (the WebSocket one never reads them). One shared body is sent by every thread, so the client
itself stays small; the server's peak RSS is what is measured.
"""

from __future__ import annotations

import concurrent.futures
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

CHUNK = 1 << 20


def _all(n: int, one: Callable[[int], int]) -> list[int]:
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        return list(pool.map(one, range(n)))


def put_with_length(url: str, n: int, body: bytes) -> list[int]:
    def one(i: int) -> int:
        return httpx.put(f"{url}/bkt/o{i}", content=body, timeout=120).status_code

    return _all(n, one)


def put_chunked(url: str, n: int, body: bytes) -> list[int]:
    def chunks() -> Iterator[bytes]:
        view = memoryview(body)
        for start in range(0, len(body), CHUNK):
            yield bytes(view[start : start + CHUNK])

    def one(i: int) -> int:
        return httpx.put(f"{url}/bkt/o{i}", content=chunks(), timeout=120).status_code

    return _all(n, one)


def put_fqn(url: str, n: int, path: Path) -> list[int]:
    fqn = quote(quote(str(path), safe="/"), safe="")

    def one(i: int) -> int:
        return httpx.put(f"{url}/bkt/o{i}?etl_fqn={fqn}", content=b"", timeout=120).status_code

    return _all(n, one)


def hpull(url: str, n: int) -> list[int]:
    def one(i: int) -> int:
        return httpx.get(f"{url}/ais%2F@%23%2Fbkt%2Fo{i}", timeout=120).status_code

    return _all(n, one)


def ws_unread(url: str, connections: int, per_connection: int, body: bytes, hold: float) -> int:
    """`connections` WebSockets each pipelining `per_connection` objects and never reading a reply; after
    `hold` seconds they are closed. Returns how many objects were sent in full."""
    sent = 0
    lock = threading.Lock()
    ws_url = url.replace("http://", "ws://") + "/ws"
    stop = time.monotonic() + hold

    def one(i: int) -> int:
        nonlocal sent
        try:
            with connect(ws_url, max_size=None, compression=None, open_timeout=30, close_timeout=1) as c:
                c.socket.settimeout(max(hold, 1))
                try:
                    for k in range(per_connection):
                        if time.monotonic() > stop:
                            break
                        c.send(json.dumps({"path": f"c{i}/o{k}"}))
                        c.send(body)
                        with lock:
                            sent += 1
                except (TimeoutError, OSError, ConnectionClosed):
                    pass  # the server stopped reading: what this test is about
                time.sleep(max(0.0, stop - time.monotonic()))
                c.socket.close()  # no closing handshake: the replies are still unread
        except (TimeoutError, OSError, ConnectionClosed):
            pass
        return 0

    _all(connections, one)
    return sent
