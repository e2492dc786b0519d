"""The ETL lifecycle of a LocalCluster through the real aistore SDK: init, inline GETs, stop/start/delete."""

from __future__ import annotations

import json

import pytest
from aistore.sdk.errors import AISError, ErrETLAlreadyExists, ErrETLNotFound
from aistore.sdk.etl import ETLConfig
from aistore.sdk.etl.webserver.fastapi_server import FastAPIServer as SDKFastAPIServer

import aisetl
from aisetl import LocalCluster


class SDKShout(SDKFastAPIServer):  # type: ignore[misc]
    """Written for the aistore SDK's own base class, as `init_class` users write it."""

    def transform(self, data, path, etl_args):
        return data.upper() + b"!"


@aisetl.etl
def exclaim(data: bytes) -> bytes:
    return data + b"?!"


ALL_STAGES = ["Initializing", "Running", "Aborted"]


def fill(client, n: int = 30, bucket: str = "src") -> dict[str, bytes]:
    bck = client.bucket(bucket).create(exist_ok=True)
    objects = {f"d{i % 3}/obj-{i}.txt": f"object number {i}".encode() for i in range(n)}
    for name, data in objects.items():
        bck.object(name).get_writer().put_content(data)
    return objects


@pytest.mark.parametrize("comm", ["hpush", "hpull", "ws"])
def test_init_by_image_serves_inline_gets_on_every_target(cluster, client, comm):
    objects = fill(client)
    etl = client.etl("upper-etl")
    xid = etl.init(image="img/upper:1", comm_type=comm, direct_put=comm == "ws")
    assert xid.startswith("etl-")
    [info] = client.cluster().list_etls()
    assert (info.id, info.stage, info.xaction_id) == ("upper-etl", "Running", xid)
    bck = client.bucket("src")
    for name, data in objects.items():
        assert bck.object(name).get_reader(etl=ETLConfig("upper-etl")).read_all() == data.upper()
    logs = etl.logs()
    assert sorted(entry.target_id for entry in logs) == ["t1", "t2", "t3"]  # one server per target
    assert all(f"({comm}://) for target {entry.target_id}" in entry.logs for entry in logs)
    assert len({entry.logs.split(" serving on ")[1].split()[0] for entry in logs}) == 3
    assert client.cluster().list_etls()[0].obj_count == len(objects)
    assert etl.view().init_msg.runtime.image == "img/upper:1"


def test_an_unknown_image_fails_init_saying_how_to_register_it(client):
    with pytest.raises(AISError) as info:
        client.etl("mystery").init(image="registry.example.org/etl/mystery:0.1")
    assert info.value.status_code == 400
    assert "registry.example.org/etl/mystery:0.1" in info.value.message
    assert "LocalCluster(images=" in info.value.message and "cluster.images[" in info.value.message
    assert client.cluster().list_etls(stages=ALL_STAGES) == []


def test_images_added_after_start_and_at_function_run(cluster, client):
    fill(client, 3)
    cluster.images["img/exclaim:1"] = exclaim
    client.etl("exclaim-etl").init(image="img/exclaim:1")
    got = client.bucket("src").object("d0/obj-0.txt").get_reader(etl=ETLConfig("exclaim-etl")).read_all()
    assert got == b"object number 0?!"


def test_init_class_runs_the_class_the_sdk_sends(client):
    fill(client, 6)

    @client.etl("sdk-shout").init_class(comm_type="hpull")
    class Shout(SDKShout):
        pass

    assert client.etl("sdk-shout").view().init_msg.runtime.image.startswith("aistorage/runtime_python:")
    for i in range(6):
        obj = client.bucket("src").object(f"d{i % 3}/obj-{i}.txt")
        assert obj.get_reader(etl=ETLConfig("sdk-shout")).read_all() == f"OBJECT NUMBER {i}!".encode()


def test_a_duplicate_or_missing_etl_raises_the_sdks_etl_errors(client):
    client.etl("upper-etl").init(image="img/upper:1")
    with pytest.raises(ErrETLAlreadyExists):
        client.etl("upper-etl").init(image="img/upper:1")
    missing = client.etl("not-there")
    for call in (missing.view, missing.stop, missing.start, missing.delete, missing.logs):
        with pytest.raises(ErrETLNotFound):
            call()


