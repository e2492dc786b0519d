"""build() as a notebook user meets it, and the images' runtime options: the log in the cell, plain errors
when the engine is not there or a step fails, a CA bundle the image trusts, direct file access to object
files of mode 0640 owned by another user."""

from __future__ import annotations

import os
import secrets
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import aisetl
from aisetl import LocalTarget
from tests.image import transforms
from tests.image.conftest import BASE_IMAGE
from tests.image.containers import DOCKER, docker, image_exists, running
from tests.kernel import kernel

pytestmark = [pytest.mark.timeout(900), pytest.mark.usefixtures("engine")]
OWNER_UID, FILES_GID = 4242, 4343  # AIS's object files belong to another user; the image gets their group


def test_a_build_in_a_notebook_shows_its_steps_and_folds_the_log(tmp_path):
    image = f"localhost/aisetl-test/notebook:{secrets.token_hex(4)}"
    try:
        with kernel() as k:
            k.check("from tests.image import transforms")
            cell = k.check(f"built = transforms.buffered.build({image!r}, tool={DOCKER!r}, workers=1)", timeout=600)
            k.drain(1)
            shown = [
                m["content"]["data"]
                for m in k.messages
                if m["parent_header"].get("msg_id") == cell.msg_id
                and m["msg_type"] in ("display_data", "update_display_data")
            ]
            assert shown[0]["text/plain"] == f"building {image}"
            assert any("step 7/" in d["text/plain"] and "pip install" in d["text/plain"] for d in shown)
            final = shown[-1]
            assert final["text/plain"].startswith(f"built {image} (sha256:")
            assert final["text/html"].startswith("<details><summary>") and "Successfully" in final["text/html"]
            assert k.check("built.name").value() == repr(image)
            image_id = k.check("built.id").value().strip("'")
        assert docker("image", "inspect", "--format", "{{.Id}}", image).stdout.strip() == image_id
    finally:
        docker("rmi", "-f", image, check=False)


def test_build_says_the_engine_is_not_running(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(aisetl.ExportError, match="the Docker engine is not running .*start it"):
        transforms.buffered.build("localhost/aisetl-test/never:1", tool=DOCKER)


def test_a_failing_step_raises_with_the_end_of_the_log():
    image = f"localhost/aisetl-test/failing:{secrets.token_hex(4)}"
    with pytest.raises(aisetl.ExportError) as err:
        transforms.buffered.build(image, tool=DOCKER, os_packages=["no-such-package-aisetl"], progress=False)
    message = str(err.value)
    assert f"build of {image} failed" in message
    assert "Unable to locate package no-such-package-aisetl" in message
    assert not image_exists(image)
    stopped = docker("ps", "-a", "--no-trunc", "--filter", "status=exited", "--format", "{{.Command}}").stdout
    assert "no-such-package-aisetl" not in stopped  # the failed step's container was removed


@contextmanager
def https_server(cert_pem: Path, key_pem: Path) -> Iterator[int]:
    class Hello(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"hello")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_pem, key_pem)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_the_image_trusts_the_ca_bundle_given_to_build(tmp_path):
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    image = f"localhost/aisetl-test/ca:{secrets.token_hex(4)}"
    transforms.buffered.build(image, tool=DOCKER, ca_bundle=tmp_path / "ca.pem", workers=1, progress=False)
    try:
        probe = "import urllib.request, sys; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())"
        with https_server(tmp_path / "cert.pem", tmp_path / "key.pem") as port:
            url = f"https://localhost:{port}/"
            trusted = docker("run", "--rm", "--network", "host", "--entrypoint", "python", image, "-c", probe, url)
            base = docker(
                "run",
                "--rm",
                "--network",
                "host",
                "--entrypoint",
                "python",
                BASE_IMAGE,
                "-c",
                probe,
                url,
                check=False,
            )
        assert trusted.stdout.strip() == "hello"
        assert base.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in base.stderr  # the bundle made the difference
        pip_cert = docker("run", "--rm", "--entrypoint", "sh", image, "-c", "echo $PIP_CERT").stdout.strip()
        assert pip_cert == "/etc/ssl/certs/ca-certificates.crt"
    finally:
        docker("rmi", "-f", image, check=False)


@pytest.fixture
def owned_by_another_user(tmp_path: Path) -> Iterator[LocalTarget]:
    """A target whose object files are as AIS leaves them: mode 0640, folders 0750, another uid's."""
    if os.geteuid() != 0:
        pytest.skip("making files of another uid needs root")
    with LocalTarget(tmp_path / "target") as tgt:
        for i, size in enumerate((0, 1, 1000, 300_000)):
            tgt.put(f"data/obj-{i}.bin", os.urandom(size))
        for path in [Path(tgt.mountpath), *Path(tgt.mountpath).rglob("*")]:
            os.chown(path, OWNER_UID, FILES_GID)
            os.chmod(path, 0o750 if path.is_dir() else 0o640)
        yield tgt


def test_direct_file_access_reads_0640_files_of_another_user_through_their_group(owned_by_another_user):
    tgt = owned_by_another_user
    cls = transforms.file_digest
    names = tgt.list("data")
    image = f"localhost/aisetl-test/fqn:{secrets.token_hex(4)}"
    cls.build(image, tool=DOCKER, direct_fqn=True, file_group=FILES_GID, workers=1, progress=False)
    try:
        with cls.serve(target=tgt, name="fqn-in-process", ETL_DIRECT_FQN="true") as local:
            expected = {(n, c): tgt.get(n, etl=local, comm=c, fqn=True) for n in names for c in ("hpush", "ws")}
        mount = ["-v", f"{tgt.mountpath}:{tgt.mountpath}:ro"]
        env = {"AIS_TARGET_URL": tgt.ais_target_url(cls.etl_name), "ETL_DIRECT_FQN": "true"}
        with running(image, env, mount) as c:
            c.wait_healthy()
            assert c.exec("id", "-u").strip() == "10001" and c.exec("id", "-g").strip() == str(FILES_GID)
            got = {(n, comm): tgt.get(n, etl=c.url, comm=comm, fqn=True) for n in names for comm in ("hpush", "ws")}
        assert got == expected
        # The same image without the files' group cannot read them: the group is what makes it work.
        with running(image, env, [*mount, "--user", "10001:10001"]) as c:
            c.wait_healthy()
            with pytest.raises(aisetl.ETLCallError, match="ermission denied"):
                tgt.get(names[0], etl=c.url, comm="hpush", fqn=True)
    finally:
        docker("rmi", "-f", image, check=False)
        subprocess.run(["chown", "-R", f"{os.geteuid()}:{os.getegid()}", tgt.mountpath], check=False)
