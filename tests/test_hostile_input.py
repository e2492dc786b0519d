"""Issue 14, points 2, 3 and 8: no header injection, no secret in a reply or a log line, a deeply nested
control frame closes with a reason. Real uvicorn on 127.0.0.1, real next stages recording what arrives."""

from __future__ import annotations

import json
import logging
import socket

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.stubs import RawPeer, Reply, head_value, raw_request, refused_url
from tests.transforms import Failing, StreamUpper, Upper

ETL_PATH = "/v1/etl/_object/my-etl/s3cr3t"
SECRET, TOKEN = "s3cr3t", "tok-SECRET-4711"


def ws(url: str):
    return connect(url, max_size=None, compression=None, open_timeout=10)


# --- 2. header injection -----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [Upper, StreamUpper])
@pytest.mark.parametrize(
    ("header", "says"),
    [
        pytest.param("{dst}\x01", "Invalid HTTP request", id="c0-control-refused-by-uvicorn"),
        pytest.param("{dst},{dst}/o\x85X-Evil: 1", "control character", id="c1-control-in-remaining"),
        pytest.param("{dst}/o\x9b", "control character", id="c1-control-in-destination-path"),
    ],
)
def test_a_control_character_in_the_pipeline_header_is_400_and_nothing_is_sent(serve, stub, cls, header, says):
    dst = stub([Reply(204)])
    status, body = raw_request(serve(cls).url, "PUT", "/b/o", [("Ais-Node-Url", header.format(dst=dst.url))], b"x")
    assert status == 400, body
    assert says.encode() in body
    assert dst.requests == []


@pytest.mark.parametrize(
    "pipeline",
    [
        pytest.param("{dst}\r\nX-Evil: 1", id="crlf-in-first"),
        pytest.param("{dst},{dst}\r\nX-Evil: 1", id="crlf-in-remaining"),
        pytest.param("{dst}/o\nHost: evil", id="lf-in-destination-path"),
    ],
)
def test_a_crlf_in_a_ws_pipeline_is_refused_and_nothing_is_sent(serve, stub, pipeline):
    dst = stub([Reply(204)])
    with ws(serve(Upper).ws_url) as c:
        c.send(json.dumps({"pipeline": pipeline.format(dst=dst.url), "path": "o"}))
        c.send(b"x")
        reply = c.recv(timeout=10)
        assert isinstance(reply, str) and "control character" in reply
    assert dst.requests == []


def test_spaces_and_non_ascii_in_a_destination_path_are_percent_encoded(serve, stub):
    dst = stub([Reply(204)])
    resp = serve(Upper).http.put(
        "/b/o", content=b"x", headers={"Ais-Node-Url": dst.url + "/ais/@%23/bkt/a b.txt?uuid=1"}
    )
    assert resp.status_code == 204, resp.text
    assert dst.requests[0].target == ETL_PATH + "/ais/@%23/bkt/a%20b.txt?uuid=1"


def test_an_ipv6_next_stage_gets_a_bracketed_host_header(serve):
    def answer(conn: socket.socket, peer: RawPeer) -> None:
        peer.read_head(conn)
        conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")

    with RawPeer(answer, host="::1") as peer:
        resp = serve(Upper).http.put("/b/o", content=b"x", headers={"Ais-Node-Url": peer.url})
        assert resp.status_code == 204, resp.text
        assert head_value(peer.heads[0], "host") == f"[::1]:{peer.port}"


# --- 3. secrets ----------------------------------------------------------------------------------------


def server_log(caplog: pytest.LogCaptureFixture) -> str:
    """What the server logged (the test's own HTTP client logs the URLs it asked for: not ours)."""
    return "\n".join(caplog.handler.format(rec) for rec in caplog.records if rec.name.startswith(("aisetl", "uvicorn")))


def secret_free(text: str | bytes) -> bool:
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    return SECRET not in text and TOKEN not in text


def test_secret_and_token_never_reach_a_reply_a_log_line_or_the_status(serve, stub, caplog):
    caplog.set_level(logging.DEBUG)
    # A target that echoes what it was asked (as AIS error messages do), with the secret in it.
    echo_target = stub(lambda rec: Reply(404, f"no such object: {rec.target} ({rec.header('authorization')})".encode()))
    env = {"AIS_TARGET_URL": echo_target.url + ETL_PATH, "AIS_AUTHN_TOKEN": TOKEN, "AIS_DIRECT_PUT_RETRIES": "0"}
    r = serve(Upper, env)
    replies = [
        r.http.get("/bkt/o"),  # hpull: the target's 404 body echoes the URL and the token
        r.http.put("/b/o", content=b"x", headers={"Ais-Node-Url": refused_url() + "/ais/@%23/b/o"}),  # 503
    ]
    r2 = serve(Upper, {**env, "AIS_TARGET_URL": refused_url() + ETL_PATH})
    replies.append(r2.http.get("/bkt/o"))  # hpull: the target is down
    replies.append(r2.http.get("/bkt/o", params={"etl_fqn": "/nonexistent/" + SECRET}))
    for resp in replies:
        assert resp.status_code >= 400
        assert secret_free(resp.content), resp.text
        assert all(secret_free(k + v) for k, v in resp.headers.items())
    assert "***" in replies[0].text and "***" in replies[1].text  # redacted, not dropped
    assert secret_free(server_log(caplog)), server_log(caplog)
    for server in (r.server, r2.server):
        assert server.stats.last_error is not None
        assert secret_free(server.stats.last_error.message) and secret_free(server.stats.last_error.traceback)
        assert secret_free(repr(server)) and secret_free(repr(server.settings))


