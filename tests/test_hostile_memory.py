"""Issue 14, point 5: memory is bounded process-wide, counted as bytes arrive, on every input mode.
Servers run in their own process so that their peak RSS (VmHWM) can be read."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests import hostile_load
from tests.procs import peak_rss_mib, uvicorn_subprocess
from tests.stubs import RecordingServer, Reply, refused_url

ETL_PATH = "/v1/etl/_object/my-etl/s3cr3t"
MIB = 1 << 20
# 20 objects of 32 MiB at once with a 32 MiB budget. Without a budget a mode holds 20 x (input + output)
# = 1.3 GiB; with it, the budget, one object past it and the outputs of the objects being answered.
OBJECTS, SIZE, BUDGET = 20, 32 * MIB, 32 * MIB
RSS_BOUND_MIB = 640


def test_a_declared_terabyte_that_never_comes_does_not_hold_back_other_large_puts():
    env = {"AIS_TARGET_URL": refused_url() + ETL_PATH}
    with uvicorn_subprocess("tests.hostile_apps:upper", env) as (url, _):
        parts = urlsplit(url)
        with socket.create_connection((parts.hostname, parts.port or 80)) as loris:
            loris.sendall(b"PUT /bkt/huge HTTP/1.1\r\nHost: x\r\nContent-Length: 1099511627776\r\n\r\n")
            time.sleep(0.3)
            for size in (2 * MIB, 16 * MIB, 16 * MIB):
                resp = httpx.put(url + "/bkt/o", content=b"a" * size, timeout=5)  # within 5 s, or it raises
                assert (resp.status_code, len(resp.content)) == (200, size)


@pytest.mark.parametrize("mode", ["put-length", "put-chunked", "etl-fqn", "hpull"])
def test_twenty_large_objects_at_once_stay_under_the_rss_bound(mode: str, tmp_path: Path) -> None:
    body = b"a" * SIZE
    target = RecordingServer([Reply(200, body)]).start()
    env = {"AIS_TARGET_URL": target.url + ETL_PATH, "AISETL_LARGE_OBJECT_BUDGET": str(BUDGET)}
    try:
        with uvicorn_subprocess("tests.hostile_apps:upper", env) as (url, proc):
            if mode == "put-length":
                statuses = hostile_load.put_with_length(url, OBJECTS, body)
            elif mode == "put-chunked":
                statuses = hostile_load.put_chunked(url, OBJECTS, body)
            elif mode == "etl-fqn":
                f = tmp_path / "obj"
                f.write_bytes(body)
                statuses = hostile_load.put_fqn(url, OBJECTS, f)
            else:
                statuses = hostile_load.hpull(url, OBJECTS)
            assert statuses == [200] * OBJECTS
            assert peak_rss_mib(proc.pid) < RSS_BOUND_MIB
    finally:
        target.stop()


def test_four_websockets_pipelining_unread_objects_into_a_slow_transform_stay_under_the_rss_bound() -> None:
    env = {"AIS_TARGET_URL": refused_url() + ETL_PATH, "AISETL_LARGE_OBJECT_BUDGET": str(BUDGET)}
    with uvicorn_subprocess("tests.hostile_apps:slow_upper", env) as (url, proc):
        sent = hostile_load.ws_unread(url, 4, 16, b"a" * (16 * MIB), hold=6)
        assert sent >= 4  # objects did go in; the rest were held back by TCP, not by memory
        assert peak_rss_mib(proc.pid) < RSS_BOUND_MIB
        assert httpx.get(url + "/health", timeout=5).text == "Running"
