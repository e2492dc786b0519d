"""serve(**env): the settings a server gets are what its code sees in os.environ, as in its container."""

from __future__ import annotations

import contextvars
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from aisetl import etl


def settings_seen() -> dict[str, Any]:
    """What a library called by a transform would read, by every usual means."""
    from os import environ

    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.environ.get('MODEL'))"], capture_output=True, text=True, check=True
    )
    in_thread: list[str | None] = []
    t = threading.Thread(target=contextvars.copy_context().run, args=(lambda: in_thread.append(os.getenv("MODEL")),))
    t.start()
    t.join()
    return {
        "environ": os.environ.get("MODEL"),
        "getenv": os.getenv("MODEL"),
        "imported_environ": environ.get("MODEL"),
        "in_listing": "MODEL" in dict(os.environ),
        "subprocess": child.stdout.strip(),
        "thread": in_thread[0],
        "target_url": os.environ.get("AIS_TARGET_URL"),
    }


def load() -> dict[str, str | None]:
    return {"model": os.environ.get("MODEL")}


@etl(setup=load)
def report_settings(data: bytes, state: dict[str, str | None]) -> bytes:
    return json.dumps({**settings_seen(), "setup": state["model"]}).encode()


@etl
def report_settings_streaming(reader: Any) -> Iterator[bytes]:
    reader.read()
    yield json.dumps(settings_seen()).encode()


@pytest.fixture(autouse=True)
def model_unset_in_the_kernel() -> Iterator[None]:
    assert "MODEL" not in os.environ
    yield
    assert "MODEL" not in os.environ, "a server's setting leaked into the process environment"


def test_the_transform_its_setup_and_what_it_calls_see_the_servers_settings(tgt):
    with report_settings.serve(target=tgt, MODEL="resnet-50") as srv:
        seen = srv.put(b"x").json()
    assert seen == {
        "environ": "resnet-50",
        "getenv": "resnet-50",
        "imported_environ": "resnet-50",
        "in_listing": True,
        "subprocess": "resnet-50",
        "thread": "resnet-50",
        "target_url": tgt.ais_target_url("report-settings"),
        "setup": "resnet-50",
    }


def test_two_servers_of_one_function_with_different_settings_side_by_side():
    with (
        report_settings.serve(name="small", MODEL="small") as small,
        report_settings.serve(name="large", MODEL="large") as large,
    ):
        for _ in range(3):  # interleaved: each request sees its own server's value
            assert small.put(b"x").json()["getenv"] == "small"
            assert large.put(b"x").json()["getenv"] == "large"
        assert small.ws([b"a"]) == [small.put(b"a").content]
        assert json.loads(large.ws([b"a"])[0])["subprocess"] == "large"
        assert os.environ.get("MODEL") is None  # the kernel's own view, while both run


def test_a_streaming_transform_in_worker_threads_sees_the_settings_too():
    with report_settings_streaming.serve(MODEL="stream-model") as srv:
        seen = srv.put(b"x" * 100_000).json()
    assert (seen["environ"], seen["subprocess"], seen["thread"]) == ("stream-model",) * 3


def test_a_setting_of_none_hides_a_process_variable_from_that_server_only(monkeypatch):
    monkeypatch.setenv("AISETL_TEST_PROXY", "http://proxy")
    with report_settings.serve(name="with", MODEL="m") as with_var, report_settings.serve(name="without") as plain:
        assert with_var.put(b"x").json()["environ"] == "m"
        assert plain.put(b"x").json()["environ"] is None

    @etl
    def proxy_setting(data: bytes) -> bytes:
        return os.environ.get("AISETL_TEST_PROXY", "unset").encode()

    with proxy_setting.serve(name="hidden", AISETL_TEST_PROXY=None) as hidden, proxy_setting.serve() as seen:
        assert hidden.put(b"x").content == b"unset"
        assert seen.put(b"x").content == b"http://proxy"
    assert os.environ["AISETL_TEST_PROXY"] == "http://proxy"


def test_a_transform_writing_os_environ_changes_its_own_server_only():
    @etl
    def writes(data: bytes) -> bytes:
        before = os.environ.get("COUNTER", "0")
        os.environ["COUNTER"] = str(int(before) + 1)
        return before.encode()

    with writes.serve(name="w1") as w1, writes.serve(name="w2") as w2:
        assert [w1.put(b"").content for _ in range(3)] == [b"0", b"1", b"2"]
        assert w2.put(b"").content == b"0"
    assert "COUNTER" not in os.environ