def test_a_transform_error_naming_the_secret_is_redacted_on_http_and_ws(serve, caplog):
    class LeaksSecret(Failing):
        def transform(self, data, path, etl_args):
            raise ValueError(f"cannot reach {self.host_target} with {self.token}")

    r = serve(LeaksSecret, {"AIS_AUTHN_TOKEN": TOKEN})
    resp = r.http.put("/b/o", content=b"x")
    assert resp.status_code == 500 and secret_free(resp.content) and "***" in resp.text
    with ws(r.ws_url) as c:
        c.send(json.dumps({"path": "o"}))
        c.send(b"x")
        reply = c.recv(timeout=10)
        assert isinstance(reply, str) and secret_free(reply) and "***" in reply
    assert secret_free(server_log(caplog))


# --- 8. a deeply nested control frame --------------------------------------------------------------------


def test_a_deeply_nested_control_frame_closes_with_a_reason_and_the_server_goes_on(serve):
    r = serve(Upper)
    with ws(r.ws_url) as c:
        c.send("[" * 200_000 + "]" * 200_000)
        with pytest.raises(ConnectionClosed) as info:
            c.recv(timeout=10)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1007
    assert "nested too deeply" in info.value.rcvd.reason
    with ws(r.ws_url) as c:
        c.send(json.dumps({"path": "o"}))
        c.send(b"again")
        assert c.recv(timeout=10) == b"AGAIN"


# --- 7. opt-in confinement ---------------------------------------------------------------------------------


def test_an_fqn_root_confines_etl_fqn_symlinks_included(serve, tmp_path):
    root = tmp_path / "mnt"
    (root / "bkt").mkdir(parents=True)
    (root / "bkt" / "inside").write_bytes(b"inside")
    outside = tmp_path / "outside"
    outside.write_bytes(b"outside")
    (root / "bkt" / "link").symlink_to(outside)
    confined = serve(Upper, {"AISETL_FQN_ROOT": str(root)})
    assert confined.http.put("/b/o", params={"etl_fqn": str(root / "bkt" / "inside")}).content == b"INSIDE"
    for name in (str(outside), str(root / "bkt" / "link"), str(root / ".." / "outside")):
        resp = confined.http.put("/b/o", params={"etl_fqn": name})
        assert resp.status_code == 403, (name, resp.text)
        assert "outside the allowed root folder" in resp.json()["detail"]
    with ws(confined.ws_url) as c:
        c.send(json.dumps({"fqn": str(root / "bkt" / "link"), "path": "o"}))
        reply = c.recv(timeout=10)
        assert isinstance(reply, str) and "outside the allowed root folder" in reply
    # Off by default: AIS sends paths from its own mounts, wherever they are.
    assert serve(Upper).http.put("/b/o", params={"etl_fqn": str(outside)}).content == b"OUTSIDE"


def test_token_hosts_restrict_which_next_stages_receive_the_token(serve, stub):
    dst, target = stub([Reply(204)]), stub([Reply(200, b"x")])
    env = {"AIS_TARGET_URL": target.url + ETL_PATH, "AIS_AUTHN_TOKEN": TOKEN, "AISETL_TOKEN_HOSTS": "localhost"}
    r = serve(Upper, env)
    for host in ("127.0.0.1", "localhost"):
        resp = r.http.put("/b/o", content=b"x", headers={"Ais-Node-Url": f"http://{host}:{dst.port}"})
        assert resp.status_code == 204, resp.text
    assert [req.header("authorization") for req in dst.requests] == [None, f"Bearer {TOKEN}"]
    assert r.http.get("/bkt/o").status_code == 200
    assert target.requests[-1].header("authorization") == f"Bearer {TOKEN}"  # the AIS target always gets it
    open_server = serve(Upper, {k: v for k, v in env.items() if k != "AISETL_TOKEN_HOSTS"})
    open_server.http.put("/b/o", content=b"x", headers={"Ais-Node-Url": f"http://127.0.0.1:{dst.port}"})
    assert dst.requests[-1].header("authorization") == f"Bearer {TOKEN}"  # off by default


@pytest.mark.parametrize("cls", [Upper, StreamUpper])
def test_a_control_character_in_an_hpull_or_next_stage_object_path_is_400_and_nothing_is_sent(serve, stub, cls):
    target, dst = stub([Reply(200, b"x")]), stub([Reply(204)])
    r = serve(cls, {"AIS_TARGET_URL": target.url + ETL_PATH})
    resp = r.http.get("/bkt/a%0D%0AX-Evil:%201")
    assert resp.status_code == 400 and "control character" in resp.text
    resp = r.http.put("/bkt/a%0Ab", content=b"x", headers={"Ais-Node-Url": dst.url})
    assert resp.status_code == 400 and "control character" in resp.text
    assert target.requests == [] and dst.requests == []
