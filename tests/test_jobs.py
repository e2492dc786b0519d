"""LocalTarget driving ETL servers as an AIS target does: inline GETs and offline jobs, over real HTTP/WS."""

from __future__ import annotations

import os
import re

import pytest

from aisetl import ETLCallError, LocalTarget
from tests.procs import uvicorn_process
from tests.stubs import Drop, RecordingServer, Reply
from tests.transforms import Echo, Failing, Reverse, Sleepy, StreamUpper, Upper

# --- inline ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("comm", ["hpush", "hpull", "ws"])
@pytest.mark.parametrize("fqn", [True, False])
def test_inline_get_through_each_comm_type(tgt, comm, fqn):
    tgt.put("bkt/dir/a b#1.txt", b"inline")
    srv = Upper.serve(target=tgt)
    assert tgt.get("bkt/dir/a b#1.txt", etl=srv, comm=comm, fqn=fqn) == b"INLINE"


def test_inline_hpush_sends_the_fqn_by_default_and_the_bytes_when_asked(tgt):
    tgt.put("bkt/o", b"x")
    srv = Echo.serve(target=tgt, ETL_DIRECT_FQN=True)
    by_fqn = tgt.get("bkt/o", etl=srv, etl_args="a1")
    assert f'"data": "{tgt.fqn("bkt/o")}"' in by_fqn.decode()
    assert b'"etl_args": "a1"' in by_fqn
    assert b'"type": "bytes"' in tgt.get("bkt/o", etl=srv, fqn=False)


def test_inline_pipeline_travels_in_the_header(tgt):
    tgt.put("bkt/o", b"abc")
    second = Reverse.serve(target=tgt, name="second")
    first = Upper.serve(target=tgt, name="first")
    assert tgt.get("bkt/o", etl=first, pipeline=[second]) == b"CBA"
    assert tgt.get("bkt/o", etl=first.url, pipeline=[second.url], comm="ws") == b"CBA"


def test_inline_hpull_with_a_pipeline_is_refused_as_ais_does(tgt):
    tgt.put("bkt/o", b"abc")
    srv = Upper.serve(target=tgt)
    with pytest.raises(ETLCallError, match="not supported for hpull") as info:
        tgt.get("bkt/o", etl=srv, comm="hpull", pipeline=[srv])
    assert info.value.status == 400


def test_inline_etl_error_carries_status_and_text(tgt):
    tgt.put("bkt/o", b"abc")
    with pytest.raises(ETLCallError, match="ETL error: .*cannot transform bkt/o") as info:
        tgt.get("bkt/o", etl=Failing.serve(target=tgt))
    assert info.value.status == 500


# --- offline ---------------------------------------------------------------------------------------


def fill(tgt: LocalTarget, n: int, bucket: str = "src") -> dict[str, bytes]:
    objects = {f"{bucket}/d{i % 7}/obj-{i}.txt": os.urandom(64 + i % 300) for i in range(n)}
    for name, data in objects.items():
        tgt.put(name, data)
    return objects


def test_thousand_objects_through_a_two_stage_pipeline_arrive_byte_exact(tgt):
    objects = fill(tgt, 1000)
    second = Reverse.serve(target=tgt, name="second")
    first = Upper.serve(target=tgt, name="first")
    report = tgt.transform("src", "dst", etl=[first, second], ext={"txt": "out"}, num_workers=8).wait()
    assert (report.state, report.done, report.failed, report.errors) == ("finished", 1000, 0, [])
    assert report.bytes_in == sum(len(d) for d in objects.values())
    assert len(tgt.list("dst")) == 1000
    for name, data in objects.items():
        assert tgt.get("dst/" + name.split("/", 1)[1][:-3] + "out") == data.upper()[::-1]
    assert len({d.name for d in tgt.deliveries}) == 1000  # each delivered once, by direct put


