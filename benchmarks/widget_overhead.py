"""Throughput of an in-process server (serve()) without and with its live status widget.

    AIS_TARGET_URL=http://127.0.0.1:9/v1/etl/_object/x/y taskset -c 0 .venv/bin/python benchmarks/widget_overhead.py

Needs wrk; the server runs in this process on core 0, wrk on core 1.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.transforms import Upper


def main() -> None:
    script = Path(tempfile.mkdtemp()) / "put1k.lua"
    script.write_text('wrk.method = "PUT"\nwrk.body = string.rep("a", 1024)\n')
    srv = Upper.serve(name="widget-overhead")

    def load() -> float:
        cmd = ["taskset", "-c", "1", "wrk", "-t1", "-c16", "-d4s", "-s", str(script), srv.url + "/b/o"]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        return float(next(line for line in out.splitlines() if "Requests/sec" in line).split()[1])

    without = load()
    widget = srv.widget  # displayed or not, its ticker refreshes it every 0.5 s while the server runs
    with_widget = [load(), load()]
    widget.refresh()
    print(
        f"without widget {without:,.0f} req/s; with the live widget {', '.join(f'{x:,.0f}' for x in with_widget)} req/s"
    )
    srv.stop()


if __name__ == "__main__":
    main()
