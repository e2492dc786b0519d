"""Settings are read when a server is made, and the SDK's `sanitize_fqn` hook decides what etl_fqn names."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest
from websockets.sync.client import connect

from aisetl import ConfigError, FastAPIServer
from aisetl.api.base import environ_override
from tests.conftest import TARGET_URL


class Upper(FastAPIServer):
    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        assert isinstance(data, bytes)
        return data.upper()


class Jailed(Upper):
    """A transformer that keeps every etl_fqn inside one folder, as a user may (the SDK's hook)."""

    root = "/nonexistent"

    def sanitize_fqn(self, fqn: str) -> str:
        return str(Path(self.root) / Path(super().sanitize_fqn(fqn)).name)


def make(cls: type[FastAPIServer], **env: str) -> FastAPIServer:
    with environ_override({"AIS_TARGET_URL": TARGET_URL, **env}):
        return cls()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("AISETL_LARGE_OBJECT_BUDGET", "lots", id="budget-not-a-number"),
        pytest.param("AISETL_LARGE_OBJECT_BUDGET", "0", id="budget-zero"),
        pytest.param("AIS_DIRECT_PUT_RETRIES", "-1", id="retries-negative"),
        pytest.param("MAX_CONN", "many", id="max-conn-not-a-number"),
    ],
)
def test_a_bad_setting_is_a_config_error_naming_the_variable_and_value(name, value):
    with pytest.raises(ConfigError) as info:
        make(Upper, **{name: value})
    assert name in str(info.value)
    assert value.lstrip("-") in str(info.value)


def test_the_large_object_budget_is_read_when_the_server_is_made():
    assert make(Upper).settings.large_object_budget == 64 << 20
    assert make(Upper, AISETL_LARGE_OBJECT_BUDGET=str(8 << 20)).settings.large_object_budget == 8 << 20
    # Each server keeps what it was made with: no module-level state read at import.
    small, large = make(Upper, AISETL_LARGE_OBJECT_BUDGET="1048576"), make(Upper)
    assert (small.app.large_objects.limit, large.app.large_objects.limit) == (1 << 20, 64 << 20)


def test_sanitize_fqn_override_decides_the_file_over_http(serve, tmp_path):
    Jailed.root = str(tmp_path)
    (tmp_path / "obj.txt").write_bytes(b"inside")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "obj.txt").write_bytes(b"outside")
    srv = serve(Jailed)
    r = srv.http.put("/bkt/obj.txt", params={"etl_fqn": quote(str(elsewhere / "obj.txt"), safe="")})
    assert (r.status_code, r.content) == (200, b"INSIDE")


def test_sanitize_fqn_override_decides_the_file_over_websocket(serve, tmp_path):
    Jailed.root = str(tmp_path)
    (tmp_path / "obj.txt").write_bytes(b"inside")
    srv = serve(Jailed)
    with connect(srv.ws_url) as ws:
        ws.send(json.dumps({"fqn": quote("/somewhere/else/obj.txt", safe=""), "path": "bkt/obj.txt"}).encode())
        assert ws.recv(timeout=30) == b"INSIDE"


def test_the_default_sanitize_fqn_is_what_ais_expects(serve, tmp_path):
    (tmp_path / "a b.txt").write_bytes(b"spaced")
    srv = serve(Upper)
    # AIS path-escapes the FQN once more than the query encoding (protocol section 4).
    r = srv.http.put("/bkt/a b.txt", params={"etl_fqn": quote(str(tmp_path / "a b.txt"), safe="/")})
    assert (r.status_code, r.content) == (200, b"SPACED")