def test_stop_start_and_delete_move_the_stage_as_ais_does(client):
    fill(client, 3)
    obj = client.bucket("src").object("d0/obj-0.txt")
    etl = client.etl("upper-etl")
    etl.init(image="img/upper:1")
    etl.stop()
    assert [(i.id, i.stage) for i in client.cluster().list_etls(stages=ALL_STAGES)] == [("upper-etl", "Aborted")]
    assert client.cluster().list_etls() == []  # the SDK's default: Running only
    with pytest.raises(AISError) as stopped:
        obj.get_reader(etl=ETLConfig("upper-etl")).read_all()
    assert stopped.value.status_code == 400 and "not running" in stopped.value.message
    etl.start()
    assert obj.get_reader(etl=ETLConfig("upper-etl")).read_all() == b"OBJECT NUMBER 0"
    etl.delete()
    with pytest.raises(ErrETLNotFound):
        etl.view()
    assert client.cluster().list_etls(stages=ALL_STAGES) == []


def test_a_failing_transform_is_a_4xx_at_once_and_listed_in_obj_errors(client):
    fill(client, 3)
    client.etl("failing-etl").init(image="img/failing:1")
    with pytest.raises(AISError) as info:
        client.bucket("src").object("d1/obj-1.txt").get_reader(etl=ETLConfig("failing-etl")).read_all()
    assert info.value.status_code == 400
    assert "cannot transform" in info.value.message and "status 500" in info.value.message
    [error] = client.etl("failing-etl").view().obj_errors
    assert (error.obj_name, error.ecode) == ("ais://src/d1/obj-1.txt", 500)


def test_an_unknown_etl_on_get_is_a_plain_404(client):
    fill(client, 1)
    with pytest.raises(AISError) as info:
        client.bucket("src").object("d0/obj-0.txt").get_reader(etl=ETLConfig("never-made")).read_all()
    assert info.value.status_code == 404 and type(info.value) is AISError


def test_an_inline_pipeline_and_etl_args(client):
    fill(client, 3)
    client.etl("upper-etl").init(image="img/upper:1")
    client.etl("reverse-etl").init(image="img/reverse:1")
    client.etl("echo-etl").init(image="img/echo:1")
    obj = client.bucket("src").object("d2/obj-2.txt")
    pipeline = client.etl("upper-etl") >> client.etl("reverse-etl")
    assert obj.get_reader(etl=ETLConfig(pipeline)).read_all() == b"2 REBMUN TCEJBO"
    seen = json.loads(obj.get_reader(etl=ETLConfig("echo-etl", args={"k": "v"})).read_all())
    assert (seen["etl_args"], seen["path"]) == ('{"k":"v"}', "src/d2/obj-2.txt")


def test_an_object_copy_through_an_etl(cluster, client):
    fill(client, 2)
    dst = client.bucket("dst").create()
    client.etl("upper-etl").init(image="img/upper:1")
    client.bucket("src").object("d1/obj-1.txt").copy(dst.object("copied"), etl=ETLConfig("upper-etl"))
    assert dst.object("copied").get_reader(direct=True).read_all() == b"OBJECT NUMBER 1"


def test_logs_of_one_target(client):
    client.etl("upper-etl").init(image="img/upper:1")
    [entry] = client.etl("upper-etl").logs(target_id="t2")
    assert entry.target_id == "t2" and "for target t2" in entry.logs


def test_stopping_the_cluster_stops_its_etl_servers(client, cluster):
    client.etl("upper-etl").init(image="img/upper:1")
    urls = [entry.logs.split(" serving on ")[1].split()[0] for entry in client.etl("upper-etl").logs()]
    cluster.stop()
    from tests.test_cluster import listening

    assert not any(listening(u) for u in urls)
    assert isinstance(cluster, LocalCluster) and not cluster.running


def test_an_image_that_is_a_folder_made_by_export(cluster, client, tmp_path):
    from tests.transforms import Reverse

    Reverse.export(tmp_path / "ctx", image="registry.example.org/etl/reverse:0.1")
    cluster.images["registry.example.org/etl/reverse:0.1"] = tmp_path / "ctx"
    fill(client, 1)
    client.etl("exported").init(image="registry.example.org/etl/reverse:0.1")
    got = client.bucket("src").object("d0/obj-0.txt").get_reader(etl=ETLConfig("exported")).read_all()
    assert got == b"0 rebmun tcejbo"


def test_health_and_metrics_of_an_etl(client):
    client.etl("upper-etl").init(image="img/upper:1")
    rc = client._request_client
    health = rc.request("GET", "etl/upper-etl/health").json()
    assert sorted(h["target_id"] for h in health) == ["t1", "t2", "t3"]
    assert {h["status"] for h in health} == {"Running"}
    assert rc.request("GET", "etl/upper-etl/metrics").json()["obj_count"] == 0
