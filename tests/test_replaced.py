"""Serving a name again replaces the old server; its handle then says so instead of failing to connect."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from aisetl import etl
from aisetl.notebook.serve import running_servers

REPLACED = re.escape("replaced by a newer serve() of `shout`; pass name= to keep both")


@etl
def shout(data: bytes) -> bytes:
    return data.upper() + b"!"


def test_rerunning_a_cell_replaces_the_server_and_the_old_handle_says_so():
    old = shout.serve()
    new = shout.serve()  # the cell, run again
    assert running_servers() == {"shout": new}
    assert new.put(b"hi").content == b"HI!"
    assert (old.state, old.running) == ("replaced", False)
    calls: list[Callable[[], object]] = [lambda: old.put(b"x"), lambda: old.get("b/o"), lambda: old.ws([b"x"])]
    for call in calls:
        with pytest.raises(RuntimeError, match=REPLACED):
            call()
    assert "replaced" in repr(old)


def test_the_replaced_servers_widget_says_replaced():
    old = shout.serve()
    widget = old.widget
    assert "running" in widget.render()[0]
    shout.serve()
    widget.refresh()
    assert "replaced" in widget.render()[0]


def test_name_keeps_both_servers():
    first = shout.serve(name="shout-a")
    second = shout.serve(name="shout-b")
    assert first.put(b"a").content == second.put(b"a").content == b"A!"
    assert set(running_servers()) == {"shout-a", "shout-b"}


def test_restarting_a_replaced_handle_takes_the_name_back():
    old = shout.serve()
    new = shout.serve()
    old.restart()
    assert old.put(b"x").content == b"X!"
    assert new.state == "replaced"
    with pytest.raises(RuntimeError, match=REPLACED):
        new.put(b"x")
