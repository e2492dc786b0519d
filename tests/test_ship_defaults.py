"""Deploy-ready defaults of export/build/deploy that need no container engine: pullable image names, the
lock, the image's Python, OS packages and resources, `aisetl serve --workers N` failing fast."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib

import pytest

import aisetl
from aisetl.ship.names import check_image_name
from tests import shipped
from tests.stubs import RecordingServer, Reply, refused_url

PY = f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.mark.parametrize(
    "image",
    ["registry.example.org/etl/upper:0.1", "localhost:5000/upper:3", "user/upper:v1", f"reg.io/a/b@sha256:{'a' * 64}"],
)
def test_pullable_image_names_are_taken(image):
    assert check_image_name(image) == image


@pytest.mark.parametrize(
    ("image", "why"),
    [
        ("upper", "names no registry"),
        ("upper:0.1", "names no registry"),
        ("registry.example.org/etl/upper", "has no tag"),
        ("registry.example.org/etl/upper:latest", "the tag latest"),
        ("Registry.example.org/etl/UPPER:1", "not a valid image name"),
    ],
)
def test_unpullable_image_names_are_refused_saying_why(image, why, tmp_path):
    with pytest.raises(aisetl.ImageNameError, match=why):
        shipped.Digest.export(tmp_path / "ctx", image=image)
    assert not (tmp_path / "ctx").exists()  # refused before anything is written


def test_force_takes_a_local_name(tmp_path):
    ctx = shipped.Digest.export(tmp_path / "ctx", image="digest:latest", force=True)
    assert json.loads((ctx / "init.json").read_text())["runtime"]["image"] == "digest:latest"


def test_the_default_image_name_is_pullable_and_changes_with_the_code(tmp_path, monkeypatch):
    monkeypatch.setenv("AISETL_REGISTRY", "registry.example.org/etl")

    def image_of(cls: type[aisetl.ETLServer], folder: str) -> str:
        ctx = cls.export(tmp_path / folder, name="shipped-etl")
        return str(json.loads((ctx / "init.json").read_text())["runtime"]["image"])

    first, again, other = image_of(shipped.Digest, "a"), image_of(shipped.Digest, "b"), image_of(shipped.compress, "c")
    assert first.startswith("registry.example.org/etl/shipped-etl:") and check_image_name(first) == first
    assert first == again  # the same code, the same name (the wheel of aisetl is byte-identical)
    assert other != first


def test_the_lock_pins_aisetl_dependencies_and_theirs(tmp_path):
    from importlib.metadata import version

    ctx = shipped.Digest.export(tmp_path / "ctx", image="reg.io/etl/digest:1")
    lines = [x for x in (ctx / "requirements.lock").read_text().splitlines() if x and not x.startswith("#")]
    assert lines[0].startswith("./wheels/aisetl-")
    pins = dict(line.split("==") for line in lines[1:])
    for dist in ("uvicorn", "httpx", "websockets", "httptools", "h11", "httpcore", "anyio", "idna", "certifi"):
        assert pins[dist] == version(dist), dist
    assert "pytest" not in pins and "mypy" not in pins  # aisetl's dev extra is not the image's business


def test_the_image_python_is_the_kernels_unless_set(tmp_path):
    ctx = shipped.Digest.export(tmp_path / "a", image="reg.io/etl/digest:1")
    assert f"FROM python:{PY}-slim\n" in (ctx / "Dockerfile").read_text()
    ctx = shipped.Digest.export(tmp_path / "b", image="reg.io/etl/digest:1", python="3.15")
    assert "FROM python:3.15-slim\n" in (ctx / "Dockerfile").read_text()
    lock = (ctx / "requirements.lock").read_text()
    assert "(Python 3.15)" in lock
    # anyio needs typing_extensions only below 3.15 (its marker): the markers are judged for the image's Python.
    assert (
        "typing_extensions==" not in lock
        and "typing_extensions==" in (tmp_path / "a" / "requirements.lock").read_text()
    )


def test_os_packages_and_resources_reach_the_dockerfile_and_the_init_spec(tmp_path):
    resources = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
    ctx = shipped.Digest.export(
        tmp_path / "ctx", image="reg.io/etl/d:1", os_packages=["libmagic1"], resources=resources
    )
    assert "apt-get install -y --no-install-recommends \\\n        libmagic1 &&" in (ctx / "Dockerfile").read_text()
    assert json.loads((ctx / "init.json").read_text())["resources"] == resources
    assert 'memory: "2Gi"' in (ctx / "etl_spec.yaml").read_text()


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"os_packages": ["ok", "bad; rm -rf /"]}, "not a Debian package name"),
        ({"os_packages": "ffmpeg"}, "a list of Debian package names"),
        ({"resources": {"request": {"cpu": "1"}}}, "'requests' and/or 'limits'"),
    ],
)
def test_bad_os_packages_and_resources_are_refused(tmp_path, options, error):
    with pytest.raises((ValueError, TypeError), match=error):
        shipped.Digest.export(tmp_path / "ctx", image="reg.io/etl/d:1", **options)


def test_direct_fqn_runs_the_image_in_the_group_of_ais_files(tmp_path):
    plain = (shipped.Digest.export(tmp_path / "a", image="reg.io/e/d:1") / "Dockerfile").read_text()
    root_group = (
        shipped.Digest.export(tmp_path / "b", image="reg.io/e/d:1", direct_fqn=True) / "Dockerfile"
    ).read_text()
    other = shipped.Digest.export(tmp_path / "c", image="reg.io/e/d:1", direct_fqn=True, file_group=4343)
    assert "USER 10001:10001\n" in plain
    assert "USER 10001:0\n" in root_group
    assert "USER 10001:4343\n" in (other / "Dockerfile").read_text()
    assert "group 4343" in (other / "README.md").read_text()


def test_deploy_sends_resources_in_the_init_message(tmp_path):
    resources = {"limits": {"cpu": "2"}}
    with RecordingServer([Reply(200, b"job-2")]) as cluster:
        answer = shipped.Digest.deploy(cluster.url, "reg.io/etl/digest:1", name="digest-etl", resources=resources)
    assert answer == "job-2"
    (request,) = cluster.requests
    assert (request.method, request.target) == ("PUT", "/v1/etl")
    sent = json.loads(request.body)
    written = json.loads(
        (
            shipped.Digest.export(tmp_path / "c", image="reg.io/etl/digest:1", name="digest-etl", resources=resources)
            / "init.json"
        ).read_text()
    )
    assert sent == written and sent["resources"] == resources


def test_deploy_refuses_an_unpullable_image_and_says_what_a_cluster_needs():
    with pytest.raises(aisetl.ImageNameError, match="registry"):
        shipped.Digest.deploy("http://127.0.0.1:9", "digest:latest")
    with pytest.raises(aisetl.ExportError, match="pushed to a registry its nodes can pull from") as err:
        shipped.Digest.deploy(refused_url(), "reg.io/etl/digest:1", init_timeout="5s")
    assert "deploy of ETL 'digest'" in str(err.value)


def test_serve_with_workers_stops_with_the_error_when_setup_fails():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "aisetl",
            "serve",
            "tests.failing_setup:predict",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**__import__("os").environ, "AIS_TARGET_URL": "http://127.0.0.1:9/v1/etl/_object/e/s"},
    )
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "a worker could not load tests.failing_setup:predict" in proc.stderr
    assert "model weights not found at /models/missing.bin" in proc.stderr


@pytest.mark.parametrize("comm", ["hpush", "hpull", "ws"])
def test_deploy_initialises_the_etl_on_a_local_cluster_through_the_sdk(comm):
    from aistore.sdk.etl import ETLConfig

    image = "registry.example.org/etl/zlib:0.1"
    objects = {f"obj-{i}": bytes([i]) * (1000 * i) for i in range(4)}
    with aisetl.LocalCluster(targets=2, images={image: shipped.compress}, name="deploy-test") as cluster:
        client = cluster.client()
        bucket = client.bucket("src").create(exist_ok=True)
        for name, data in objects.items():
            bucket.object(name).get_writer().put_content(data)
        job = shipped.compress.deploy(client, image, comm=comm, direct_put=True)
        assert job.startswith("etl-")
        assert client.etl("zlib-compress").view().init_msg.runtime.image == image
        for name, data in objects.items():
            reader = bucket.object(name).get_reader(etl=ETLConfig("zlib-compress", args="best"))
            assert reader.read_all() == zlib.compress(data, 9)