@pytest.mark.parametrize("comm", ["hpull", "ws"])
def test_offline_over_hpull_and_ws(tgt, comm):
    objects = fill(tgt, 60)
    srv = StreamUpper.serve(target=tgt) if comm == "hpull" else Upper.serve(target=tgt)
    report = tgt.transform("src", "dst", etl=srv, comm=comm).wait()
    assert (report.done, report.failed) == (60, 0)
    assert all(tgt.get("dst/" + n.split("/", 1)[1]) == d.upper() for n, d in objects.items())


def test_prefix_selects_objects(tgt):
    fill(tgt, 30)
    report = tgt.transform("src", "dst", etl=Upper.serve(target=tgt), prefix="d1/").wait()
    assert report.total == len(tgt.list("src", prefix="d1/")) == report.done


def test_transform_errors_are_reported_per_object(tgt):
    fill(tgt, 20)
    report = tgt.transform("src", "dst", etl=Failing.serve(target=tgt), continue_on_error=True).wait()
    assert (report.done, report.failed) == (0, 20)
    assert {e.status for e in report.errors} == {500}
    e = report.errors[0]
    assert e.name.startswith("ais://src/") and "ETL error:" in e.message and "cannot transform" in e.message
    assert tgt.list("dst") == []


def test_the_first_error_aborts_without_continue_on_error(tgt):
    fill(tgt, 200)
    report = tgt.transform("src", "dst", etl=Failing.serve(target=tgt), num_workers=2).wait()
    assert report.state == "aborted"
    assert report.failed <= 2  # the workers in flight, no more
    assert report.done == 0


def test_a_dead_etl_fails_every_object_after_soft_retries(tgt):
    fill(tgt, 3)
    srv = Upper.serve(target=tgt)
    url = srv.url
    srv.stop()
    report = tgt.transform("src", "dst", etl=url, continue_on_error=True, soft_retries=2, retry_sleep=0.01).wait()
    assert report.failed == 3
    assert all(e.status == 503 and "unreachable after 3 attempts" in e.message for e in report.errors)


def test_obj_timeout_fails_the_slow_object_only(tgt):
    tgt.put("src/slow-1", b"s")
    tgt.put("src/fast-1", b"f")
    srv = Sleepy.serve(target=tgt)
    report = tgt.transform("src", "dst", etl=srv, obj_timeout=0.5, continue_on_error=True).wait()
    assert (report.done, report.failed) == (1, 1)
    assert report.errors[0].name == "ais://src/slow-1"
    assert "timeout" in report.errors[0].message
    assert tgt.list("dst") == ["dst/fast-1"]


def test_a_next_stage_dropping_connections_fails_the_objects_and_delivers_nothing(tgt):
    fill(tgt, 5)
    with RecordingServer([Drop()]) as dropping:
        srv = Upper.serve(target=tgt, AIS_DIRECT_PUT_RETRIES=0)
        report = tgt.transform("src", "dst", etl=[srv, dropping.url], continue_on_error=True).wait()
    assert (report.done, report.failed) == (0, 5)
    assert all(e.status == 502 for e in report.errors)
    assert tgt.list("dst") == []


def test_an_etl_claiming_delivery_without_delivering_is_a_failure(tgt):
    fill(tgt, 4)
    with RecordingServer([Reply(204)]) as liar:
        report = tgt.transform("src", "dst", etl=liar.url, continue_on_error=True).wait()
    assert (report.done, report.failed) == (0, 4)
    assert "never reached the destination" in report.errors[0].message


def test_a_200_body_is_written_by_the_target_itself(tgt):
    tgt.put("src/o", b"x")
    with RecordingServer([Reply(200, b"from a stage without direct put")]) as plain:
        report = tgt.transform("src", "dst", etl=plain.url).wait()
    assert report.done == 1
    assert tgt.get("dst/o") == b"from a stage without direct put"


