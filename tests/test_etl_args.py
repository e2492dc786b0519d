"""etl_args given as a dict reach the transform exactly as the aistore SDK sends them, on every path."""

from __future__ import annotations

import json

import pytest
from aistore.sdk.etl.etl_config import ETLConfig

from aisetl import etl

ARGS: dict[str, object] = {"country": "FR", "size": [256, 256], "label": "café"}


def sdk_encoding(args: dict[str, object]) -> str:
    """What the SDK's get_reader(etl=ETLConfig(name, args)) puts in the etl_args query parameter."""
    params: dict[str, str] = {}
    ETLConfig(name="any", args=args).update_qparams(params)
    return params["etl_args"]


EXPECTED = sdk_encoding(ARGS)


@etl(name="args-seen")
def args_seen(data: bytes, etl_args: str) -> bytes:
    return etl_args.encode()


def test_the_expected_encoding_is_compact_json():
    assert EXPECTED == '{"country":"FR","size":[256,256],"label":"caf\\u00e9"}'
    assert json.loads(EXPECTED) == ARGS


def test_handle_calls_encode_a_dict_as_the_sdk_does(tgt):
    tgt.put("bkt/o", b"x")
    with args_seen.serve(target=tgt) as srv:
        assert srv.put(b"x", etl_args=ARGS).text == EXPECTED
        assert srv.put(fqn=tgt.fqn("bkt/o"), path="bkt/o", etl_args=ARGS).text == EXPECTED
        assert srv.get("bkt/o", etl_args=ARGS).text == EXPECTED
        assert srv.ws([b"x", "bkt/o"], etl_args=ARGS) == [EXPECTED.encode()] * 2
        assert srv.put(b"x", etl_args="as-is").text == "as-is"  # a string is passed through


def test_a_dict_travels_along_a_pipeline_to_the_next_stage(tgt):
    with args_seen.serve(target=tgt, name="second") as second, args_seen.serve(target=tgt, name="first") as first:
        assert first.put(b"x", etl_args=ARGS, pipeline=[second]).text == EXPECTED
        delivered = first.put(b"x", path="dst/o", etl_args=ARGS, pipeline=[second, tgt])
        assert delivered.status_code == 204
        assert tgt.get("dst/o").decode() == EXPECTED


@pytest.mark.parametrize("comm", ["hpush", "hpull", "ws"])
def test_target_inline_get_and_jobs_encode_a_dict_as_the_sdk_does(tgt, comm):
    tgt.put("src/a", b"x")
    with args_seen.serve(target=tgt) as srv:
        assert tgt.get("src/a", etl=srv, comm=comm, etl_args=ARGS).decode() == EXPECTED
        report = tgt.transform("src", "dst", etl=srv, comm=comm, etl_args=ARGS).wait()
        assert (report.done, report.failed) == (1, 0)
        assert tgt.get("dst/a").decode() == EXPECTED


@pytest.mark.parametrize("bad", [["a"], 3, b"bytes"])
def test_etl_args_of_another_type_is_refused_naming_what_works(bad):
    with args_seen.serve() as srv, pytest.raises(TypeError, match="etl_args is a str or a dict"):
        srv.put(b"x", etl_args=bad)
