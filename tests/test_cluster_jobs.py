"""Offline jobs of a LocalCluster through the real aistore SDK: each target transforms what it owns and
puts every result on the target that owns its destination name."""

from __future__ import annotations

import os

import pytest
from aistore.sdk.errors import AISError
from aistore.sdk.types import Smap

WAIT = 60  # job.wait(timeout=...) polls every second up to 64 s (the SDK's probing frequency)


def fill(client, n: int, bucket: str = "src") -> dict[str, bytes]:
    bck = client.bucket(bucket).create(exist_ok=True)
    objects = {f"d{i % 7}/obj-{i}.txt": os.urandom(16 + i % 200) for i in range(n)}
    for name, data in objects.items():
        bck.object(name).get_writer().put_content(data)
    return objects


def holder(cluster, bucket: str, obj: str) -> list[str]:
    return [t.node_id for t in cluster.targets if f"{bucket}/{obj}" in t]


def test_300_objects_transformed_byte_exact_onto_their_hrw_targets(cluster, client):
    objects = fill(client, 300)
    client.etl("upper-etl").init(image="img/upper:1", direct_put=True)
    job_id = client.bucket("src").transform("upper-etl", client.bucket("dst"), ext={"txt": "out"})
    result = client.job(job_id).wait(timeout=WAIT, verbose=False)
    assert result.success, result
    smap = Smap.model_validate(cluster.smap())
    crossed = 0
    for name, data in objects.items():
        out = name[: -len("txt")] + "out"
        expected = smap.get_target_for_object(f"ais/@#/dst/{out}").daemon_id
        assert holder(cluster, "dst", out) == [expected]
        assert client.bucket("dst").object(out).get_reader(direct=True).read_all() == data.upper()
        crossed += holder(cluster, "src", name) != [expected]
    assert crossed > 100  # most results were put on another target than their source's
    assert sum(len(t.deliveries) for t in cluster.targets) == 300  # each by the ETL server, a direct put
    snaps = client.job(job_id).get_details().list_snapshots()
    assert sorted(s.kind for s in snaps) == ["etl-bck"] * 3 and all(s.is_idle for s in snaps)
    assert sum(s.stats.objects for s in snaps) == 300
    assert client.etl("upper-etl").view(job_id=job_id).obj_errors == []
    assert client.cluster().list_etls()[0].obj_count == 300


@pytest.mark.parametrize("comm", ["hpull", "ws"])
def test_offline_over_hpull_and_ws(client, comm):
    objects = fill(client, 40)
    client.etl("stream-etl").init(image="img/stream:1", comm_type=comm, direct_put=True)
    job_id = client.bucket("src").transform("stream-etl", client.bucket("dst"))
    assert client.job(job_id).wait(timeout=WAIT, verbose=False).success
    for name, data in objects.items():
        assert client.bucket("dst").object(name).get_reader().read_all() == data.upper()


def test_without_direct_put_the_target_writes_what_the_etl_answers(cluster, client):
    objects = fill(client, 30)
    client.etl("upper-etl").init(image="img/upper:1")  # the SDK's default: direct_put=False
    job_id = client.bucket("src").transform("upper-etl", client.bucket("dst"))
    assert client.job(job_id).wait(timeout=WAIT, verbose=False).success
    assert all(t.deliveries == [] for t in cluster.targets)
    for name, data in objects.items():
        assert client.bucket("dst").object(name).get_reader(direct=True).read_all() == data.upper()


def test_prefix_prepend_and_a_pipeline(client):
    objects = fill(client, 40)
    client.etl("upper-etl").init(image="img/upper:1")
    client.etl("reverse-etl").init(image="img/reverse:1")
    job_id = client.bucket("src").transform(
        "upper-etl", client.bucket("dst"), prefix_filter="d3/", prepend="new/", etl_pipeline=["reverse-etl"]
    )
    assert client.job(job_id).wait(timeout=WAIT, verbose=False).success
    got = {e.name: e for e in client.bucket("dst").list_all_objects()}
    wanted = {f"new/{n}": d.upper()[::-1] for n, d in objects.items() if n.startswith("d3/")}
    assert sorted(got) == sorted(wanted)
    for name, data in wanted.items():
        assert client.bucket("dst").object(name).get_reader().read_all() == data


def test_per_object_errors_are_listed_for_the_job_and_cont_on_err_finishes_it(client):
    fill(client, 20)
    client.etl("failing-etl").init(image="img/failing:1")
    job_id = client.bucket("src").transform("failing-etl", client.bucket("dst"), cont_on_err=True)
    result = client.job(job_id).wait(timeout=WAIT, verbose=False)
    assert result.success  # AIS: with cont_on_err the job ends well, the errors are in the ETL's view
    errors = client.etl("failing-etl").view(job_id=job_id).obj_errors
    assert len(errors) == 20 and {e.ecode for e in errors} == {500}
    assert all(e.obj_name.startswith("ais://src/") and "cannot transform" in e.msg for e in errors)
    assert client.etl("failing-etl").view().obj_errors == []  # inline errors are another list
    assert client.bucket("dst").list_all_objects() == []


def test_without_cont_on_err_the_first_error_aborts_the_job(client):
    fill(client, 60)
    client.etl("failing-etl").init(image="img/failing:1")
    job_id = client.bucket("src").transform("failing-etl", client.bucket("dst"))
    result = client.job(job_id).wait(timeout=WAIT, verbose=False)
    assert not result.success and "cannot transform" in result.error
    status = client.job(job_id).status()
    assert status.aborted and status.end_time > 0


