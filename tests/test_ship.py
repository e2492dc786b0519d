"""export, build, deploy and the aisetl command: build contexts that run, the message the SDK sends."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from aisetl.ship.export import validate_name
from tests import shipped
from tests.kernel import kernel
from tests.stubs import RecordingServer, Reply, free_port

pytestmark = pytest.mark.timeout(300)
CORPUS = [b"", b"a", b"hello world", os.urandom(100_000), bytes(range(256)) * 50]


def aisetl_cmd(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aisetl", *args], capture_output=True, text=True, cwd=cwd, timeout=180)


@contextmanager
def entrypoint(ctx: Path, argv: list[str], env: dict[str, str]) -> Iterator[str]:
    """The context's server started as its container starts it; yields its URL once healthy."""
    port = free_port()
    argv = [*argv[: argv.index("--port") + 1], str(port), *argv[argv.index("--port") + 2 :]]
    argv[argv.index("--host") + 1] = "127.0.0.1"
    proc = subprocess.Popen(argv, cwd=ctx, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/health").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{argv} did not start: {proc.stderr.read().decode() if proc.stderr else ''}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(15)
        if proc.stderr is not None:
            proc.stderr.close()


def container_command(ctx: Path, bin_dir: Path) -> list[str]:
    """The Dockerfile's ENTRYPOINT command (after its `ulimit`), with the venv's aisetl."""
    line = next(x for x in (ctx / "Dockerfile").read_text().splitlines() if x.startswith("ENTRYPOINT"))
    shell = json.loads(line.removeprefix("ENTRYPOINT "))[2]
    command = shell.split("exec ", 1)[1].split()
    assert command[0] == "aisetl"
    return [str(bin_dir / "aisetl"), *command[1:]]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """shipped.Digest exported, and a fresh virtual environment built from its requirements.lock."""
    base = tmp_path_factory.mktemp("ship")
    ctx = shipped.Digest.export(base / "ctx", image="registry.example.org/etl/digest:0.1", workers=2)
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=True)
    pip = subprocess.run(
        [str(env_dir / "bin" / "python"), "-m", "pip", "install", "-q", "-r", "requirements.lock"],
        cwd=ctx,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pip.returncode == 0, pip.stderr
    yield ctx, env_dir / "bin"


def test_the_context_has_readable_source_and_the_files_ais_needs(exported):
    ctx, _ = exported
    names = sorted(p.name for p in ctx.iterdir())
    assert names == [
        ".dockerignore",
        "Dockerfile",
        "README.md",
        "etl_spec.yaml",
        "init.json",
        "requirements.lock",
        "requirements.txt",
        "transform.py",
        "wheels",
    ]
    source = (ctx / "transform.py").read_text()
    assert "def salted_digest(data: bytes) -> bytes:" in source  # the helper, as source
    assert "SALT = b'pepper'" in source  # the constant, as a literal
    assert "class Digest(aisetl.FastAPIServer):" in source
    assert "import hashlib" in source and "tests" not in source
    requirements = (ctx / "requirements.txt").read_text().split()
    assert requirements[0].startswith("./wheels/aisetl-") and requirements[0].endswith(".whl")
    docker = (ctx / "Dockerfile").read_text()
    for needle in (
        f"FROM python:{sys.version_info.major}.{sys.version_info.minor}-slim",
        "COPY requirements.lock",
        "USER 10001:10001",
        "EXPOSE 8000",
        "HEALTHCHECK",
        "ulimit -n",
    ):
        assert needle in docker
    assert docker.index("COPY requirements.lock") < docker.index("COPY . ./")  # the layer cache
    assert "--workers 2" in docker
    readme = (ctx / "README.md").read_text()
    assert "docker build -t registry.example.org/etl/digest:0.1 ." in readme and "ais etl init spec" in readme


def test_the_exported_server_answers_like_the_in_process_one(exported):
    ctx, bin_dir = exported
    with shipped.Digest.serve(name="digest-local") as local:
        expected = [local.put(obj, path="bkt/o").content for obj in CORPUS]
    with entrypoint(
        ctx, container_command(ctx, bin_dir), {"AIS_TARGET_URL": "http://127.0.0.1:9/v1/etl/_object/e/s"}
    ) as url:
        got = [httpx.put(url + "/bkt/o", content=obj).content for obj in CORPUS]
        schema = httpx.get(url + "/openapi.json").json()  # the image's .app is the FastAPI app too
    assert got == expected
    assert schema["info"]["title"] == "Digest" and "/{path}" in schema["paths"]


def test_aisetl_check_passes_against_the_exported_server_given_its_target_url(exported):
    ctx, bin_dir = exported
    # The server's own AIS_TARGET_URL, secret and all, as AIS would make it: the checker stands in for it.
    target_url = f"http://127.0.0.1:{free_port()}/v1/etl/_object/digest-etl/{os.urandom(8).hex()}"
    with entrypoint(ctx, container_command(ctx, bin_dir), {"AIS_TARGET_URL": target_url}) as url:
        result = aisetl_cmd("check", url, "--target-url", target_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "13 passed, 0 failed, 0 not run" in result.stdout


def test_aisetl_check_target_port_prints_the_url_to_start_the_server_with(exported):
    ctx, bin_dir = exported
    port = free_port()
    target_url = f"http://127.0.0.1:{port}/v1/etl/_object/checked-etl/aisetl-check"
    with entrypoint(ctx, container_command(ctx, bin_dir), {"AIS_TARGET_URL": target_url}) as url:
        result = aisetl_cmd("check", url, "--target-port", str(port))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"AIS_TARGET_URL={target_url}" in result.stdout
    assert "13 passed, 0 failed, 0 not run" in result.stdout


def test_init_json_is_the_request_the_aistore_sdk_sends(tmp_path):
    from aistore.sdk import Client

    ctx = shipped.compress.export(
        tmp_path / "ctx", image="reg/zlib:2", comm="ws", obj_timeout="1m", direct_fqn=True, env={"LEVEL": 9}
    )
    with RecordingServer([Reply(200, b"job-id")]) as cluster:
        Client(cluster.url).etl("zlib-compress").init(
            image="reg/zlib:2", comm_type="ws", obj_timeout="1m", direct_put=True, direct_file_access=True, LEVEL=9
        )
    (request,) = cluster.requests
    assert (request.method, request.target) == ("PUT", "/v1/etl")
    sent = json.loads(request.body)
    written = json.loads((ctx / "init.json").read_text())
    assert written == sent
    assert list(written) == list(sent)  # the same key order too


def test_deploy_sends_the_same_message_through_the_sdk(tmp_path):
    with RecordingServer([Reply(200, b"job-1")]) as cluster:
        answer = shipped.Digest.deploy(cluster.url, image="reg/digest:1", name="digest-etl")
    assert answer == "job-1"
    sent = json.loads(cluster.requests[0].body)
    expected = json.loads(
        (shipped.Digest.export(tmp_path / "c", image="reg/digest:1", name="digest-etl") / "init.json").read_text()
    )
    assert sent == expected


def test_etl_spec_yaml_holds_the_runtime_spec(tmp_path):
    ctx = shipped.compress.export(tmp_path / "ctx", image="reg/zlib:2", direct_fqn=True)
    spec = (ctx / "etl_spec.yaml").read_text()
    for line in (
        'name: "zlib-compress"',
        'communication: "hpush://"',
        "support_direct_put: true",
        'image: "reg/zlib:2"',
        'value: "true"',
    ):
        assert line in spec
    assert "pod" not in spec and "argument" not in spec


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("abcdef", True),
        ("my-etl-01", True),
        ("a" * 32, True),
        ("short", False),
        ("a" * 33, False),
        ("-leading", False),
        ("trailing-", False),
        ("Upper-Case", False),
        ("under_score", False),
    ],
)
def test_etl_names_are_validated_as_ais_does(name, ok):
    if ok:
        assert validate_name(name) == name
    else:
        with pytest.raises(ValueError, match="6 to 32 characters"):
            validate_name(name)


