"""`aisetl demo` / `make demo`: one transform driven the ways AIS drives it, on a local target.

Written only against the public API (`aisetl.__all__`), as a user's script would be.
"""

from __future__ import annotations

from collections.abc import Callable

import aisetl


@aisetl.etl(name="upper-demo")
def upper(data: bytes) -> bytes:
    """The example transform: upper-cases the object."""
    return data.upper()


@aisetl.etl(name="reverse-demo")
def reverse(data: bytes) -> bytes:
    """The second stage: reverses the bytes."""
    return data[::-1]


def run(say: Callable[[str], None] = print) -> int:
    """Run the demo; returns 0 when every step did what AIS expects."""
    failures = 0

    def check(ok: bool, what: str) -> None:
        nonlocal failures
        failures += not ok
        say(f"  {'ok  ' if ok else 'FAIL'} {what}")

    with aisetl.LocalTarget() as tgt, upper.serve(target=tgt, name="upper-demo") as etl:
        tgt.put("src/hello world.txt", b"hello, AIS")
        say(f"target {tgt.url} (objects under {tgt.mountpath})")
        say(f"ETL server 'upper' on {etl.url}\n")

        say("hpush: PUT /src/hello world.txt with the object bytes")
        r = etl.put(tgt.get("src/hello world.txt"), path="src/hello world.txt")
        say(f"  <- {r.status_code} {r.content!r}")
        check(r.content == b"HELLO, AIS", "the response body is the transformed object")

        fqn = tgt.fqn("src/hello world.txt")
        say(f"hpush, file-path mode: PUT ?etl_fqn={fqn} with an empty body")
        r = etl.put(path="src/hello world.txt", fqn=fqn)
        say(f"  <- {r.status_code} {r.content!r}")
        check(r.content == b"HELLO, AIS", "the server read the object's file itself")

        say("hpull: GET /<object uname>: the server pulls the object from the target")
        r = etl.get("src/hello world.txt")
        say(f"  <- {r.status_code} {r.content!r}")
        check(r.content == b"HELLO, AIS", "pulled from the target and transformed")

        dest = tgt.destination("dst/hello world.txt", uuid="demo")
        say(f"direct put: PUT with Ais-Node-Url: {dest}")
        r = etl.put(b"hello, AIS", path="src/hello world.txt", pipeline=dest)
        length = r.headers.get("ais-direct-put-length")
        say(f"  <- {r.status_code} Ais-Direct-Put-Length: {length}")
        check(r.status_code == 204 and length == "10", "204: delivered, 10 bytes sent")
        stored = tgt.get("dst/hello world.txt")
        say(f"  the target now holds dst/hello world.txt = {stored!r}")
        check(stored == b"HELLO, AIS", "the destination object is the transformed bytes")

        say("\noffline: bucket src -> out through a two-stage pipeline (upper, then reverse) with direct put")
        for i in range(20):
            tgt.put(f"src/doc-{i:02d}.txt", f"document number {i}".encode())
        with reverse.serve(target=tgt, name="reverse-demo") as rev:
            job = tgt.transform("src", "out", etl=[etl, rev], ext={"txt": "rev"})
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
