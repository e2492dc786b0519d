"""A LocalTarget job stops when cancelled, interrupted or when its target closes; the report says how far it got."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from aisetl import FastAPIServer, LocalTarget
from tests.kernel import kernel


class Gate(FastAPIServer):
    """Passes objects named fast-*, fails bad-*, and holds every other object until the gate opens."""

    opened = threading.Event()
    held = threading.Semaphore(0)

    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        assert isinstance(data, bytes)
        if "bad-" in path:
            raise ValueError("bad object")
        if "fast-" not in path:
            Gate.held.release()
            Gate.opened.wait(60)
        return data


@pytest.fixture(autouse=True)
def gate() -> Iterator[None]:
    Gate.opened.clear()
    Gate.held = threading.Semaphore(0)
    yield
    Gate.opened.set()  # let the held transform threads finish


def fill(tgt: LocalTarget) -> None:
    tgt.put("src/a-bad-0", b"x")
    for i in range(2):
        tgt.put(f"src/b-fast-{i}", b"x")
    for i in range(10):
        tgt.put(f"src/c-slow-{i}", b"x")


def held_once() -> None:
    assert Gate.held.acquire(timeout=30), "no object reached the transform"


def test_cancel_stops_the_job_and_the_report_counts_done_failed_cancelled(tgt):
    fill(tgt)
    job = tgt.transform("src", "dst", etl=Gate.serve(target=tgt), num_workers=1, continue_on_error=True)
    held_once()
    job.cancel()
    report = job.wait(timeout=10)  # a hang check only: it stops at once
    assert (report.state, report.done, report.failed, report.cancelled) == ("cancelled", 2, 1, 10)
    assert "2/13 done, 1 failed, 10 cancelled" in report.summary()
    assert sorted(tgt.list("dst")) == ["dst/b-fast-0", "dst/b-fast-1"]
    job.cancel()  # cancelling a finished job changes nothing
    assert job.report().cancelled == 10


def test_closing_the_target_cancels_its_running_jobs():
    tgt = LocalTarget()
    fill(tgt)
    srv = Gate.serve(target=tgt)
    job = tgt.transform("src", "dst", etl=srv, num_workers=2, continue_on_error=True)
    held_once()
    tgt.close()
    assert job.finished
    report = job.report()
    assert report.state == "cancelled" and report.done + report.failed + report.cancelled == 13


def test_a_job_that_finished_is_not_cancelled(tgt):
    tgt.put("src/b-fast-0", b"x")
    job = tgt.transform("src", "dst", etl=Gate.serve(target=tgt))
    assert job.wait(timeout=30).state == "finished"
    job.cancel()
    assert (job.report().state, job.report().cancelled) == ("finished", 0)


def test_a_cell_interrupt_in_wait_cancels_the_job():
    with kernel() as k:
        k.check(
            "import threading, aisetl\n"
            "gate = threading.Event()\n"
            "@aisetl.etl\n"
            "def held(data):\n"
            "    gate.wait(60)\n"
            "    return data\n"
            "tgt = aisetl.LocalTarget()\n"
            "for i in range(20): tgt.put(f'src/o-{i}', b'x')\n"
            "job = tgt.transform('src', 'dst', etl=held.serve(target=tgt), num_workers=2)\n"
        )
        msg_id = k.client.execute("print('waiting', flush=True); job.wait()")
        deadline = time.monotonic() + 60
        while "waiting" not in k.stdout_of(msg_id) and time.monotonic() < deadline:
            k.drain(0.2)
        time.sleep(0.5)  # into wait(): the interrupt must land there, not in print()
        k.km.interrupt_kernel()
        reply = k.client.get_shell_msg(timeout=60)
        while reply["parent_header"].get("msg_id") != msg_id:  # an earlier request's reply
            reply = k.client.get_shell_msg(timeout=60)
        assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt"
        probe = "r = job.report(); gate.set(); (job.finished, r.state, r.cancelled)"
        result = k.run(probe)
        while result.status == "aborted":  # ipykernel drops requests that arrive just after an error
            k.drain(0.5)
            result = k.run(probe)
        state = result.value()
        assert state == "(True, 'cancelled', 20)"
