"""Every wrong-type or wrong-state call of the notebook API raises an error whose message names the fix."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import aisetl
from aisetl import LocalTarget, ServerHandle
from tests.transforms import Reverse, Upper


@dataclass
class World:
    """What a notebook has at hand when a mistake is made."""

    tgt: LocalTarget
    other_tgt: LocalTarget
    closed_tgt: LocalTarget
    srv: ServerHandle  # running, served with target=tgt
    no_target: ServerHandle  # running, served without a target
    stopped: ServerHandle
    replaced: ServerHandle  # an older serve() of the name "upper"


@pytest.fixture
def world(tgt: LocalTarget) -> Iterator[World]:
    tgt.put("bkt/o", b"object")
    closed = LocalTarget()
    closed.close()
    with LocalTarget() as other:
        replaced = Upper.serve(target=tgt, name="upper")
        srv = Upper.serve(target=tgt, name="upper")  # re-running the cell
        stopped = Reverse.serve(target=tgt, name="stopped")
        stopped.stop()
        no_target = Reverse.serve(name="no-target")
        yield World(tgt, other, closed, srv, no_target, stopped, replaced)


# The World is Any here: these calls are wrong on purpose, and mypy would say so.
Call = Callable[[Any], Any]
# (the mistake, the call, the error raised, a pattern its message must match: the fix)
MISTAKES: list[tuple[str, Call, type[Exception], str]] = [
    (
        "a server class where a served handle belongs (inline)",
        lambda w: w.tgt.get("bkt/o", etl=Upper),
        TypeError,
        r"Upper is a server class, not a running server: srv = Upper\.serve\(\.\.\.\), then pass srv",
    ),
    (
        "a server class in a job's ETL list",
        lambda w: w.tgt.transform("bkt", "dst", etl=[w.srv, Upper]),
        TypeError,
        r"Upper\.serve\(",
    ),
    (
        "a server class in a handle's pipeline",
        lambda w: w.srv.put(b"x", pipeline=[Upper]),
        TypeError,
        r"Upper\.serve\(",
    ),
    (
        "a server instance where a served handle belongs",
        lambda w: w.tgt.get("bkt/o", etl=w.srv.server),
        TypeError,
        r"a server object, not a running server: serve its class",
    ),
    (
        "something else where a stage belongs",
        lambda w: w.srv.put(b"x", pipeline=[42]),
        TypeError,
        r"a pipeline stage is a served handle, an ETL URL or a LocalTarget, got int",
    ),
    ("a URL without its scheme", lambda w: w.tgt.get("bkt/o", etl="127.0.0.1:8000"), ValueError, r"http://"),
    (
        "a call on a stopped server",
        lambda w: w.stopped.put(b"x"),
        RuntimeError,
        r"server 'stopped' is stopped: call \.restart\(\)",
    ),
    (
        "a stopped server as the ETL of an inline transform",
        lambda w: w.tgt.get("bkt/o", etl=w.stopped),
        RuntimeError,
        r"server 'stopped' is stopped: call \.restart\(\)",
    ),
    (
        "a stopped server in a pipeline",
        lambda w: w.srv.put(b"x", pipeline=[w.stopped]),
        RuntimeError,
        r"server 'stopped' is stopped: call \.restart\(\)",
    ),
    (
        "a stopped server in a job",
        lambda w: w.tgt.transform("bkt", "dst", etl=w.stopped),
        RuntimeError,
        r"\.restart\(\)",
    ),
    (
        "the handle of a server that a later serve() replaced",
        lambda w: w.replaced.put(b"x"),
        RuntimeError,
        r"replaced by a newer serve\(\) of `upper`; pass name= to keep both",
    ),
    (
        "a missing object, inline",
        lambda w: w.tgt.get("bkt/missing", etl=w.srv),
        KeyError,
        r"no object 'bkt/missing' on this target: tgt\.put\('bkt/missing', data\) first",
    ),
    ("a missing object", lambda w: w.tgt.get("bkt/missing"), KeyError, r"tgt\.put\('bkt/missing', data\) first"),
    ("an object name without a bucket", lambda w: w.tgt.put("o", b"x"), ValueError, r"'bucket/object'"),
    (
        "an unknown comm type",
        lambda w: w.tgt.get("bkt/o", etl=w.srv, comm="hpush://"),
        ValueError,
        r"comm must be one of hpush, hpull, ws \(without '://'\)",
    ),
    (
        "an unknown comm type in a job",
        lambda w: w.tgt.transform("bkt", "d", etl=w.srv, comm="http"),
        ValueError,
        "one of",
    ),
    ("hpull of a name without a bucket", lambda w: w.srv.get("o"), ValueError, r"'bucket/object'"),
    (
        "hpull on a server served without a target",
        lambda w: w.no_target.get("bkt/o"),
        ValueError,
        r"serve\(target=LocalTarget\(\)\)",
    ),
    (
        "inline hpull through a server of another target",
        lambda w: w.other_tgt.get("bkt/o", etl=w.srv, comm="hpull"),
        ValueError,
        r"pulls objects from its own target.*serve\(target=",
    ),
    (
        "an object by name over WebSocket without a target",
        lambda w: w.no_target.ws(["bkt/o"]),
        ValueError,
        r"serve\(target=LocalTarget",
    ),
    ("one object where ws() takes a list", lambda w: w.srv.ws(b"abc"), TypeError, r"srv\.ws\(\[b'\.\.\.'\]\)"),
    (
        "data of another type",
        lambda w: w.srv.put(123),
        TypeError,
        r"data is bytes, str, a binary file or an iterable of bytes, got int",
    ),
    ("etl_args of another type", lambda w: w.srv.put(b"x", etl_args=[1]), TypeError, r"etl_args is a str or a dict"),
    (
        "a direct put to a target under a path that names no object",
        lambda w: w.srv.put(b"x", pipeline=[w.tgt]),
        ValueError,
        r"pass path='bucket/object'",
    ),
    (
        "a target of another type",
        lambda w: Upper.serve(target=8080),
        TypeError,
        r"target is a LocalTarget or an AIS_TARGET_URL string, got int",
    ),
    (
        "a target URL that is not an ETL object route",
        lambda w: Upper.serve(target="http://127.0.0.1:8080"),
        ValueError,
        r"tgt\.ais_target_url\(name\)",
    ),
    (
        "a closed target",
        lambda w: w.closed_tgt.put("bkt/o", b"x"),
        RuntimeError,
        r"this LocalTarget is closed: create a new one",
    ),
    ("a job without an ETL", lambda w: w.tgt.transform("bkt", "dst", etl=[]), ValueError, "at least one ETL server"),
    (
        "a job of a bucket with no objects",
        lambda w: w.tgt.transform("nosuch", "dst", etl=w.srv),
        ValueError,
        r"no objects in bucket 'nosuch'.*buckets here: bkt",
    ),
    (
        "a server class without a transform",
        lambda w: aisetl.FastAPIServer.serve(),
        TypeError,
        r"override either transform\(\) or transform_stream\(\)",
    ),
    ("a setting that is not a string", lambda w: Upper.serve(MODEL=["a"]), TypeError, r"MODEL=.*a str"),
]


@pytest.mark.parametrize(("call", "error", "fix"), [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_a_mistake_raises_an_error_that_names_the_fix(world: World, call: Call, error: type[Exception], fix: str):
    with pytest.raises(error) as info:
        call(world)
    message = str(info.value.args[0]) if isinstance(info.value, KeyError) else str(info.value)
    assert re.search(fix, message), f"{message!r} does not say {fix!r}"


def test_a_mistake_leaves_the_server_serving(world: World):
    for _, call, error, _ in MISTAKES:
        with pytest.raises(error):
            call(world)
    assert world.srv.put(b"still here").content == b"STILL HERE"
