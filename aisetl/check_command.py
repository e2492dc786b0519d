"""The `aisetl check` command: where the stand-in target listens, the server it may start, the object
and etl_args it checks with; the checks themselves are aisetl.check.

* `--target-url URL`: the server's own AIS_TARGET_URL (`http://127.0.0.1:<port>/v1/etl/_object/<etl>/<secret>`);
  the stand-in target listens on that port with that secret, so hpull and direct put to a target run;
* `--serve MODULE:NAME`: start the server (`aisetl serve`, a subprocess) with the stand-in's URL;
* `--target-port P`: the stand-in on port P with aisetl's own secret; it prints the AIS_TARGET_URL to
  start the server with;
* none of these: the target-side checks are reported NOT RUN, saying what to pass.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from .check import CHECK_ETL, CHECK_SECRET, OBJECT, Checker, CheckReport
from .local.target import LocalTarget
from .wire import ENV_TARGET_URL, ETL_OBJECT_ROUTE, HEALTH_PATH

SERVE_TIMEOUT = 60.0  # seconds for `--serve` to answer /health (imports, a model's set-up)


def print_report(report: CheckReport, say: Callable[[str], None] = print) -> int:
    for r in report.results:
        say(r.line())
    say(report.summary())
    return 0 if report.ok else 1


def object_arg(path: str | None) -> tuple[bytes, str]:
    if path is None:
        return OBJECT, "obj.txt"
    file = Path(path)
    return file.read_bytes(), file.name


def parse_target_url(target_url: str) -> tuple[int, str]:
    """The port and secret of a server's AIS_TARGET_URL, for a stand-in target on this machine."""
    url = httpx.URL(target_url)
    parts = url.path.strip("/").split("/")
    route = ETL_OBJECT_ROUTE.strip("/").split("/")
    if url.host not in ("127.0.0.1", "localhost") or not url.port:
        raise ValueError(
            f"--target-url {target_url!r}: the stand-in target listens on 127.0.0.1, so the server's AIS_TARGET_URL "
            "must be http://127.0.0.1:<port>/... (start the server with such a URL, or use --serve)"
        )
    if parts[: len(route)] != route or len(parts) != len(route) + 2:
        raise ValueError(
            f"--target-url {target_url!r}: expected http://127.0.0.1:<port>{ETL_OBJECT_ROUTE}/<etl>/<secret>"
        )
    return url.port, parts[-1]


@contextmanager
def served(spec: str, target_url: str) -> Iterator[str]:
    """`aisetl serve MODULE:NAME` in a subprocess with `target_url` as its AIS_TARGET_URL; its URL once healthy."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "aisetl", "serve", spec, "--host", "127.0.0.1", "--port", str(port)]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(command, env={**os.environ, ENV_TARGET_URL: target_url}, stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + SERVE_TIMEOUT
            while not _healthy(url):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    output = log.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"`aisetl serve {spec}` did not start:\n{output}")
                time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + HEALTH_PATH, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def run_checks(
    url: str | None,
    target_port: int | None = None,
    say: Callable[[str], None] = print,
    target_dir: str | None = None,
    target_url: str | None = None,
    serve: str | None = None,
    object_file: str | None = None,
    etl_args: str = "",
) -> int:
    """`aisetl check`: prints one line per expectation; returns the exit status (0 ok, 1 a check failed,
    2 the checks could not run). See the module docstring for the target options."""
    data, name = object_arg(object_file)
    try:
        port, secret = parse_target_url(target_url) if target_url else (target_port or 0, CHECK_SECRET)
    except ValueError as exc:
        print(f"aisetl check: {exc}", file=sys.stderr)
        return 2
    target_side = (
        None
        if (target_url or target_port or serve)
        else (
            "needs the server's AIS_TARGET_URL: pass --target-url <the server's AIS_TARGET_URL>, "
            "or --serve MODULE:NAME to start the server with the stand-in target's"
        )
    )
    with LocalTarget(target_dir, port=port, secret=secret) as target:
        if target_port and not target_url:
            say(f"stand-in target: AIS_TARGET_URL={target.ais_target_url(CHECK_ETL)}")
        if object_file:
            say(f"object: {object_file} ({len(data)} bytes)" + (f", etl_args {etl_args!r}" if etl_args else ""))
        with contextlib.ExitStack() as stack:
            if serve:
                try:
                    url = stack.enter_context(served(serve, target.ais_target_url(CHECK_ETL)))
                except RuntimeError as exc:
                    print(f"aisetl check: {exc}", file=sys.stderr)
                    return 2
            if url is None:
                print("aisetl check: give the server's URL, or --serve MODULE:NAME", file=sys.stderr)
                return 2
            try:
                httpx.get(url.rstrip("/") + HEALTH_PATH, timeout=10)
            except httpx.HTTPError as exc:
                print(f"aisetl check: cannot connect to {url} ({exc}): is the server running?", file=sys.stderr)
                return 2
            report = Checker(url, target, target_side, data, name, etl_args).run()
    return print_report(report, say)