def test_a_list_and_a_template_job_wait_for_idle(cluster, client):
    objects = fill(client, 21)
    client.etl("upper-etl").init(image="img/upper:1")
    names = ["d1/obj-1.txt", "d2/obj-2.txt", "d3/obj-10.txt"]
    job_id = client.bucket("src").objects(obj_names=names).transform(client.bucket("dst"), "upper-etl")
    assert client.job(job_id).wait(timeout=WAIT, verbose=False).success
    assert sorted(e.name for e in client.bucket("dst").list_all_objects()) == sorted(names)
    job_id = (
        client.bucket("src").objects(obj_template="d0/obj-{0..20..7}.txt").transform(client.bucket("tpl"), "upper-etl")
    )
    assert client.job(job_id).wait(timeout=WAIT, verbose=False).success
    templated = ["d0/obj-0.txt", "d0/obj-14.txt", "d0/obj-7.txt"]
    assert [e.name for e in client.bucket("tpl").list_all_objects()] == templated
    assert all(client.bucket("tpl").object(n).get_reader().read_all() == objects[n].upper() for n in templated)


def test_a_bucket_copy_places_every_copy_on_its_owner(cluster, client):
    objects = fill(client, 50)
    job_id = client.bucket("src").copy(client.bucket("copy"), prepend="c/")
    assert client.job(job_id).wait(timeout=WAIT, verbose=False).success
    for name, data in objects.items():
        assert holder(cluster, "copy", f"c/{name}") == [cluster.owner("copy", f"c/{name}").node_id]
        assert client.bucket("copy").object(f"c/{name}").get_reader(direct=True).read_all() == data


def test_a_job_naming_an_unknown_etl_is_a_404(client):
    fill(client, 1)
    with pytest.raises(AISError) as info:
        client.bucket("src").transform("never-made", client.bucket("dst"))
    assert info.value.status_code == 404 and "never-made doesn't exist" in info.value.message


def test_jobs_are_listed_and_stay_queryable_after_the_end(client):
    fill(client, 5)
    client.etl("upper-etl").init(image="img/upper:1")
    job_id = client.bucket("src").transform("upper-etl", client.bucket("dst"))
    client.job(job_id).wait(timeout=WAIT, verbose=False)
    assert job_id in [s.uuid for s in client.cluster().list_jobs_status()]
    assert client.job(job_id).status().end_time > 0
    assert client.cluster().list_running_jobs() == []


def test_the_widget_shows_targets_etls_and_job_progress(cluster, client):
    fill(client, 12)
    client.etl("upper-etl").init(image="img/upper:1", comm_type="hpull")
    job_id = client.bucket("src").transform("upper-etl", client.bucket("dst"))
    client.job(job_id).wait(timeout=WAIT, verbose=False)
    w = cluster.widget
    w.refresh()
    assert all(t.url in w.status.value for t in cluster.targets)
    assert "upper-etl" in w.status.value and "hpull://" in w.status.value and "Running" in w.status.value
    assert w.status.value.count("/docs'") == 3  # one server per target
    bar, text = w._bars[job_id]
    assert (bar.value, bar.max, bar.bar_style) == (12, 12, "success")
    assert "12/12 done" in text.value
    assert "text/plain" in cluster._repr_mimebundle_()


def test_a_job_aborted_by_the_client_ends_aborted(client):
    bck = client.bucket("src").create()
    for i in range(60):
        bck.object(f"slow-{i}").get_writer().put_content(b"s")  # 1.5 s each, 8 at a time per target
    client.etl("sleepy-etl").init(image="img/sleepy:1")
    job = client.job(client.bucket("src").transform("sleepy-etl", client.bucket("dst")))
    job.abort()
    result = job.wait(timeout=WAIT, verbose=False)
    assert not result.success and "aborted by the client" in result.error
    assert job.status().aborted


def test_an_sdk_class_sent_by_init_class_runs_an_offline_job_over_ws(cluster, client):
    from tests.test_cluster_etl import SDKShout

    objects = fill(client, 30)
    client.etl("sdk-shout").init_class(comm_type="ws")(SDKShout)
    job_id = client.bucket("src").transform("sdk-shout", client.bucket("dst"))
    assert client.job(job_id).wait(timeout=WAIT, verbose=False).success
    assert sum(len(t.deliveries) for t in cluster.targets) == 30  # the SDK server's own direct puts
    for name, data in objects.items():
        assert client.bucket("dst").object(name).get_reader(direct=True).read_all() == data.upper() + b"!"


def test_inspect_is_a_dry_run_that_counts_and_writes_nothing(cluster, client):
    objects = fill(client, 25)
    client.etl("upper-etl").init(image="img/upper:1", direct_put=True)
    job_id = client.bucket("src").inspect("upper-etl")
    assert client.job(job_id).wait(timeout=WAIT, verbose=False).success
    snaps = client.job(job_id).get_details().list_snapshots()
    assert sum(s.stats.objects for s in snaps) == 25
    assert sum(s.stats.bytes for s in snaps) == sum(len(d) for d in objects.values())
    assert len(client.bucket("src").list_all_objects()) == 25  # nothing added to the source
    assert all(t.deliveries == [] for t in cluster.targets)
    assert [b.name for b in client.cluster().list_buckets()] == ["src"]
