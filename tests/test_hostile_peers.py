"""Issue 14, points 4 and 6: peers that lie about delivery, send 1xx, never answer, never end a head or a
body. Each hostile peer is a small TCP server on 127.0.0.1 written for the test (tests.stubs.RawPeer);
the ETL server is real uvicorn. "Within 5 s" bounds are generous upper limits (httpx timeouts)."""

from __future__ import annotations

import json
import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
from websockets.sync.client import connect

from tests.stubs import RawPeer, Reply, refused_url
from tests.transforms import StreamUpper, Upper

ETL_PATH = "/v1/etl/_object/my-etl/s3cr3t"
MIB = 1 << 20
BIG = 32 * MIB  # more than loopback socket buffers hold: a peer that stops reading is seen to stop


def read_body(conn: socket.socket, rest: bytes, head: bytes) -> None:
    """Read the request body to its end (Content-Length or chunked), as an honest server does."""
    lower = head.lower()
    if b"content-length:" in lower:
        length = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
        got = len(rest)
        while got < length:
            chunk = conn.recv(1 << 20)
            if not chunk:
                return
            got += len(chunk)
        return
    data = rest
    while not data.endswith(b"0\r\n\r\n"):
        chunk = conn.recv(1 << 20)
        if not chunk:
            return
        data = data[-16:] + chunk


def hold_open(conn: socket.socket, seconds: float = 60) -> None:
    conn.settimeout(seconds)
    try:
        while conn.recv(1):  # a byte at a time, never to the end: hold without reading on
            time.sleep(seconds)
    except OSError:
        pass


# --- 4. delivered means delivered ---------------------------------------------------------------------


def answers_200_after_a_part(conn: socket.socket, peer: RawPeer) -> None:
    peer.read_head(conn)
    conn.recv(MIB)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    hold_open(conn)


@pytest.mark.parametrize("cls", [Upper, StreamUpper])
def test_a_200_after_reading_part_of_the_body_is_not_a_delivery(serve, cls):
    with RawPeer(answers_200_after_a_part) as peer:
        r = serve(cls, {"AIS_DIRECT_PUT_RETRIES": "0"})
        resp = r.http.put("/b/o", content=b"a" * BIG, headers={"Ais-Node-Url": peer.url})
        assert resp.status_code in (502, 503), resp.text  # 503: a one-shot body AIS replays itself
        assert "before reading the whole request body" in resp.json()["detail"]
        assert r.server.stats.errors == 1 and r.server.stats.objects == 0


def test_a_200_after_reading_part_is_not_counted_delivered_on_the_websocket(serve):
    with RawPeer(answers_200_after_a_part) as peer:
        r = serve(Upper, {"AIS_DIRECT_PUT_RETRIES": "0"})
        with connect(r.ws_url, max_size=None, open_timeout=10) as c:
            c.send(json.dumps({"path": "o", "pipeline": peer.url}))
            c.send(b"a" * BIG)
            assert c.recv(timeout=30) == "0"


INFORMATIONAL = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n"


def informational_then_204(conn: socket.socket, peer: RawPeer) -> None:
    while True:
        head, rest = peer.read_head(conn)
        read_body(conn, rest, head)
        conn.sendall(INFORMATIONAL + b"HTTP/1.1 204 No Content\r\nAis-Direct-Put-Length: 5\r\n\r\n")


