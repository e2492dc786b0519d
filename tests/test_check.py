"""`aisetl check` and `server.check()`: any ETL server, checked against the AIS contract, saying why."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.procs import uvicorn_process
from tests.stubs import free_port, refused_url
from tests.transforms import PNGOnly, Upper

pytestmark = pytest.mark.timeout(180)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def aisetl_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aisetl", "check", *args], capture_output=True, text=True, timeout=150)


def lines(result: subprocess.CompletedProcess[str], status: str) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(status + "  ")]


def some_target_url(etl_name: str = "any-etl") -> str:
    """An AIS_TARGET_URL as AIS makes one: a port, the ETL's name, a secret the checker cannot guess."""
    return f"http://127.0.0.1:{free_port()}/v1/etl/_object/{etl_name}/{secrets.token_hex(8)}"


def test_check_passes_on_the_official_server_given_its_target_url():
    target_url = some_target_url("official-upper")
    with uvicorn_process("tests.official.upper:app", {"AIS_TARGET_URL": target_url}) as url:
        result = aisetl_check(url, "--target-url", target_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines(result, "FAIL") == [] and lines(result, "NOT RUN") == []
    passed = "\n".join(lines(result, "PASS"))
    assert "hpull: GET /<uname> pulls the object" in passed
    assert "direct put to a target" in passed


def test_without_the_target_url_the_target_side_checks_are_not_run_and_say_why():
    with uvicorn_process("tests.official.upper:app", {"AIS_TARGET_URL": some_target_url()}) as url:
        result = aisetl_check(url)
    assert result.returncode == 0, result.stdout
    not_run = lines(result, "NOT RUN")
    assert any("hpull" in line and "--target-url" in line for line in not_run)
    assert any("direct put to a target" in line and "--target-url" in line for line in not_run)
    assert any("direct put to a next stage" in line for line in lines(result, "PASS"))
    assert f"0 failed, {len(not_run)} not run" in result.stdout


def test_check_serve_starts_the_server_itself_with_the_stand_in_target():
    result = aisetl_check("--serve", "tests.official.upper:app")
    assert result.returncode == 0, result.stdout + result.stderr
    assert lines(result, "FAIL") == [] and lines(result, "NOT RUN") == []


def test_check_with_a_real_object_and_etl_args(tmp_path: Path):
    image = tmp_path / "cat.png"
    image.write_bytes(PNG)
    generic = aisetl_check("--serve", "tests.transforms:PNGOnly")
    assert generic.returncode == 1
    assert any("not a PNG image" in line for line in lines(generic, "FAIL"))
    real = aisetl_check("--serve", "tests.transforms:PNGOnly", "--object", str(image), "--etl-args", '{"size":64}')
    assert real.returncode == 0, real.stdout + real.stderr
    assert f"object: {image} ({len(PNG)} bytes)" in real.stdout
    assert lines(real, "FAIL") == [] and lines(real, "NOT RUN") == []


def test_check_fails_on_a_server_that_answers_500_saying_why():
    with uvicorn_process("tests.broken:always_500", {}) as url:
        result = aisetl_check(url)
    assert result.returncode == 1
    failed = lines(result, "FAIL")
    assert any("hpush" in line and "answered 500" in line and "model not loaded" in line for line in failed)
    assert all("the plain hpush failed" in line for line in lines(result, "NOT RUN") if "--target-url" not in line)


def test_check_fails_on_a_server_that_breaks_the_contract_naming_what_is_wrong():
    target_url = some_target_url()
    with uvicorn_process("tests.broken:app", {"AIS_TARGET_URL": target_url}) as url:
        result = aisetl_check(url, "--target-url", target_url)
    assert result.returncode == 1
    failed = lines(result, "FAIL")
    assert any("Ais-Node-Url with an empty entry is 400" in line and "expected 400" in line for line in failed)
    assert any("direct put to a target" in line and "expected 204" in line for line in failed)
    assert any("WebSocket" in line for line in failed)


def test_check_of_an_address_where_nothing_listens_says_so():
    result = aisetl_check(refused_url())
    assert result.returncode == 2
    assert "cannot connect to" in result.stderr and "is the server running?" in result.stderr


def test_check_refuses_a_target_url_it_cannot_stand_in_for():
    result = aisetl_check("http://127.0.0.1:1", "--target-url", "http://10.1.2.3:8081/v1/etl/_object/e/s")
    assert result.returncode == 2
    assert "127.0.0.1" in result.stderr


def test_server_check_from_a_cell_runs_every_check_against_its_local_target(tgt):
    tgt.put("bkt/kept", b"user data")
    with Upper.serve(target=tgt) as srv:
        report = srv.check()
    assert report.ok, report
    assert [r for r in report.results if r.status != "PASS"] == []
    assert list(tgt) == ["bkt/kept"]  # the check's objects are gone again
    assert "<table" in report._repr_html_() and "PASS" in repr(report)


def test_server_check_without_a_target_says_how_to_run_the_rest():
    with Upper.serve() as srv:
        report = srv.check()
    assert report.ok
    not_run = [r for r in report.results if r.status == "NOT RUN"]
    assert not_run and all("serve(target=LocalTarget())" in r.detail for r in not_run)


def test_server_check_with_a_real_object_and_etl_args(tgt):
    with PNGOnly.serve(target=tgt) as srv:
        assert not srv.check().ok
        assert srv.check(data=PNG, etl_args={"size": 64}).ok
