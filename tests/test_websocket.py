"""WebSocket /ws (protocol checklist items 55-65 and aisetl's additions), over a real WebSocket client."""

from __future__ import annotations

import concurrent.futures
import json
import os
import time
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from aisetl import FastAPIServer
from tests.stubs import Drop, Reply, refused_url
from tests.transforms import Echo, Failing, Reverse, Sleepy, StreamUpper, Upper

ETL_PATH = "/v1/etl/_object/my-etl/s3cr3t"


def ws(url: str) -> ClientConnection:
    return connect(url, max_size=None, compression=None, open_timeout=10)


def ctrl(**keys: str) -> bytes:
    return json.dumps(keys).encode()


def path_escape(path: str) -> str:
    return quote(path, safe="$&+:=@")


def object_file(tmp_path: Path, data: bytes, name: str) -> Path:
    p = tmp_path / "mp1" / "@ais" / "bkt" / "%ob" / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


class Head(FastAPIServer):
    """Cheap on big objects: the first 16 bytes and the length."""

    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        assert isinstance(data, bytes)
        return data[:16] + str(len(data)).encode()


def test_control_and_content_give_the_transformed_bytes(serve):
    with ws(serve(Upper).ws_url) as c:
        c.send(ctrl())
        c.send(b"abc")
        assert c.recv() == b"ABC"


def test_fqn_objects_need_no_content_frame(serve, tmp_path):
    f = object_file(tmp_path, b"from file", "o #1.txt")
    with ws(serve(Upper).ws_url) as c:
        c.send(ctrl(fqn=path_escape(str(f)), path="o #1.txt"))
        c.send(ctrl(path="next"))  # if a content frame were awaited, this would be taken for it
        c.send(b"content")
        assert c.recv() == b"FROM FILE"
        assert c.recv() == b"CONTENT"


def test_delivered_by_direct_put_is_a_text_frame_with_the_length(serve, stub):
    dst = stub([Reply(200, b"")])
    with ws(serve(Upper).ws_url) as c:
        c.send(ctrl(pipeline=dst.url, path="o"))
        c.send(b"hello")
        assert c.recv() == "5"
    (req,) = dst.requests
    assert (req.body, req.header("content-length"), req.chunked) == (b"HELLO", "5", False)


def test_next_stage_error_is_text_zero_and_counted(serve, stub):
    dst = stub([Reply(500, b"broken")])
    r = serve(Upper)
    with ws(r.ws_url) as c:
        c.send(ctrl(pipeline=dst.url, path="o"))
        c.send(b"x")
        assert c.recv() == "0"
    assert r.server.stats.errors == 1
    assert r.server.stats.last_error.path == "o"


def test_malformed_pipeline_is_a_text_frame_naming_it(serve):
    with ws(serve(Upper).ws_url) as c:
        c.send(ctrl(pipeline=",,x,,"))
        c.send(b"x")
        reply = c.recv()
        assert isinstance(reply, str) and "Invalid pipeline" in reply


def test_etl_args_are_stripped_and_forwarded_on_the_direct_put_url(serve, stub):
    r = serve(Echo)
    with ws(r.ws_url) as c:
        c.send(ctrl(etl_args="  a b  ", path="o"))
        c.send(b"x")
        assert json.loads(c.recv())["etl_args"] == "a b"
    dst = stub([Reply(200, b"")])
    with ws(r.ws_url) as c:
        c.send(ctrl(etl_args="  a b  ", pipeline=dst.url + "/ais%2F@%23%2Fdst%2Fo?uuid=X&owt=4", path="o"))
        c.send(b"x")
        assert c.recv().isdigit()
    target = urlsplit(dst.requests[0].target)
    assert target.path == ETL_PATH + "/ais%2F@%23%2Fdst%2Fo"
    assert sorted(parse_qsl(target.query)) == [("etl_args", "a b"), ("owt", "4"), ("uuid", "X")]


def test_next_etl_stage_body_comes_back_as_binary(serve):
    second = serve(Reverse)
    with ws(serve(Upper).ws_url) as c:
        c.send(ctrl(pipeline=second.url, path="bkt/o"))
        c.send(b"abc")
        assert c.recv() == b"CBA"


def test_pipelined_objects_are_answered_in_order(serve):
    objects = [os.urandom(1 << 20) if i % 3 == 0 else f"object {i}".encode() for i in range(10)]
    with ws(serve(Upper).ws_url) as c:
        for i, obj in enumerate(objects):
            c.send(ctrl(path=f"o{i}"))
            c.send(obj)
        assert [c.recv() for _ in objects] == [o.upper() for o in objects]


def test_a_100_mib_content_frame(serve):
    big = b"z" * (100 << 20)
    with ws(serve(Head).ws_url) as c:
        c.send(ctrl(path="big"))
        c.send(big)
        assert c.recv() == b"z" * 16 + str(100 << 20).encode()


def test_direct_fqn_gives_a_str_path_and_content_stays_bytes(serve):
    with ws(serve(Echo, {"ETL_DIRECT_FQN": "true"}).ws_url) as c:
        c.send(ctrl(fqn=path_escape("/mp/@ais/b/%ob/o x"), path="o"))
        c.send(ctrl(path="p"))
        c.send(b"body")
        by_fqn, by_content = json.loads(c.recv()), json.loads(c.recv())
    assert (by_fqn["type"], by_fqn["data"]) == ("str", "/mp/@ais/b/%ob/o x")
    assert (by_content["type"], by_content["data"]) == ("bytes", "body")


