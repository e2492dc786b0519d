"""Outbound TLS, auth and connection-pool settings from the environment, against real HTTPS peers."""

from __future__ import annotations

import concurrent.futures
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.stubs import RecordingServer, Reply
from tests.transforms import Upper


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def pem(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def https_stub(ca: trustme.CA, require_client_cert: bool = False) -> RecordingServer:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    if require_client_cert:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ca.configure_trust(ctx)
    return RecordingServer([Reply(200, b"")], ssl_context=ctx).start()


@pytest.fixture
def https(ca: trustme.CA) -> Iterator[RecordingServer]:
    s = https_stub(ca)
    yield s
    s.stop()


def put_through(serve, url: str, **env: str):
    r = serve(Upper, {"AIS_DIRECT_PUT_RETRIES": "0", **env})
    return r.http.put("/b/o", content=b"abc", headers={"Ais-Node-Url": url})


def test_an_untrusted_next_stage_certificate_fails_with_the_reason(serve, https):
    resp = put_through(serve, https.url)
    assert resp.status_code == 502
    assert "CERTIFICATE_VERIFY_FAILED" in resp.json()["detail"]
    assert https.requests == []


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({"AIS_SKIP_VERIFY_CRT": "true"}, id="skip-verify"),
        pytest.param({"AIS_SKIP_VERIFY": "yes"}, id="legacy-skip-verify"),
    ],
)
def test_skip_verify_reaches_a_self_signed_next_stage(serve, https, env):
    resp = put_through(serve, https.url, **env)
    assert resp.status_code == 204
    assert https.requests[0].body == b"ABC"


def test_the_canonical_skip_verify_name_wins_over_the_legacy_one(serve, https):
    resp = put_through(serve, https.url, AIS_SKIP_VERIFY_CRT="false", AIS_SKIP_VERIFY="true")
    assert resp.status_code == 502


def test_a_client_ca_bundle_makes_the_next_stage_trusted(serve, https, pem):
    assert put_through(serve, https.url, AIS_CLIENT_CA=str(pem)).status_code == 204


def test_mutual_tls_with_a_client_certificate(serve, ca, pem, tmp_path):
    stub = https_stub(ca, require_client_cert=True)
    try:
        assert put_through(serve, stub.url, AIS_CLIENT_CA=str(pem)).status_code == 502
        client = ca.issue_cert("aisetl-client")
        crt, key = tmp_path / "client.pem", tmp_path / "client.key"
        client.cert_chain_pems[0].write_to_path(str(crt))
        client.private_key_pem.write_to_path(str(key))
        resp = put_through(serve, stub.url, AIS_CLIENT_CA=str(pem), AIS_CRT=str(crt), AIS_CRT_KEY=str(key))
        assert resp.status_code == 204
    finally:
        stub.stop()


def test_hpull_from_an_https_target_uses_the_same_tls_settings(serve, ca, pem):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(ctx)
    with RecordingServer([Reply(200, b"secret object")], ssl_context=ctx) as target:
        r = serve(Upper, {"AIS_TARGET_URL": target.url + "/v1/etl/_object/e/s", "AIS_CLIENT_CA": str(pem)})
        assert r.http.get("/ais%2F@%23%2Fb%2Fo").content == b"SECRET OBJECT"


def test_max_conn_bounds_the_connections_to_a_next_stage(serve, stub):
    def concurrent_puts(max_conn: str) -> int:
        nxt: RecordingServer = stub([Reply(200, b"")])
        r = serve(Upper, {"MAX_CONN": max_conn})
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            statuses = list(
                pool.map(
                    lambda i: (
                        r.http.put(f"/b/{i}", content=b"x" * 100_000, headers={"Ais-Node-Url": nxt.url}).status_code
                    ),
                    range(16),
                )
            )
        assert statuses == [204] * 16
        return nxt.peak_connections

    assert concurrent_puts("1") == 1
    assert concurrent_puts("256") > 1


@pytest.mark.parametrize(("keepalive", "expected"), [("0", 3), ("128", 1)])
def test_max_keepalive_conn_decides_whether_connections_are_reused(serve, stub, keepalive, expected):
    nxt = stub([Reply(200, b"")])
    r = serve(Upper, {"MAX_KEEPALIVE_CONN": keepalive})
    for i in range(3):
        assert r.http.put(f"/b/{i}", content=b"x", headers={"Ais-Node-Url": nxt.url}).status_code == 204
    assert nxt.connections == expected
