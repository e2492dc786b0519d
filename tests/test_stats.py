"""What a server counts about itself: bytes in and out on every path, objects, latency percentiles.

Each row sends one object of a known size down one path to a real server and reads its stats: the
widget shows these numbers, so a path that counted 0 B would show a lie.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from websockets.sync.client import connect

from aisetl import LocalTarget
from aisetl.server.stats import LATENCY_WINDOW, ServerStats, user_traceback
from aisetl.wire import object_uname, path_escape
from tests.conftest import Running
from tests.transforms import Failing, StreamUpper, Upper

OBJECT = b"abcdefgh" * 1000  # 8000 bytes
BIG = b"q" * (5 << 20)  # above the size up to which a streamed object is read whole first


def put_body(r: Running, tgt: LocalTarget, data: bytes) -> None:
    assert r.http.put("/b/o", content=data).status_code == 200


def put_chunked(r: Running, tgt: LocalTarget, data: bytes) -> None:
    pieces = iter([data[i : i + 65536] for i in range(0, len(data), 65536)])
    assert r.http.put("/b/o", content=pieces).status_code == 200


def put_fqn(r: Running, tgt: LocalTarget, data: bytes) -> None:
    tgt.put("b/o", data)
    assert r.http.put("/b/o", params={"etl_fqn": tgt.fqn("b/o")}).status_code == 200


def hpull(r: Running, tgt: LocalTarget, data: bytes) -> None:
    tgt.put("b/o", data)
    assert r.http.get("/" + path_escape(object_uname("b", "o"))).status_code == 200


def websocket_content(r: Running, tgt: LocalTarget, data: bytes) -> None:
    with connect(r.ws_url, max_size=None) as ws:
        ws.send(json.dumps({"path": "o"}))
        ws.send(data)
        assert isinstance(ws.recv(), bytes)


def websocket_fqn(r: Running, tgt: LocalTarget, data: bytes) -> None:
    tgt.put("b/o", data)
    with connect(r.ws_url, max_size=None) as ws:
        ws.send(json.dumps({"path": "o", "fqn": tgt.fqn("b/o")}))
        assert isinstance(ws.recv(), bytes)


def direct_put(r: Running, tgt: LocalTarget, data: bytes) -> None:
    resp = r.http.put("/b/o", content=data, headers={"Ais-Node-Url": tgt.destination("b/out")})
    assert resp.status_code == 204


PATHS: dict[str, Callable[[Running, LocalTarget, bytes], None]] = {
    "put": put_body,
    "put-chunked": put_chunked,
    "etl_fqn": put_fqn,
    "hpull": hpull,
    "ws": websocket_content,
    "ws-fqn": websocket_fqn,
    "direct-put": direct_put,
}


@pytest.mark.parametrize("cls", [Upper, StreamUpper], ids=["buffered", "streaming"])
@pytest.mark.parametrize("size", [len(OBJECT), len(BIG)], ids=["8000B", "5MiB"])
@pytest.mark.parametrize("path", list(PATHS))
def test_bytes_in_and_out_are_counted_on_every_path(serve, tgt, cls, size, path):
    r = serve(cls, {"AIS_TARGET_URL": tgt.ais_target_url("counting")})
    data = (OBJECT * (size // len(OBJECT) + 1))[:size]
    PATHS[path](r, tgt, data)
    stats = r.server.stats  # counted before the reply is handed over: no waiting
    assert (stats.objects, stats.errors) == (1, 0)
    assert stats.bytes_in == size
    assert stats.bytes_out == size  # upper-casing keeps the size


def test_a_failed_object_counts_its_input_and_no_output(serve):
    r = serve(StreamUpper)
    # hpull with no target (nothing listens at AIS_TARGET_URL): nothing arrives, nothing leaves.
    assert r.http.get("/b/o").status_code == 502
    assert r.http.put("/b/o", content=b"x" * 10, headers={"Ais-Node-Url": "http://127.0.0.1:9"}).status_code >= 500
    stats = r.server.stats
    assert (stats.objects, stats.errors, stats.bytes_out) == (0, 2, 0)


def test_percentiles_are_nearest_rank_over_the_last_window_of_objects():
    stats = ServerStats()
    assert stats.percentiles(0.5) == (0, [])
    stats.latencies.extend(float(ms) for ms in range(1, 101))  # 1..100
    assert stats.percentiles(0.5, 0.9, 0.99) == (100, [50.0, 90.0, 99.0])
    stats.latencies.extend([1000.0] * LATENCY_WINDOW)  # the old ones fall out of the window
    assert stats.percentiles(0.5) == (LATENCY_WINDOW, [1000.0])


def test_recent_errors_are_kept_bounded_with_the_last_one_first_in_line():
    stats = ServerStats()
    for i in range(100):
        stats.record_error("http", f"b/{i}", 500, ValueError(f"bad {i}"))
    assert stats.errors == 100
    assert len(stats.recent_errors) < 100
    assert stats.recent_errors[-1] is stats.last_error
    assert stats.last_error is not None and stats.last_error.message == "ValueError: bad 99"


def test_an_error_keeps_the_users_frames_and_its_causes_not_the_servers_plumbing(serve):
    r = serve(Failing)
    assert r.http.put("/b/o", content=b"x").status_code == 500
    text = r.server.stats.last_error.traceback
    assert "tests/transforms.py" in text and "ValueError: cannot transform b/o" in text
    assert "aisetl/server" not in text

    def inner() -> None:
        raise KeyError("root")

    try:
        try:
            inner()
        except KeyError as exc:
            raise RuntimeError("outer") from exc
    except RuntimeError as exc:
        chained = user_traceback(exc)
    assert chained.index("KeyError: 'root'") < chained.index("direct cause") < chained.index("RuntimeError: outer")