def informational_then_object(conn: socket.socket, peer: RawPeer) -> None:
    peer.read_head(conn)
    conn.sendall(INFORMATIONAL + b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nobject")


@pytest.mark.parametrize("cls", [Upper, StreamUpper])
def test_informational_replies_are_skipped_on_direct_put(serve, cls):
    with RawPeer(informational_then_204) as peer:
        r = serve(cls)
        for _ in range(2):  # and the connection is reused after them
            resp = r.http.put("/b/o", content=b"hello", headers={"Ais-Node-Url": peer.url})
            assert resp.status_code == 204, resp.text
        assert peer.connections == 1


@pytest.mark.parametrize("cls", [Upper, StreamUpper])
def test_informational_replies_are_skipped_on_hpull(serve, cls):
    with RawPeer(informational_then_object) as target:
        r = serve(cls, {"AIS_TARGET_URL": target.url + ETL_PATH})
        resp = r.http.get("/bkt/o")
        assert (resp.status_code, resp.content) == (200, b"OBJECT")


# --- 6. timeouts and slots ------------------------------------------------------------------------------


def never_answers(conn: socket.socket, peer: RawPeer) -> None:
    head, rest = peer.read_head(conn)
    read_body(conn, rest, head)
    hold_open(conn, 120)


@pytest.mark.parametrize("cls", [Upper, StreamUpper])
def test_a_next_stage_that_never_answers_fails_the_object_within_the_set_timeout(serve, cls):
    with RawPeer(never_answers) as peer:
        r = serve(cls, {"AISETL_RESPONSE_TIMEOUT": "2"})
        started = time.monotonic()
        resp = r.http.put("/b/o", content=b"x", headers={"Ais-Node-Url": peer.url}, timeout=30)
        assert resp.status_code in (502, 503), resp.text
        assert "nothing moved for 2 s" in resp.json()["detail"]
        assert time.monotonic() - started < 25  # not retried: one timeout, not four


def endless_head(conn: socket.socket, peer: RawPeer) -> None:
    peer.read_head(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    while True:
        conn.sendall(b"X-More: " + b"m" * 1000 + b"\r\n")


def test_a_response_head_that_never_ends_is_an_error_within_5_s(serve):
    with RawPeer(endless_head) as peer:
        resp = serve(Upper).http.put("/b/o", content=b"x", headers={"Ais-Node-Url": peer.url}, timeout=5)
        assert resp.status_code == 502, resp.text
        assert "response head longer than" in resp.json()["detail"]


def endless_chunked_reply(conn: socket.socket, peer: RawPeer) -> None:
    head, rest = peer.read_head(conn)
    if not head.startswith(b"GET"):
        read_body(conn, rest, head)
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n" % MIB + b"e" * MIB + b"\r\n"
    while True:
        conn.sendall(chunk)


def test_an_endless_reply_from_the_next_stage_is_cut_off(serve):
    with RawPeer(endless_chunked_reply) as peer:
        r = serve(Upper, {"AISETL_MAX_OBJECT_SIZE": str(8 * MIB)})
        resp = r.http.put("/b/o", content=b"x", headers={"Ais-Node-Url": peer.url})
        assert resp.status_code == 502, resp.text
        assert "cut off" in resp.json()["detail"]
        assert r.http.get("/health").text == "Running"


def test_an_endless_hpull_object_is_cut_off(serve):
    with RawPeer(endless_chunked_reply) as target:
        r = serve(Upper, {"AIS_TARGET_URL": target.url + ETL_PATH, "AISETL_MAX_OBJECT_SIZE": str(8 * MIB)})
        resp = r.http.get("/bkt/o")
        assert resp.status_code == 413, resp.text
        assert "AISETL_MAX_OBJECT_SIZE" in resp.json()["detail"]


def test_objects_stuck_on_one_next_stage_leave_slots_for_healthy_direct_puts_and_hpulls(serve, stub):
    healthy_dst = stub([Reply(204)])
    target = stub([Reply(200, b"pulled")])
    with RawPeer(never_answers) as stuck:
        r = serve(Upper, {"AIS_TARGET_URL": target.url + ETL_PATH})
        parts = urlsplit(r.url)
        request = (
            f"PUT /b/stuck HTTP/1.1\r\nHost: x\r\nAis-Node-Url: {stuck.url}\r\nContent-Length: 1\r\n\r\nx"
        ).encode()
        clients = []
        for _ in range(300):
            s = socket.create_connection((parts.hostname, parts.port or 80))
            s.sendall(request)
            clients.append(s)
        try:
            deadline = time.monotonic() + 30
            while stuck.connections < 256 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert stuck.connections >= 256  # every slot a single host may have is taken
            resp = r.http.put("/b/o", content=b"x", headers={"Ais-Node-Url": healthy_dst.url}, timeout=5)
            assert resp.status_code == 204, resp.text
            resp = r.http.get("/bkt/o", timeout=5)
            assert (resp.status_code, resp.content) == (200, b"PULLED")
        finally:
            for s in clients:
                s.close()


def test_a_connect_that_hangs_fails_within_the_connect_timeout(serve):
    # A listening socket whose backlog is full: further SYNs are dropped, the connect hangs.
    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        port = full.getsockname()[1]
        fillers = []
        for _ in range(8):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", port))
            except BlockingIOError:
                pass
            fillers.append(s)
        try:
            r = serve(Upper, {"AISETL_CONNECT_TIMEOUT": "1", "AIS_DIRECT_PUT_RETRIES": "0"})
            resp = r.http.put("/b/o", content=b"x", headers={"Ais-Node-Url": f"http://127.0.0.1:{port}"}, timeout=20)
            assert resp.status_code == 502, resp.text
            assert "no answer in 1 s" in resp.json()["detail"] or "cannot connect" in resp.json()["detail"]
        finally:
            for s in fillers:
                s.close()


def test_settings_refuse_a_bad_timeout():
    from aisetl import ConfigError
    from aisetl.wire import read_settings

    for bad in ("0", "-1", "soon", "inf"):
        with pytest.raises(ConfigError, match="AISETL_RESPONSE_TIMEOUT"):
            read_settings({"AIS_TARGET_URL": refused_url(), "AISETL_RESPONSE_TIMEOUT": bad})
    assert read_settings({"AIS_TARGET_URL": refused_url(), "AISETL_IDLE_TIMEOUT": "2.5"}).idle_timeout == 2.5


@pytest.mark.parametrize("cls", [Upper, StreamUpper])
def test_a_client_that_goes_away_cancels_its_direct_put(serve, cls, tmp_path):
    closed = threading.Event()

    def never_answers_and_sees_the_close(conn: socket.socket, peer: RawPeer) -> None:
        head, rest = peer.read_head(conn)
        read_body(conn, rest, head)
        conn.settimeout(60)
        try:
            while conn.recv(65536):
                pass
        except OSError:
            pass
        closed.set()

    obj = tmp_path / "o"
    obj.write_bytes(b"x")
    with RawPeer(never_answers_and_sees_the_close) as peer:
        r = serve(cls)
        parts = urlsplit(r.url)
        with socket.create_connection((parts.hostname, parts.port or 80)) as client:
            client.sendall(
                f"PUT /b/o?etl_fqn={obj} HTTP/1.1\r\nHost: x\r\nAis-Node-Url: {peer.url}\r\n"
                "Content-Length: 0\r\n\r\n".encode()
            )
            deadline = time.monotonic() + 10
            while not peer.heads and time.monotonic() < deadline:
                time.sleep(0.05)
            assert peer.heads  # the direct put is under way
        # Well before the 30 s response timeout, the next stage sees its connection closed.
        assert closed.wait(10)
        assert r.http.get("/health").text == "Running"
