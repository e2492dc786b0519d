"""The status widget, headless: what it says is true, in the right units, and panes stay as the user left them.

The same widget in a real browser is tests/browser (make test-browser).
"""

from __future__ import annotations

import re
import textwrap

import pytest

from aisetl.notebook.log import LOG_LINES
from aisetl.notebook.widget import (
    RATE_WINDOW_SECONDS,
    Rates,
    duration_text,
    rate_text,
    size_text,
)
from aisetl.server.stats import ServerStats
from tests.kernel import kernel
from tests.transforms import Failing, StreamUpper


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1.0 KiB"), (1536, "1.5 KiB"), (5 << 20, "5.0 MiB"), (3 << 30, "3.0 GiB")],
)
def test_sizes_are_in_iec_units(n, text):
    assert size_text(n) == text


def test_rates_and_durations_say_their_units():
    assert rate_text(1.5 * (1 << 20), "B") == "1.5 MiB/s"
    assert rate_text(12.25, "objects") == "12.2 objects/s"
    assert duration_text(0.00085) == "850 µs"
    assert duration_text(0.0123) == "12.3 ms"
    assert duration_text(1.523) == "1.52 s"


def test_rates_are_the_change_over_the_last_window():
    stats, rates = ServerStats(), Rates()
    assert rates.update(100.0, stats) is None  # one sample spans no time
    stats.objects, stats.bytes_in, stats.bytes_out = 10, 1 << 20, 2 << 20
    assert rates.update(101.0, stats) == (10.0, 1 << 20, 2 << 20)
    # Nothing more happens: once the window has slid past the last change, the rates are 0.
    for t in range(2, 3 + int(RATE_WINDOW_SECONDS)):
        last = rates.update(101.0 + t, stats)
    assert last == (0.0, 0.0, 0.0)


def test_the_widget_shows_true_counters_in_units_with_the_percentile_window():
    with StreamUpper.serve(name="counting") as srv:
        w = srv.widget
        for _ in range(3):
            srv.put(b"a" * 2048)
        srv.http.put("/b/chunked", content=iter([b"b" * 1024] * 3))  # a true stream: no Content-Length
        w.refresh()
        status = w.status.value
        assert "StreamUpper (streaming)" in status
        assert "4 / 4 / 0" in status  # requests / objects / errors
        assert "9.0 KiB / 9.0 KiB" in status  # bytes in / out: 3 x 2 KiB + 3 KiB, both ways
        assert "latency, last 4 objects" in status
        assert re.search(r"p50 [\d.]+ (µs|ms|s) · p90 [\d.]+ (µs|ms|s) · p99 [\d.]+ (µs|ms|s)", status)
        assert re.search(r"running</b>, as of \d\d:\d\d:\d\d", status)
    w.refresh()
    assert re.search(r"not running</b> \(stopped at \d\d:\d\d:\d\d\)", w.status.value)


def test_a_pane_the_user_opened_stays_open_while_the_widget_updates():
    with Failing.serve(name="panes") as srv:
        w = srv.widget
        srv.put(b"x", path="b/first")
        w.refresh()
        assert w.errors_pane.titles == ("errors: 1",)
        assert w.errors_pane.selected_index is None  # closed until the user opens it
        w.errors_pane.selected_index = 0  # what a click on the title does (synced from the browser)
        w.log_pane.selected_index = 0
        srv.put(b"x", path="b/second")
        w.refresh()
        assert w.errors_pane.selected_index == 0 and w.log_pane.selected_index == 0
        assert w.errors_pane.titles == ("errors: 2",)
        assert w.errors.value.index("b/second") < w.errors.value.index("b/first")  # the newest first
        assert "ValueError: cannot transform b/second" in w.errors.value and "Traceback" in w.errors.value
        assert "b/second" in w.log.value


LOUD = textwrap.dedent(
    """
    import aisetl
    class Picky(aisetl.FastAPIServer):
        def transform(self, data, path, etl_args):
            raise ValueError("no " + path)
    srv = Picky.serve(name="{name}")
    for i in range(30):
        srv.put(b"x", path=f"b/{{i}}")
    """
)