def test_the_503_retry_contract_replays_pushed_bytes_only(tgt):
    tgt.put("src/o", b"abc")
    srv = StreamUpper.serve(target=tgt)
    # The last stage drops the first hop, then answers with content (no further direct put).
    with RecordingServer([Drop(), Reply(200, b"ABC")]) as flaky:
        # Pushed bytes (fqn=False): the streaming ETL cannot replay its one-shot body, answers
        # 503 + Ais-Etl-Retry-Reason, and the target pushes the object again.
        report = tgt.transform("src", "dst", etl=[srv, flaky.url], fqn=False, retry_sleep=0.01).wait()
        assert (report.done, report.failed) == (1, 0)
        assert [r.body for r in flaky.requests] == [b"ABC", b"ABC"]
        assert tgt.get("dst/o") == b"ABC"
    with RecordingServer([Drop(), Reply(200, b"ABC")]) as flaky:
        # File-path mode: the ETL reopens the file and retries the hop itself.
        report = tgt.transform("src", "dst2", etl=[srv, flaky.url]).wait()
        assert (report.done, report.failed) == (1, 0)
        assert len(flaky.requests) == 2


def test_a_503_without_replayable_bytes_is_a_plain_error(tgt):
    tgt.put("src/o", b"abc")
    with RecordingServer([Reply(503, b"busy", headers={"Ais-Etl-Retry-Reason": "direct-put-transient"})]) as etl:
        report = tgt.transform("src", "dst", etl=etl.url, retry_sleep=0.01).wait()
        assert (report.done, report.failed) == (0, 1)
        assert report.errors[0].status == 503
        assert len(etl.requests) == 1
        report = tgt.transform("src", "dst", etl=etl.url, fqn=False, soft_retries=3, retry_sleep=0.01).wait()
        assert report.errors[0].message == "503 Service Unavailable: retriable soft error"
        assert len(etl.requests) == 1 + 4


# --- the official server, unchanged ----------------------------------------------------------------


def test_local_target_drives_the_official_aistore_server(tgt):
    objects = fill(tgt, 40)
    tgt.put("src/name with space#and hash.txt", b"awkward")
    env = {"AIS_TARGET_URL": tgt.ais_target_url("official-upper")}
    with uvicorn_process("tests.official.upper:app", env) as url:
        for comm in ("hpush", "hpull", "ws"):
            for fqn in (True, False):
                got = tgt.get("src/name with space#and hash.txt", etl=url, comm=comm, fqn=fqn)
                assert got == b"AWKWARD", (comm, fqn)
            report = tgt.transform("src", f"dst-{comm}", etl=url, comm=comm).wait()
            assert (report.done, report.failed) == (41, 0), report.summary()
            for name, data in objects.items():
                assert tgt.get(f"dst-{comm}/" + name.split("/", 1)[1]) == data.upper()


def test_job_progress_widget_headless(tgt):
    from aisetl.local.job import JobProgress

    fill(tgt, 10)
    job = tgt.transform("src", "dst", etl=Failing.serve(target=tgt), continue_on_error=True)
    job.wait()
    w = JobProgress(job)
    assert (w.bar.value, w.bar.max, w.bar.bar_style) == (10, 10, "danger")
    assert "0/10 done, 10 failed" in w.text.value
    assert "ais://src/" in w.text.value
    assert "text/plain" in job._repr_mimebundle_()


def test_a_running_jobs_widget_says_when_it_was_true(tgt):
    from aisetl.local.job import JobProgress
    from tests.transforms import Sleepy

    tgt.put("src/slow-0", b"x")
    job = tgt.transform("src", "dst", etl=Sleepy.serve(target=tgt, name="sleepy-job"))
    w = JobProgress(job)  # the object takes 1.5 s: the job is running now
    assert re.search(r"as of \d\d:\d\d:\d\d</i> job \S+ running", w.text.value), w.text.value
    job.wait()
    w.refresh()
    assert "as of" not in w.text.value and " finished: 1/1 done" in w.text.value
