"""`aisetl demo` / `make demo`: one transform driven the ways AIS drives it, on a local target."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from .api.base import environ_override
from .api.fastapi_server import FastAPIServer
from .local.target import LocalTarget
from .server.config import uvicorn_options
from .server.thread import ServerThread
from .wire import object_uname, path_escape


class Upper(FastAPIServer):
    """The example transform: upper-cases the object."""

    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        assert isinstance(data, bytes)
        return data.upper()


class Reverse(FastAPIServer):
    """The second stage: reverses the bytes."""

    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        assert isinstance(data, bytes)
        return data[::-1]


def run(say: Callable[[str], None] = print) -> int:
    """Run the demo; returns 0 when every step did what AIS expects."""
    failures = 0

    def check(ok: bool, what: str) -> None:
        nonlocal failures
        failures += not ok
        say(f"  {'ok  ' if ok else 'FAIL'} {what}")

    with LocalTarget() as tgt:
        tgt.put("src/hello world.txt", b"hello, AIS")
        with environ_override({"AIS_TARGET_URL": tgt.ais_target_url("upper-demo")}):
            server = Upper()
        with ServerThread(server.app, name="upper-demo", **uvicorn_options(log_level="warning")) as etl:
            http = httpx.Client(base_url=etl.url)
            say(f"target {tgt.url} (objects under {tgt.mountpath})")
            say(f"ETL server 'Upper' on {etl.url}\n")

            say("hpush: PUT /src/hello world.txt with the object bytes")
            r = http.put("/src/hello world.txt", content=tgt.get("src/hello world.txt"))
            say(f"  <- {r.status_code} {r.content!r}")
            check(r.content == b"HELLO, AIS", "the response body is the transformed object")

            fqn = tgt.fqn("src/hello world.txt")
            say(f"hpush, file-path mode: PUT ?etl_fqn={fqn} with an empty body")
            r = http.put("/src/hello world.txt", params={"etl_fqn": path_escape(fqn)})
            say(f"  <- {r.status_code} {r.content!r}")
            check(r.content == b"HELLO, AIS", "the server read the object's file itself")

            uname = object_uname("src", "hello world.txt")
            say(f"hpull: GET /{path_escape(uname)}: the server pulls the object from the target")
            r = http.get("/" + path_escape(uname))
            say(f"  <- {r.status_code} {r.content!r}")
            check(r.content == b"HELLO, AIS", "pulled from the target and transformed")

            dst_uname = path_escape(object_uname("dst", "hello world.txt"))
            dest = f"{tgt.url}/{dst_uname}?uuid=demo&owt=4"
            say(f"direct put: PUT with Ais-Node-Url: {dest}")
            r = http.put("/src/hello world.txt", content=b"hello, AIS", headers={"Ais-Node-Url": dest})
            length = r.headers.get("ais-direct-put-length")
            say(f"  <- {r.status_code} Ais-Direct-Put-Length: {length}")
            check(r.status_code == 204 and length == "10", "204: delivered, 10 bytes sent")
            stored = tgt.get("dst/hello world.txt")
            say(f"  the target now holds dst/hello world.txt = {stored!r}")
            check(stored == b"HELLO, AIS", "the destination object is the transformed bytes")
            http.close()

            say("\noffline: bucket src -> out through a two-stage pipeline (Upper, then Reverse) with direct put")
            for i in range(20):
                tgt.put(f"src/doc-{i:02d}.txt", f"document number {i}".encode())
            with environ_override({"AIS_TARGET_URL": tgt.ais_target_url("reverse-demo")}):
                second = Reverse()
            with ServerThread(second.app, name="reverse-demo", **uvicorn_options(log_level="warning")) as rev:
                job = tgt.transform("src", "out", etl=[etl.url, rev.url], ext={"txt": "rev"})
                report = job.wait()
            say("  " + report.summary())
            check(report.done == 21 and report.failed == 0, "every object done, none failed")
            sample = tgt.get("out/doc-07.rev")
            say(f"  out/doc-07.rev = {sample!r}")
            check(sample == b"7 REBMUN TNEMUCOD", "transformed by both stages, in order")
            delivered = sum(1 for d in tgt.deliveries if d.query.get("uuid") == report.job_id)
            check(delivered == 21, f"{delivered} objects reached the target by direct put")
    say("\nall steps passed" if not failures else f"\n{failures} step(s) failed")
    return 1 if failures else 0
