"""Memory under hostile load (issue 14, point 5): peak RSS of aisetl and the official aistore server in
the same run, twenty 64 MiB objects at once in every input mode, and a declared 1 TiB body that never
comes while 2 and 16 MiB PUTs are timed.

Each case gets a fresh server process (benchmarks/run.py's `server`: uvicorn, httptools, uvloop, the AIS
flags, pinned to core 0), so that its VmHWM is the peak of that case alone.

    python benchmarks/hostile.py [--objects 20] [--mib 64]
"""

from __future__ import annotations

import argparse
import http.server
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import run
from run import MIB, peak_rss_mib, server

from tests import hostile_load
from tests.stubs import free_port

# Ports of our own: `make bench` (another checkout's, on a shared machine) uses run.py's fixed ones.
PORT = free_port()
run.NGINX_PORT = NGINX_PORT = free_port()


def serve_objects(size: int) -> http.server.ThreadingHTTPServer:
    """The stand-in AIS target for hpull: any GET is an object of `size` bytes."""
    body = b"o" * size

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    class Quiet(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: object, client_address: object) -> None:
            pass  # a server that gave up on an object closes its connection: not news here

    httpd = Quiet(("127.0.0.1", NGINX_PORT), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def loris_case(url: str) -> str:
    """A client declares 1 TiB and sends nothing; how long do 2 and 16 MiB PUTs take meanwhile?"""
    with socket.create_connection(("127.0.0.1", PORT)) as loris:
        loris.sendall(b"PUT /bkt/huge HTTP/1.1\r\nHost: x\r\nContent-Length: 1099511627776\r\n\r\n")
        time.sleep(0.3)
        times = []
        for size in (2 * MIB, 16 * MIB):
            started = time.monotonic()
            try:
                status = httpx.put(url + "/bkt/o", content=b"a" * size, timeout=30).status_code
                times.append(f"{time.monotonic() - started:.2f} s ({status})")
            except httpx.TimeoutException:
                times.append("no answer in 30 s")
        return ", ".join(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=20)
    parser.add_argument("--mib", type=int, default=64)
    args = parser.parse_args()
    n, size = args.objects, args.mib * MIB
    body = b"a" * size
    workdir = Path(tempfile.mkdtemp(prefix="aisetl-hostile-"))
    obj = workdir / "obj"
    obj.write_bytes(body)
    target = serve_objects(size)
    url = f"http://127.0.0.1:{PORT}"
    ws_body = b"w" * (16 * MIB)
    cases: list[tuple[str, str, Callable[[], object]]] = [
        ("PUT with Content-Length", "identity", lambda: hostile_load.put_with_length(url, n, body)),
        ("chunked PUT", "identity", lambda: hostile_load.put_chunked(url, n, body)),
        ("etl_fqn", "identity", lambda: hostile_load.put_fqn(url, n, obj)),
        ("hpull GET", "identity", lambda: hostile_load.hpull(url, n)),
        (
            "WebSocket, 4 connections x 16 MiB, replies unread",
            "identity",
            lambda: hostile_load.ws_unread(url, 4, 16, ws_body, 10),
        ),
        ("same, slow transform (0.2 s)", "slow", lambda: hostile_load.ws_unread(url, 4, 16, ws_body, 10)),
    ]
    rows = []
    try:
        for title, mode, run_case in cases:
            row = [title]
            for impl in ("aisetl", "official"):
                with server(impl, mode, port=PORT) as proc:
                    started = time.monotonic()
                    try:
                        outcome = run_case()
                        note = summarize(outcome)
                    except Exception as exc:  # a server that falls over is a result too
                        note = f"{type(exc).__name__}"
                    row.append(f"{peak_rss_mib(proc.pid):.0f} ({note}, {time.monotonic() - started:.0f} s)")
            rows.append(row)
            print(" | ".join(row), flush=True)
        row = ["declared 1 TiB, nothing sent: 2 and 16 MiB PUTs answered in"]
        for impl in ("aisetl", "official"):
            with server(impl, "identity", port=PORT):
                row.append(loris_case(url))
        rows.append(row)
        print(" | ".join(row), flush=True)
    finally:
        target.shutdown()
    print(f"\n{n} objects of {args.mib} MiB at once; peak RSS in MiB (outcome, wall time)\n")
    print("| case | aisetl | official |\n|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


def summarize(outcome: object) -> str:
    if isinstance(outcome, list):
        ok = sum(1 for status in outcome if status == 200)
        return f"{ok}/{len(outcome)} answered 200"
    return f"{outcome} objects sent"


if __name__ == "__main__":
    sys.exit(main())
