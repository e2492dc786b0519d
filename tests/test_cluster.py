"""LocalCluster driven only through the real aistore SDK: cluster map, buckets, objects, placement."""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest
from aistore.sdk.errors import AISError, ErrBckAlreadyExists, ErrBckNotFound, ErrObjNotFound
from aistore.sdk.types import Smap

from aisetl import LocalCluster
from aisetl.local.cluster.hrw import node_digest, xxhash64
from aisetl.local.cluster.listing import packb

AWKWARD = ["plain.txt", "dir/sub/deep.bin", "with space#and?query&.txt", "ünïcødé/名前.dat", "100%/a+b=c"]


def listening(url: str) -> bool:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((host, int(port))) == 0


# --- cluster map -----------------------------------------------------------------------------------


def test_the_cluster_map_lists_the_proxy_and_every_target_at_reachable_urls(cluster, client):
    smap = client.cluster().get_info()
    assert smap.proxy_si.public_net.direct_url == cluster.url
    assert sorted(smap.tmap) == ["t1", "t2", "t3"]
    for t in cluster.targets:
        node = smap.tmap[t.node_id]
        assert (node.daemon_type, node.public_net.direct_url, node.id_digest) == (
            "target",
            t.url,
            node_digest(t.node_id),
        )
        assert listening(t.url)
    assert client.cluster().is_ready() is True
    assert client.cluster().get_uuid() == cluster.uuid


# --- buckets ---------------------------------------------------------------------------------------


def test_buckets_are_created_listed_headed_and_destroyed_with_the_sdks_typed_errors(client):
    assert client.cluster().list_buckets() == []
    client.bucket("alpha").create()
    client.bucket("beta").create()
    client.bucket("alpha").create(exist_ok=True)
    with pytest.raises(ErrBckAlreadyExists):
        client.bucket("alpha").create()
    assert [b.name for b in client.cluster().list_buckets()] == ["alpha", "beta"]
    assert client.bucket("alpha").head() is not None
    with pytest.raises(AISError) as missing_head:
        client.bucket("gamma").head()
    assert missing_head.value.status_code == 404
    client.bucket("alpha").delete()
    with pytest.raises(ErrBckNotFound, match="ais://alpha.. does not exist"):
        client.bucket("alpha").delete()
    client.bucket("alpha").delete(missing_ok=True)
    with pytest.raises(ErrBckNotFound):
        client.bucket("alpha").list_all_objects()
    assert [b.name for b in client.cluster().list_buckets()] == ["beta"]


def test_destroying_a_bucket_removes_its_objects_from_every_target(cluster, client):
    bck = client.bucket("gone").create()
    for i in range(30):
        bck.object(f"o{i}").get_writer().put_content(b"x")
    assert sum(len(t.list("gone")) for t in cluster.targets) == 30
    bck.delete()
    assert all(t.list("gone") == [] for t in cluster.targets)
    bck.create()
    assert bck.list_all_objects() == []


# --- objects ---------------------------------------------------------------------------------------


def test_objects_round_trip_through_the_proxy_and_directly_from_their_target(client, tmp_path):
    bck = client.bucket("objs").create()
    for i, name in enumerate(AWKWARD):
        bck.object(name).get_writer().put_content(name.encode() * (i + 1))
    big = os.urandom(3 << 20)
    (tmp_path / "big.bin").write_bytes(big)
    bck.object("big.bin").get_writer().put_file(str(tmp_path / "big.bin"))
    for i, name in enumerate(AWKWARD):
        obj = bck.object(name)
        assert obj.get_reader().read_all() == name.encode() * (i + 1)
        assert obj.get_reader(direct=True).read_all() == name.encode() * (i + 1)
        assert obj.head().size == len(name.encode()) * (i + 1)
        assert obj.props.present is True
    assert b"".join(bck.object("big.bin").get_reader()) == big
    bck.object("plain.txt").delete()
    with pytest.raises(ErrObjNotFound, match="ais://objs/plain.txt"):
        bck.object("plain.txt").get_reader().read_all()
    with pytest.raises(ErrObjNotFound):
        bck.object("plain.txt").delete()
    with pytest.raises(AISError) as missing_head:
        bck.object("plain.txt").head()
    assert missing_head.value.status_code == 404


def test_range_reads_answer_206_with_the_bytes_asked(client):
    bck = client.bucket("ranged").create()
    bck.object("o").get_writer().put_content(b"0123456789")
    assert bck.object("o").get_reader(byte_range="bytes=2-5").read_all() == b"2345"
    assert bck.object("o").get_reader(byte_range="bytes=-3").read_all() == b"789"
    assert bck.object("o").get_reader(byte_range="bytes=7-").read_all() == b"789"
    with pytest.raises(AISError) as info:
        bck.object("o").get_reader(byte_range="bytes=20-30").read_all()
    assert info.value.status_code == 416 and "outside" in info.value.message


