"""How fast a LocalTarget job stops: job.cancel(), an interrupt in job.wait() (SIGINT, as a notebook's
stop button sends it) and tgt.close(), with objects in flight in a transform that would hold them for
a minute. The goal (issue 18): within a second.

    .venv/bin/python benchmarks/cancel.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import threading
import time
from collections.abc import Callable

import aisetl
from aisetl import LocalTarget
from aisetl.notebook.serve import stop_all

release = threading.Event()


@aisetl.etl(name="held-objects")
def held(data: bytes) -> bytes:
    release.wait(60)  # a slow model: the objects in flight would take a minute
    return data


def started_job(comm: str) -> tuple[LocalTarget, aisetl.Job]:
    tgt = LocalTarget()
    for i in range(200):
        tgt.put(f"src/o-{i:03d}", b"x" * 1024)
    job = tgt.transform("src", "dst", etl=held.serve(target=tgt), comm=comm, num_workers=8)
    time.sleep(0.3)  # let the workers put objects in flight
    return tgt, job


def by_cancel(tgt: LocalTarget, job: aisetl.Job) -> None:
    job.cancel()


def by_close(tgt: LocalTarget, job: aisetl.Job) -> None:
    tgt.close()


def by_interrupt(tgt: LocalTarget, job: aisetl.Job) -> None:
    threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGINT)).start()
    try:
        job.wait()
    except KeyboardInterrupt:
        pass


def measure(stop: Callable[[LocalTarget, aisetl.Job], None], comm: str) -> float:
    tgt, job = started_job(comm)
    started = time.perf_counter()
    stop(tgt, job)
    while not job.finished:
        time.sleep(0.001)
    took = time.perf_counter() - started
    assert job.report().state == "cancelled", job.report().summary()
    release.set()
    tgt.close()
    release.clear()
    return took - (0.05 if stop is by_interrupt else 0.0)  # the timer's delay is not the job's


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    print(f"{'how':<28} {'comm':<6} {'median ms':>10} {'max ms':>8}")
    for name, stop in (
        ("job.cancel()", by_cancel),
        ("interrupt in job.wait()", by_interrupt),
        ("tgt.close()", by_close),
    ):
        for comm in ("hpush", "hpull", "ws"):
            times = [measure(stop, comm) * 1000 for _ in range(runs)]
            print(f"{name:<28} {comm:<6} {statistics.median(times):>10.1f} {max(times):>8.1f}")
    stop_all()


if __name__ == "__main__":
    main()
