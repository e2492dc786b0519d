"""Built images, run as AIS runs them: healthy by their own HEALTHCHECK, byte-exact against the same server
in this process on every comm type, conformant (`aisetl check`), non-root, with the open-file limit raised.

Run by `make test-image` (not by `make test`: it needs a container engine and takes minutes).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from aisetl import LocalTarget
from aisetl.ship.container import run_container
from tests.image import transforms
from tests.image.containers import DOCKER, docker, image_exists, running
from tests.stubs import free_port

pytestmark = [pytest.mark.timeout(900), pytest.mark.usefixtures("engine")]
SERVERS = {"buffered": transforms.buffered, "streaming": transforms.streaming}
# Sizes around the streaming thresholds (objects of known size up to 4 MiB are read whole).
CORPUS = {
    "b/empty": b"",
    "b/one": b"a",
    "b/text.txt": b"Hello, World\n" * 10,
    "b/dir/bin": bytes(range(256)) * 400,
    "b/big": os.urandom(5 * 1024 * 1024 + 7),
}


@pytest.fixture(scope="module", params=sorted(SERVERS))
def built(request: pytest.FixtureRequest) -> Iterator[tuple[type, str]]:
    """The server's image, built by its own build(); removed (and checked gone) afterwards."""
    cls = SERVERS[request.param]
    name = f"localhost/aisetl-test/{cls.etl_name}:{secrets.token_hex(4)}"
    image = cls.build(name, workers=2, tool=os.environ.get("AISETL_DOCKER", "/usr/bin/docker"), progress=False)
    assert image.name == name and image.id.startswith("sha256:")
    yield cls, name
    docker("rmi", "-f", name)
    assert not image_exists(name)


def test_the_container_is_healthy_non_root_and_has_the_open_file_limit_raised(built):
    _, image = built
    hard = docker("run", "--rm", "--entrypoint", "sh", image, "-c", "ulimit -Hn").stdout.strip()
    assert int(hard) > 1024
    # A low soft limit from the engine: the entrypoint must raise it to the hard one.
    with running(
        image, {"AIS_TARGET_URL": "http://127.0.0.1:9/v1/etl/_object/e/s"}, ["--ulimit", f"nofile=1024:{hard}"]
    ) as c:
        c.wait_healthy()
        status = c.exec("cat", "/proc/1/status")
        uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
        assert uid != "0"
        limits = c.exec("cat", "/proc/1/limits")
        soft, hard_seen = next(line.split()[3:5] for line in limits.splitlines() if line.startswith("Max open files"))
        assert (soft, hard_seen) == (hard, hard)


@pytest.mark.parametrize("comm", ["hpush", "hpull", "ws"])
def test_the_container_answers_byte_for_byte_like_the_server_in_this_process(built, comm):
    cls, image = built
    with LocalTarget() as tgt:
        for name, data in CORPUS.items():
            tgt.put(name, data)
        with cls.serve(target=tgt, name="in-process") as local:
            expected = {name: tgt.get(name, etl=local, comm=comm, fqn=False) for name in CORPUS}
        with running(image, {"AIS_TARGET_URL": tgt.ais_target_url(cls.etl_name)}) as c:
            c.wait_healthy()
            got = {name: tgt.get(name, etl=c.url, comm=comm, fqn=False) for name in CORPUS}
    assert got.keys() == expected.keys()
    for name in CORPUS:
        assert got[name] == expected[name], f"{name} over {comm}"
    assert expected["b/one"] != b"a"  # the transform ran


def test_aisetl_check_passes_against_the_container(built, tmp_path):
    _, image = built
    port = free_port()
    target_url = f"http://127.0.0.1:{port}/v1/etl/_object/checked-etl/aisetl-check"
    objects = tmp_path / "objects"  # the check's target keeps its objects here; the container sees them
    objects.mkdir(mode=0o755)
    with running(image, {"AIS_TARGET_URL": target_url}, ["-v", f"{objects}:{objects}:ro"]) as c:
        c.wait_healthy()
        result = subprocess.run(
            [sys.executable, "-m", "aisetl", "check", c.url, "--target-port", str(port), "--target-dir", str(objects)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert ", 0 failed, 0 not run" in result.stdout


def test_run_container_serves_the_image_until_stopped(built):
    cls, image = built
    container = run_container(image, {"AIS_TARGET_URL": "http://127.0.0.1:9/v1/etl/_object/e/s"}, tool=DOCKER)
    try:
        got = httpx.put(container.url + "/b/o.txt", content=b"some bytes").content
    finally:
        container.stop()
    with cls.serve(name="in-process") as local:
        assert got == local.put(b"some bytes", path="b/o.txt").content
    assert not container.running()