def test_a_streaming_only_server_answers_with_its_whole_output(serve, tmp_path):
    f = object_file(tmp_path, b"streamed from file", "s")
    with ws(serve(StreamUpper).ws_url) as c:
        c.send(ctrl(path="a"))
        c.send(b"x" * 100_000)
        c.send(ctrl(fqn=path_escape(str(f)), path="s"))
        assert c.recv() == b"X" * 100_000
        assert c.recv() == b"STREAMED FROM FILE"


def test_text_control_frames_are_accepted(serve):
    with ws(serve(Upper).ws_url) as c:
        c.send(json.dumps({"path": "o"}))
        c.send(b"abc")
        assert c.recv() == b"ABC"


def test_eight_connections_at_once(serve):
    r = serve(Upper)

    def session(n: int) -> bool:
        objects = [f"conn {n} object {i}".encode() * (i + 1) for i in range(20)]
        with ws(r.ws_url) as c:
            for obj in objects:
                c.send(ctrl(path=f"{n}"))
                c.send(obj)
            return [c.recv() for _ in objects] == [o.upper() for o in objects]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert all(pool.map(session, range(8)))


def test_direct_put_carries_length_and_bearer_token(serve, stub):
    dst = stub([Reply(204, headers={"Ais-Direct-Put-Length": "3"})])
    with ws(serve(Upper, {"AIS_AUTHN_TOKEN": "T"}).ws_url) as c:
        c.send(ctrl(pipeline=dst.url, path="o"))
        c.send(b"abc")
        assert c.recv() == "3"
    assert dst.requests[0].header("authorization") == "Bearer T"
    assert dst.requests[0].header("content-length") == "3"


def test_a_transient_next_stage_failure_is_retried(serve, stub):
    dst = stub([Drop(), Reply(200, b"")])
    with ws(serve(Upper).ws_url) as c:
        c.send(ctrl(pipeline=dst.url, path="o"))
        c.send(b"abcd")
        assert c.recv() == "4"
    assert len(dst.requests) == 2


def test_retries_exhausted_is_text_zero_and_counted(serve):
    r = serve(Upper, {"AIS_DIRECT_PUT_RETRIES": "0"})
    with ws(r.ws_url) as c:
        c.send(ctrl(pipeline=refused_url(), path="o"))
        c.send(b"x")
        assert c.recv() == "0"
    assert r.server.stats.errors == 1
    assert "DirectPutError" in r.server.stats.last_error.message


def test_a_transform_error_answers_that_object_and_the_connection_goes_on(serve):
    r = serve(Failing)
    with ws(r.ws_url) as c:
        c.send(ctrl(path="bkt/bad"))
        c.send(b"x")
        reply = c.recv()
        assert isinstance(reply, str)
        assert reply.startswith("Transform error:") and "cannot transform bkt/bad" in reply
        c.send(ctrl(path="bkt/bad2"))
        c.send(b"y")
        second = c.recv()
        assert isinstance(second, str) and second.startswith("Transform error:")
    assert r.server.stats.errors == 2
    assert r.server.stats.last_error.path == "bkt/bad2"


def test_a_missing_fqn_file_is_answered_logged_and_counted(serve, tmp_path):
    r = serve(Upper)
    with ws(r.ws_url) as c:
        c.send(ctrl(fqn=path_escape(str(tmp_path / "gone")), path="gone"))
        reply = c.recv()
        assert reply == f"Error processing object 'gone': file not found at '{tmp_path / 'gone'}'."
        c.send(ctrl(path="ok"))
        c.send(b"ok")
        assert c.recv() == b"OK"
    assert r.server.stats.errors == 1


@pytest.mark.parametrize("bad", [b"not json", b"[1,2]", b'{"path": 7}'])
def test_a_malformed_control_message_closes_with_1007_after_the_replies_owed(serve, bad):
    r = serve(Upper)
    with ws(r.ws_url) as c:
        c.send(ctrl(path="good"))
        c.send(b"good")
        c.send(bad)
        assert c.recv() == b"GOOD"
        with pytest.raises(ConnectionClosed) as info:
            c.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1007
    assert "Invalid control message" in info.value.rcvd.reason
    assert r.server.stats.errors == 1
    with ws(r.ws_url) as c:  # the server still takes new connections
        c.send(ctrl())
        c.send(b"again")
        assert c.recv() == b"AGAIN"


def test_websocket_on_another_path_is_refused(serve):
    with pytest.raises(InvalidStatus) as info:
        ws(serve(Upper).url.replace("http://", "ws://") + "/other")
    assert info.value.response.status_code == 403


def test_a_slow_object_on_one_connection_does_not_stall_another(serve):
    r = serve(Sleepy)
    with ws(r.ws_url) as slow, ws(r.ws_url) as fast:
        slow.send(ctrl(path="slow"))
        slow.send(b"s")
        time.sleep(0.2)
        fast.send(ctrl(path="fast"))
        fast.send(b"f")
        assert fast.recv(timeout=1.0) == b"f"  # answered while the slow object still sleeps
        assert slow.recv(timeout=5) == b"s"


def test_objects_of_one_connection_run_concurrently_and_reply_in_order(serve):
    r = serve(Sleepy)
    with ws(r.ws_url) as c:
        started = time.monotonic()
        for name in ("slow-1", "slow-2", "slow-3"):
            c.send(ctrl(path=name))
            c.send(name.encode())
        assert [c.recv() for _ in range(3)] == [b"slow-1", b"slow-2", b"slow-3"]
        assert time.monotonic() - started < 4.0  # three 1.5 s transforms overlapped, not 4.5 s in a row
