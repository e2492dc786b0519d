"""A real Jupyter server (JupyterLab 4 and Notebook 7) and Debian's headless chromium, for browser tests.

Nothing is downloaded: the browser is /usr/bin/chromium, driven by /usr/bin/chromedriver; the server
listens on 127.0.0.1 with a token, with its config, runtime and settings in a temporary folder so that
the developer's own Jupyter set-up neither leaks in nor is touched.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.stubs import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Flags for a closed network: without the background-networking ones chromium keeps trying to reach
# its vendor's hosts, and every refused connection is noise.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
]


@dataclass
class JupyterServer:
    url: str
    token: str
    root: Path
    process: subprocess.Popen[bytes]
    log: Path

    def page(self, path: str) -> str:
        return f"{self.url}/{path.lstrip('/')}?token={self.token}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def jupyter_server(tmp: Path) -> Iterator[JupyterServer]:
    """`jupyter lab` on a free port of 127.0.0.1, serving the folder `tmp/root`; stopped afterwards."""
    root, home = tmp / "root", tmp / "home"
    root.mkdir()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    port, token = free_port(), secrets.token_hex(16)
    log = tmp / "jupyter.log"
    command = [
        str(Path(sys.executable).parent / "jupyter"),
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        # The application object on `window`: the test runs cells the way the Run menu does.
        "--LabApp.expose_app_in_browser=True",
        "--JupyterNotebookApp.expose_app_in_browser=True",
        # No look-ups on the internet: extensions, news, updates.
        "--LabApp.extension_manager=readonly",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if os.geteuid() == 0:  # CI runs as root; jupyter refuses that unless told
        command.append("--allow-root")
    with log.open("wb") as out:
        # Its own process group: the kernels it starts are stopped with it.
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = JupyterServer(f"http://127.0.0.1:{port}", token, root, process, log)
    try:
        _wait_ready(server)
        yield server
    finally:
        _stop(process)


def _wait_ready(server: JupyterServer, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {server.process.returncode}:\n{server.log_text()}")
        try:
            if httpx.get(server.page("api/status"), timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"jupyter lab did not answer within {timeout} s:\n{server.log_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)  # the server shuts its kernels down on SIGTERM
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


KEEP_STACKS = """
window.__uncaught = [];
const keep = (what) => window.__uncaught.push(String((what && what.stack) || what));
window.addEventListener('error', (e) => keep(e.error || e.message), true);
window.addEventListener('unhandledrejection', (e) => keep(e.reason));
"""


def uncaught_stacks(driver: webdriver.Chrome) -> list[str]:
    """Stacks of the page's uncaught errors and rejections so far."""
    return list(driver.execute_script("return window.__uncaught || []"))


@contextmanager
def chromium(tmp: Path) -> Iterator[webdriver.Chrome]:
    """Headless Debian chromium with a fresh profile, its console kept for `console_errors`."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            raise RuntimeError(f"{path} is missing: `make test-browser` installs Debian's chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'chromium-profile'}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # The driver path is given, so selenium never runs its manager (which would download a driver).
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    # The console log has messages only; keep the stacks of uncaught errors for a failure report.
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": KEEP_STACKS})
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: webdriver.Chrome) -> list[dict[str, Any]]:
    """Console messages of level SEVERE since the last call (chromedriver hands each out once)."""
    return [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def wait_for(what: str, check: Any, timeout: float = 90, every: float = 0.25) -> Any:
    """Poll `check()` until it returns something truthy; fail naming `what` (no timing is asserted)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} (last seen: {last!r})")
