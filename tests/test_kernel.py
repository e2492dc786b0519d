"""serve() and ServerHandle in this process: real uvicorn threads, real HTTP and WebSocket."""

from __future__ import annotations

import base64
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from aisetl import ConfigError, etl
from aisetl.notebook.display import ETLResponse
from aisetl.notebook.serve import running_servers
from aisetl.server.thread import ServerStartError
from tests.transforms import Echo, Failing, Reverse, StreamUpper, Upper


def test_put_get_and_ws_drive_the_server_as_ais_does(tgt):
    tgt.put("bkt/o.txt", b"object")
    with Upper.serve(target=tgt) as srv:
        resp = srv.put(b"hello", path="bkt/x")
        assert isinstance(resp, httpx.Response) and isinstance(resp, ETLResponse)
        assert (resp.status_code, resp.content) == (200, b"HELLO")
        assert srv.get("bkt/o.txt").content == b"OBJECT"
        assert srv.ws([b"a", b"bc", "bkt/o.txt"]) == [b"A", b"BC", b"OBJECT"]
        assert srv.put(fqn=tgt.fqn("bkt/o.txt"), path="bkt/o.txt").content == b"OBJECT"


def test_handle_passes_etl_args_and_env(tgt):
    with Echo.serve(target=tgt, ETL_DIRECT_FQN=True) as srv:
        got = srv.put(fqn="/some/file", path="b/o", etl_args=" x ").json()
        assert got == {"type": "str", "data": "/some/file", "path": "b/o", "etl_args": "x"}


def test_pipeline_of_handles_and_a_target_shows_where_the_bytes_went(tgt):
    with Reverse.serve(target=tgt, name="second") as second, Upper.serve(target=tgt, name="first") as first:
        relayed = first.put(b"abc", pipeline=[second])
        assert (relayed.status_code, relayed.content) == (200, b"CBA")
        assert "returned by the last stage" in relayed.outcome()
        delivered = first.put(b"abc", path="dst/o", pipeline=[second, tgt])
        assert delivered.status_code == 204
        assert delivered.headers["ais-direct-put-length"] == "3"
        assert "delivered by direct put (3 bytes)" in delivered.outcome()
        assert tgt.get("dst/o") == b"CBA"
        assert second.url in delivered._repr_html_()
        assert first.ws([b"xyz"], pipeline=[second, tgt.destination("dst/ws")]) == ["3"]
        assert tgt.get("dst/ws") == b"ZYX"


def test_error_reply_displays_what_ais_would_report():
    with Failing.serve() as srv:
        resp = srv.put(b"x", path="b/o")
        assert resp.status_code == 500
        assert "ETL error:" in resp.outcome()
        assert "cannot transform b/o" in resp._repr_html_()


def test_serving_the_same_name_again_replaces_the_old_server_on_the_same_port():
    first = Upper.serve(name="rerun")
    port = first.port
    threads_before = threading.active_count()
    for _ in range(20):
        srv = Reverse.serve(name="rerun", port=port)
        assert srv.put(b"abc").content == b"cba"
    assert not first.running
    assert list(running_servers()) == ["rerun"]
    assert threading.active_count() <= threads_before + 1
    srv.stop()


def test_restart_reconstructs_on_the_same_port():
    srv = Upper.serve()
    port = srv.port
    srv.restart()
    assert srv.port == port
    assert srv.put(b"a").content == b"A"
    srv.stop()
    with pytest.raises(RuntimeError, match=r"is stopped: call \.restart\(\)"):
        srv.put(b"a")


def test_a_taken_port_raises_a_clear_error_instead_of_hanging():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ServerStartError, match=f"cannot bind 127.0.0.1:{port}"):
            Upper.serve(port=port)
    assert "Upper" not in running_servers()


def test_a_bad_environment_raises_at_serve():
    with pytest.raises(ConfigError, match="AIS_DIRECT_PUT_RETRIES"):
        Upper.serve(AIS_DIRECT_PUT_RETRIES="many")


def test_stop_returns_promptly_with_a_stream_open():
    srv = StreamUpper.serve()
    client = httpx.Client(timeout=10)

    def endless() -> Iterator[bytes]:
        while True:
            yield b"x" * 1024
            time.sleep(0.01)

    def upload() -> None:
        try:
            client.put(srv.url + "/b/o", content=endless())
        except httpx.HTTPError:
            pass

    uploader = threading.Thread(target=upload, daemon=True)
    uploader.start()
    time.sleep(0.3)
    started = time.monotonic()
    srv.stop()
    assert time.monotonic() - started < 5  # a hang check: the graceful timeout is 1 s
    assert not srv.running
    client.close()


def test_plain_repr_outside_jupyter():
    with Upper.serve(name="plain") as srv:
        srv.put(b"x")
        assert repr(srv) == f"<ServerHandle 'plain' running at {srv.url}, Upper (buffered), 1 objects, 0 errors>"


def test_an_image_reply_displays_as_an_image():
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )

    @etl(mime_type="image/png")
    def thumbnail(data: bytes) -> bytes:
        return png

    with thumbnail.serve() as srv:
        resp = srv.put(b"raw image bytes")
        html = resp._repr_html_()
    assert resp.headers["content-type"] == "image/png"
    assert f"data:image/png;base64,{base64.b64encode(png).decode()}" in html
    assert "200 OK" in html and "content-type" in html