def test_an_object_of_a_missing_bucket_is_a_bucket_error(client):
    with pytest.raises(ErrBckNotFound):
        client.bucket("nowhere").object("o").get_reader().read_all()
    with pytest.raises(ErrBckNotFound):
        client.bucket("nowhere").object("o").get_writer().put_content(b"x")


def test_an_object_copy_lands_on_the_target_that_owns_the_copy(cluster, client):
    src = client.bucket("src").create()
    dst = client.bucket("dst").create()
    src.object("a/one.txt").get_writer().put_content(b"payload")
    src.object("a/one.txt").copy(dst.object("b/copied.txt"))
    assert dst.object("b/copied.txt").get_reader(direct=True).read_all() == b"payload"
    assert "dst/b/copied.txt" in cluster.owner("dst", "b/copied.txt")
    with pytest.raises(ErrObjNotFound):
        src.object("missing").copy(dst.object("x"))


# --- placement -------------------------------------------------------------------------------------


def test_xxhash64_is_the_reference_algorithm():
    xxhash = pytest.importorskip("xxhash")
    for n in range(80):
        data = bytes((i * 37 + n) % 256 for i in range(n))
        assert xxhash64(data) == xxhash.xxh64(data, seed=1103515245).intdigest()


def test_every_object_lives_on_the_target_the_sdk_picks(cluster, client):
    bck = client.bucket("placed").create()
    names = [f"dir{i % 5}/object-{i}.bin" for i in range(150)]
    for name in names:
        bck.object(name).get_writer().put_content(name.encode())
    smap = Smap.model_validate(cluster.smap())
    by_target = {t.node_id: t for t in cluster.targets}
    for name in names:
        owner = smap.get_target_for_object(f"{bck.get_path()}{name}")
        assert f"placed/{name}" in by_target[owner.daemon_id]
        assert sum(f"placed/{name}" in t for t in cluster.targets) == 1
    assert all(len(t.list("placed")) > 20 for t in cluster.targets)  # a bucket spans every target


# --- listing ---------------------------------------------------------------------------------------


def test_list_objects_pages_msgpack_across_targets(client):
    bck = client.bucket("listed").create()
    for i in range(25):
        bck.object(f"p{i % 2}/o{i:02}").get_writer().put_content(b"x" * i)
    first = bck.list_objects(page_size=7)
    assert len(first.entries) == 7 and first.continuation_token and first.uuid
    second = bck.list_objects(page_size=7, uuid=first.uuid, continuation_token=first.continuation_token)
    assert second.entries[0].name > first.entries[-1].name
    everything = bck.list_all_objects(page_size=7)
    assert [e.name for e in everything] == sorted(f"p{i % 2}/o{i:02}" for i in range(25))
    assert {e.name: e.size for e in everything}["p1/o13"] == 13
    assert len(list(bck.list_objects_iter(page_size=4))) == 25
    assert [e.name for e in bck.list_all_objects(prefix="p1/")] == [f"p1/o{i:02}" for i in range(1, 25, 2)]


def test_msgpack_encoding_matches_the_sdks_decoder():
    msgspec = pytest.importorskip("msgspec")
    value = {"s": "x" * 40, "n": [0, 1, 127, 128, 65536, 1 << 40, -1, -100], "b": [True, False, None], "m": {}}
    assert msgspec.msgpack.decode(packb(value)) == value


# --- bad requests and the lifecycle ----------------------------------------------------------------


def test_bad_requests_are_answered_4xx_with_a_message(client):
    rc = client._request_client
    client.bucket("b1").create()
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("GET", "daemon", {"params": {"what": "bogus"}}, 400, "only what=smap"),
        ("GET", "nowhere", {}, 404, "no route"),
        ("POST", "buckets/b1", {"data": b"not json"}, 400, "not JSON"),
        ("POST", "buckets/b1", {"json": {"action": "frobnicate"}}, 400, "not supported"),
        ("POST", "buckets/b1", {"json": {"action": "create-bck"}, "params": {"provider": "aws"}}, 400, "ais://"),
        ("PUT", "etl", {"json": {"name": "x"}}, 400, "invalid ETL name"),
        ("GET", "cluster", {"params": {"what": "status"}, "json": {"ID": "nope"}}, 404, "not found"),
    ]
    for method, path, kwargs, status, text in cases:
        with pytest.raises(AISError) as info:
            rc.request(method, path, **kwargs)
        assert info.value.status_code == status, (method, path)
        assert text in info.value.message, (method, path, info.value.message)


def test_stop_leaves_nothing_listening_and_a_rerun_replaces_the_cluster():
    with LocalCluster(targets=2, name="rerun-test") as first:
        urls = [first.url] + [t.url for t in first.targets]
        second = LocalCluster(targets=2, name="rerun-test")  # the same cell, run again
        assert not any(listening(u) for u in urls)
        assert second.client().cluster().is_ready()
        second_urls = [second.url] + [t.url for t in second.targets]
        second.stop()
    assert not any(listening(u) for u in second_urls)
    with pytest.raises(RuntimeError, match="stopped"):
        _ = second.url
