"""@etl: functions become ETL server classes, checked over real HTTP through uvicorn."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

import pytest

import aisetl
from aisetl import FastAPIServer, FunctionETL, etl


@etl
def upper(data: bytes) -> bytes:
    """Upper-cases the object."""
    return data.upper()


@etl
def with_path(data: bytes, path: str) -> bytes:
    return path.encode() + b":" + data


@etl
def all_three(data: bytes | str, path: str, etl_args: str) -> str:
    return json.dumps({"type": type(data).__name__, "data": str(data), "path": path, "etl_args": etl_args})


@etl
def by_name(obj: bytes, *, etl_args: str, path: str) -> bytes:
    return f"{etl_args}|{path}|{obj.decode()}".encode()


calls: list[int] = []


def load_table() -> dict[str, str]:
    calls.append(1)
    return {"a": "alpha"}


@etl(setup=load_table, mime_type="text/plain", name="table-lookup")
def lookup(data: bytes, state: dict[str, str]) -> str:
    return state[data.decode()]


@etl
def chunks(reader: BinaryIO, path: str) -> Iterator[bytes]:
    while chunk := reader.read(64 * 1024):
        yield chunk[::-1]


@etl
def text_chunks(reader: BinaryIO) -> Iterator[str]:
    yield "héllo "
    yield reader.read().decode()


@etl
async def async_upper(data: bytes) -> bytes:
    return data.upper()


@etl
def as_bytearray(data: bytes) -> bytearray:
    return bytearray(data) + b"!"


@etl
def as_memoryview(data: bytes) -> memoryview:
    return memoryview(data)[1:]


@etl
def wrong(data: bytes) -> Any:
    return {"not": "bytes"}


def test_decorated_function_is_a_server_class_owning_its_function():
    assert issubclass(upper, FastAPIServer) and issubclass(upper, FunctionETL)
    assert (upper.__name__, upper.__doc__, upper.__module__) == ("upper", "Upper-cases the object.", __name__)
    assert upper.func(b"unit test") == b"UNIT TEST"  # still callable as a function
    assert upper.__wrapped__ is upper.func  # type: ignore[attr-defined]
    assert (upper.etl_name, lookup.etl_name) == ("upper", "table-lookup")
    assert upper.transform is not FastAPIServer.transform
    assert chunks.transform_stream is not FastAPIServer.transform_stream


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (upper, b"ABC"),
        (with_path, b"bkt/o:abc"),
        (by_name, b"x|bkt/o|abc"),
        (async_upper, b"ABC"),
        (as_bytearray, b"abc!"),
        (as_memoryview, b"bc"),
    ],
)
def test_signatures_and_return_types_over_http(serve, cls, expected):
    resp = serve(cls).http.put("/bkt/o?etl_args=x", content=b"abc")
    assert (resp.status_code, resp.content) == (200, expected)


def test_all_three_parameters_and_a_str_result(serve):
    got = json.loads(serve(all_three).http.put("/bkt/o?etl_args=%20a%20", content=b"abc").content)
    assert got == {"type": "bytes", "data": "b'abc'", "path": "bkt/o", "etl_args": "a"}


def test_a_str_path_with_direct_fqn(serve):
    got = json.loads(serve(all_three, {"ETL_DIRECT_FQN": "true"}).http.put("/b/o?etl_fqn=%252Ftmp%252Fx").content)
    assert (got["type"], got["data"]) == ("str", "/tmp/x")


def test_set_up_hook_runs_once_per_server_and_reaches_the_function(serve):
    calls.clear()
    r = serve(lookup)
    for _ in range(20):
        resp = r.http.put("/b/o", content=b"a")
        assert resp.content == b"alpha"
    assert calls == [1]
    assert resp.headers["content-type"] == "text/plain"


def test_a_generator_streams_chunk_by_chunk(serve):
    r = serve(chunks)
    assert r.server.use_streaming
    data = os.urandom(1 << 20)
    resp = r.http.put("/b/o", content=data)
    assert "content-length" not in resp.headers
    expected = b"".join(data[i : i + 65536][::-1] for i in range(0, len(data), 65536))
    assert resp.content == expected


def test_str_chunks_are_sent_as_utf8(serve):
    assert serve(text_chunks).http.put("/b/o", content=b"world").content == "héllo world".encode()


def test_a_wrong_return_type_is_a_500_naming_the_function(serve):
    resp = serve(wrong).http.put("/b/o", content=b"x")
    assert resp.status_code == 500
    assert "wrong() returned dict; expected bytes, bytearray, memoryview or str" in resp.json()["detail"]


def test_two_decorated_stages_chained_by_direct_put(serve):
    second = serve(with_path)
    resp = serve(upper).http.put("/bkt/o", content=b"abc", headers={"Ais-Node-Url": second.url})
    assert (resp.status_code, resp.content) == (200, b"bkt/o:ABC")


def test_a_failing_set_up_hook_fails_construction_naming_it():
    def broken() -> None:
        raise OSError("model file missing")

    cls = etl(setup=broken)(lambda data: data)
    with aisetl.api.base.environ_override({"AIS_TARGET_URL": "http://t:1"}), pytest.raises(RuntimeError) as info:
        cls()
    assert "set-up hook" in str(info.value) and "broken" in str(info.value) and "model file missing" in str(info.value)


def no_params() -> bytes:
    return b""


def unfillable(data: bytes, path: str, etl_args: str, extra: int) -> bytes:
    return data


def wants_state(data: bytes, state: object) -> bytes:
    return data


def only_keywords(*, path: str) -> bytes:
    return b""


def returns_int(data: bytes) -> int:
    return 1


async def async_gen(reader: BinaryIO) -> Any:
    yield b""


@pytest.mark.parametrize(
    ("func", "message"),
    [
        (no_params, "no_params() takes no parameters"),
        (unfillable, "required parameter 'extra' that aisetl cannot fill"),
        (wants_state, "takes 'state' but @etl was given no setup= hook"),
        (only_keywords, "no parameter for the object"),
        (returns_int, "annotated to return int"),
        (async_gen, "async generator"),
    ],
)
def test_signatures_that_cannot_work_fail_at_decoration_naming_the_function(func, message):
    with pytest.raises(TypeError, match=re.escape(message)) as info:
        etl(func)
    assert func.__name__ in str(info.value)


def test_defaults_that_match_nothing_are_kept(serve):
    @etl
    def scaled(data: bytes, factor: int = 2) -> bytes:
        return data * factor

    assert serve(scaled).http.put("/b/o", content=b"ab").content == b"abab"


def test_star_args_take_data_path_and_etl_args(serve):
    @etl
    def anything(*args: Any) -> bytes:
        return repr(args).encode()

    assert serve(anything).http.put("/b/o?etl_args=z", content=b"d").content == b"(b'd', 'b/o', 'z')"
