"""LocalTarget: objects in the AIS FQN layout and the ETL object route, over real HTTP."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aisetl import LocalTarget
from aisetl.wire import object_uname, path_escape


@pytest.fixture
def tgt() -> Iterator[LocalTarget]:
    with LocalTarget() as t:
        yield t


def route(tgt: LocalTarget, name: str, secret: str | None = None) -> str:
    bucket, obj = name.split("/", 1)
    return f"{tgt.url}/v1/etl/_object/some-etl/{secret or tgt.secret}/{path_escape(object_uname(bucket, obj))}"


def test_objects_are_files_in_the_ais_layout(tgt):
    tgt.put("bkt/dir/o #1.txt", b"data")
    fqn = tgt.fqn("bkt/dir/o #1.txt")
    assert fqn == f"{tgt.mountpath}/@ais/bkt/%ob/dir/o #1.txt"
    assert Path(fqn).read_bytes() == b"data"
    assert tgt.get("bkt/dir/o #1.txt") == b"data"
    assert tgt.list("bkt") == ["bkt/dir/o #1.txt"]
    assert tgt.list("bkt", prefix="dir/o") == ["bkt/dir/o #1.txt"]
    assert tgt.list("bkt", prefix="x") == []
    tgt.delete("bkt/dir/o #1.txt")
    assert "bkt/dir/o #1.txt" not in tgt
    with pytest.raises(KeyError, match="bkt/dir/o #1.txt"):
        tgt.get("bkt/dir/o #1.txt")


@pytest.mark.parametrize("name", ["nobucket", "bkt/../../etc/passwd", "bkt//abs", "/bkt/o", "bkt/a/./b"])
def test_names_that_leave_the_bucket_are_refused(tgt, name):
    with pytest.raises(ValueError, match="bucket/object|invalid object name"):
        tgt.put(name, b"x")


def test_from_dir_makes_each_top_level_folder_a_bucket(tmp_path):
    (tmp_path / "images" / "sub").mkdir(parents=True)
    (tmp_path / "images" / "sub" / "a.jpg").write_bytes(b"jpg")
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "b.txt").write_bytes(b"txt")
    (tmp_path / "loose.txt").write_bytes(b"not in a bucket")
    with LocalTarget.from_dir(tmp_path) as t:
        assert list(t) == ["images/sub/a.jpg", "texts/b.txt"]
        assert t.get("images/sub/a.jpg") == b"jpg"


@pytest.mark.parametrize("name", ["bkt/o", "bkt/dir/with space/ñ #?%.bin"])
def test_get_and_head_serve_the_object(tgt, name):
    tgt.put(name, b"x" * 3_000_000)
    resp = httpx.get(route(tgt, name))
    assert (resp.status_code, resp.content) == (200, b"x" * 3_000_000)
    head = httpx.head(route(tgt, name))
    assert (head.status_code, head.headers["content-length"]) == (200, "3000000")


def test_wrong_secret_is_403_and_missing_object_404(tgt):
    tgt.put("bkt/o", b"x")
    assert httpx.get(route(tgt, "bkt/o", secret="guess")).status_code == 403
    assert httpx.get(route(tgt, "bkt/missing")).status_code == 404
    assert httpx.get(f"{tgt.url}/v1/objects/bkt/o").status_code == 404


def test_put_on_the_route_stores_the_object_and_records_the_delivery(tgt):
    resp = httpx.put(route(tgt, "dst/new.bin") + "?uuid=X&owt=4", content=b"delivered")
    assert (resp.status_code, resp.content) == (200, b"")
    assert tgt.get("dst/new.bin") == b"delivered"
    (d,) = tgt.deliveries
    assert (d.name, d.size, d.query) == ("dst/new.bin", 9, {"uuid": "X", "owt": "4"})


def test_a_malformed_uname_is_400(tgt):
    resp = httpx.get(f"{tgt.url}/v1/etl/_object/e/{tgt.secret}/not-a-uname")
    assert resp.status_code == 400
    assert "uname" in resp.json()["detail"]


def test_make_demo_runs_end_to_end():
    proc = subprocess.run([sys.executable, "-m", "aisetl", "demo"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "all steps passed" in proc.stdout
    assert "FAIL" not in proc.stdout
