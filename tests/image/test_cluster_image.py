"""A LocalCluster whose `images` entry is a built image: every target runs a container of it, and the
same aistore SDK workflow (deploy, inline GETs on every comm type, delete) gives the same bytes as the
in-process server class."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from aistore.sdk.etl import ETLConfig

from aisetl import BuiltImage, LocalCluster
from tests.image import transforms
from tests.image.containers import DOCKER, docker

pytestmark = [pytest.mark.timeout(900), pytest.mark.usefixtures("engine")]
OBJECTS = {f"d/obj-{i}.bin": os.urandom(i * 7000) for i in range(6)}


@pytest.fixture(scope="module")
def built() -> Iterator[BuiltImage]:
    image = transforms.buffered.build(
        f"localhost/aisetl-test/cluster:{secrets.token_hex(4)}", tool=DOCKER, workers=1, progress=False
    )
    yield image
    docker("rmi", "-f", image.name)


def replies(images: dict[str, object], image: str, comm: str) -> dict[str, bytes]:
    with LocalCluster(targets=2, images=images, name=f"img-{comm}") as cluster:
        client = cluster.client()
        bucket = client.bucket("src").create(exist_ok=True)
        for name, data in OBJECTS.items():
            bucket.object(name).get_writer().put_content(data)
        transforms.buffered.deploy(client, image, comm=comm, direct_put=True)
        got = {
            name: bucket.object(name).get_reader(etl=ETLConfig("image-buffered", args="x")).read_all()
            for name in OBJECTS
        }
        logs = client.etl("image-buffered").logs()
        assert sorted(entry.target_id for entry in logs) == ["t1", "t2"]
        client.etl("image-buffered").delete()
    return got


@pytest.mark.parametrize("comm", ["hpush", "hpull", "ws"])
def test_each_target_runs_a_container_of_the_image_and_answers_as_the_class_does(built, comm):
    in_containers = replies({built.name: built}, built.name, comm)
    left = docker("ps", "-a", "--filter", f"ancestor={built.name}", "--format", "{{.ID}}").stdout.split()
    assert left == []  # delete removed every target's container
    in_process = replies({built.name: transforms.buffered}, built.name, comm)
    assert in_containers == in_process
    assert all(reply.startswith(b"img:") for reply in in_containers.values())


def test_a_container_that_cannot_start_fails_the_init_with_its_log(built):
    from aistore.sdk.errors import AISError

    with LocalCluster(targets=1, images={built.name: built}, name="img-broken") as cluster:
        # A setting the server refuses: it exits at start, the container never serves.
        with pytest.raises(AISError, match="did not become ready(.|\n)*AIS_DIRECT_PUT_RETRIES"):
            cluster.client().etl("image-buffered").init(image=built.name, AIS_DIRECT_PUT_RETRIES="many")
        assert cluster.client().cluster().list_etls() == []
    left = docker("ps", "-a", "--filter", f"ancestor={built.name}", "--format", "{{.ID}}").stdout.split()
    assert left == []