def test_build_says_plainly_when_no_container_tool_is_there(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RuntimeError, match="docker, podman, buildah"):
        shipped.Digest.build("reg/digest:1")


def test_a_notebook_transform_with_a_helper_and_a_constant_exports_and_runs(tmp_path):
    ctx = tmp_path / "nb-ctx"
    with kernel() as k:
        k.check("import aisetl, hashlib\nPREFIX = b'nb:'")
        k.check("def tag(data):\n    return PREFIX + hashlib.md5(data).hexdigest().encode()")
        k.check(
            textwrap.dedent(
                """
                @aisetl.etl(name="notebook-tag")
                def tagger(data):
                    return tag(data)
                """
            )
        )
        k.check(f"ctx = tagger.export({str(ctx)!r})")
        expected = k.check("tagger.func(b'abc')").value()
    assert "def tag(data):" in (ctx / "transform.py").read_text()
    assert "PREFIX = b'nb:'" in (ctx / "transform.py").read_text()
    command = [sys.executable, "-m", "aisetl", "serve", "transform:tagger", "--host", "0.0.0.0", "--port", "0"]
    with entrypoint(ctx, command, {"AIS_TARGET_URL": "http://127.0.0.1:9/v1/etl/_object/e/s"}) as url:
        assert repr(httpx.put(url + "/b/o", content=b"abc").content) == expected


def test_cli_export_writes_a_context(tmp_path):
    result = aisetl_cmd(
        "export", "tests.shipped:compress", str(tmp_path / "c"), "--image", "reg/z:1", "--comm", "hpull"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "c" / "init.json").read_text())["communication"] == "hpull://"


def test_cli_reports_a_bad_target_plainly():
    result = aisetl_cmd("serve", "no_such_module:Thing")
    assert result.returncode != 0
    assert "cannot load 'no_such_module:Thing'" in result.stderr