def test_a_server_without_its_widget_says_once_where_its_log_is_and_never_floods_the_cell():
    with kernel() as k:
        quiet = k.check(LOUD.format(name="hidden"))
        k.check("import time; time.sleep(0.2)")  # let the last log lines reach the cell, if any would
        k.drain(0.3)
        text = k.stdout_of(quiet.msg_id)  # both streams of that cell
        assert text.count("aisetl: server 'hidden'") == 1 and text.count("\n") == 1, text
        assert "Traceback" not in text and "no b/29" not in text
        assert k.check("len(srv.log.lines), srv.log.problems").value() == "(30, 30)"
        # Shown: the widget is where the log is read; the cell gets nothing.
        shown = k.check(LOUD.format(name="shown").replace("for i", "display(srv)\nfor i"))
        k.drain(0.3)
        assert "aisetl: server" not in k.stdout_of(shown.msg_id)
        assert k.check("srv.widget.refresh(); 'no b/29' in srv.widget.log.value").value() == "True"


def test_two_servers_of_one_class_keep_separate_logs():
    with Failing.serve(name="left") as left, Failing.serve(name="right") as right:
        left.put(b"x", path="b/l")
        right.put(b"x", path="b/r1")
        right.put(b"x", path="b/r2")
        assert [("b/l" in line) for line in left.log.lines] == [True]
        assert len(right.log.lines) == 2 and all("b/r" in line for line in right.log.lines)
        assert LOG_LINES >= 100


def test_a_reply_shows_one_tidy_table_of_the_contract_headers_sent_and_received(tgt):
    from tests.transforms import Reverse, Upper

    with Reverse.serve(target=tgt, name="last") as last, Upper.serve(target=tgt, name="head") as head:
        resp = head.put(b"abc", path="dst/o", pipeline=[last, tgt], etl_args="x")
        table = resp.headers_html()
    rows = re.findall(r"<tr>(.*?)</tr>", table)
    assert table.count("<table") == 1
    # Two sections, each a title row, then rows of exactly two cells: name and value.
    titles = [r for r in rows if "<th" in r]
    assert len(titles) == 2
    assert "request: <code>PUT /dst/o?etl_args=x</code>" in titles[0]
    assert "response: <code>204 No Content</code>" in titles[1]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in rows if "<th" not in r]
    assert all(len(c) == 2 for c in cells)
    names = [re.sub("<[^>]+>", "", c[0]).lower() for c in cells]
    assert names[0] == "ais-node-url" and "ais-direct-put-length" in names
    assert not {"user-agent", "accept", "accept-encoding", "host", "connection"} & set(names)


def saved_status(cells: list[str], tmp_path) -> str:
    """Run `cells` with nbclient, which saves the widget state in the notebook as a front end does;
    the saved value of the status table."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()  # type: ignore[no-untyped-call]
    nb.cells = [nbformat.v4.new_code_cell(textwrap.dedent(c)) for c in cells]  # type: ignore[no-untyped-call]
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    states = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"].values()
    (status,) = [s["state"]["value"] for s in states if "aisetl-table" in s["state"].get("value", "")]
    return str(status)


SERVED = """
    import aisetl
    class Upper(aisetl.FastAPIServer):
        def transform(self, data, path, etl_args):
            return data.upper()
    srv = Upper.serve(name="saved")
    display(srv)
    srv.put(b"x").content
"""


def test_a_saved_widget_says_when_it_was_true_or_plainly_not_running(tmp_path):
    # Saved while running: the state carries the time it was last confirmed, not a bare "running".
    assert re.search(r"running</b>, as of \d\d:\d\d:\d\d", saved_status([SERVED], tmp_path))
    # Stopped before saving (the end of a notebook, or the kernel shut down): plainly not running.
    stopped = saved_status([SERVED, "srv.stop()"], tmp_path)
    assert re.search(r"not running</b> \(stopped at \d\d:\d\d:\d\d\)", stopped)
