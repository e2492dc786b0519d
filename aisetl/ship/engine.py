"""The container engine: found on PATH (docker, podman or buildah), checked to be running, and an image
built from a context with its log streamed as it goes (a progress line per step; in a notebook, one
live line and the whole log folded under the result).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .._exceptions import ExportError
from .progress import BuildProgress

TOOLS = ("docker", "podman", "buildah")
TOOL_ENV = "AISETL_CONTAINER_TOOL"  # which engine client to use when several are installed
_STEP = (
    re.compile(r"^(?:Step|STEP) (\d+)/(\d+)\s*:\s*(.*)$"),  # docker's classic builder, podman, buildah
    re.compile(r"^#\d+ \[(?:[\w.-]+ )?(\d+)/(\d+)\] (.*)$"),  # BuildKit, plain progress
)
_LOG_TAIL = 60  # lines of the log an error message carries


@dataclass(frozen=True)
class BuiltImage:
    """An image `build()` made: `name` (registry/repo:tag) and the engine's `id` (sha256:...)."""

    name: str
    id: str
    tool: str
    seconds: float
    log: str

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"BuiltImage(name={self.name!r}, id={self.id[:19]!r}, built in {self.seconds:.0f} s)"


def find_tool(tool: str | None = None) -> str:
    """The path of the engine client: `tool` (a name or path), else $AISETL_CONTAINER_TOOL, else the first
    of docker, podman, buildah on PATH."""
    wanted = tool or os.environ.get(TOOL_ENV)
    candidates = (wanted,) if wanted else TOOLS
    for name in candidates:
        path = shutil.which(name)
        if path:
            return path
    if wanted:
        raise ExportError(f"container tool {wanted!r} was not found (tool= or ${TOOL_ENV})")
    raise ExportError(
        f"build needs a container engine, and none of {', '.join(TOOLS)} is on PATH: install Docker or "
        "Podman (or pass tool='/path/to/docker'), or build the context of export() elsewhere"
    )


def check_running(tool: str) -> None:
    """A clear error when the engine's daemon does not answer (docker needs one; podman and buildah do not)."""
    if Path(tool).name != "docker":
        return
    proc = subprocess.run(
        [tool, "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True, timeout=60
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        reason = (proc.stderr.strip().splitlines() or ["no answer"])[-1]
        raise ExportError(
            f"the Docker engine is not running ({reason}): start it (`sudo systemctl start docker`, or "
            "`sudo dockerd &` where there is no systemd) and build again"
        )


def step_of(line: str) -> tuple[int, int, str] | None:
    """(step, steps, instruction) when the build log line starts a step."""
    for pattern in _STEP:
        if m := pattern.match(line.strip()):
            return int(m.group(1)), int(m.group(2)), m.group(3)
    return None


def build_context(
    context: Path,
    image: str,
    path: str,
    progress: bool | None = None,
    network: str | None = None,
    on_line: Callable[[str], None] | None = None,
) -> BuiltImage:
    """Build `context` as `image` with the engine client at `path` (find_tool); raises ExportError with
    the end of the log when it fails."""
    with tempfile.TemporaryDirectory(prefix="aisetl-iid-") as tmp:
        iidfile = os.path.join(tmp, "iid")
        command = [path, "bud" if Path(path).name == "buildah" else "build", "--iidfile", iidfile, "-t", image]
        if Path(path).name in ("docker", "podman"):
            command.append("--force-rm")  # no stopped container left behind by a failed step
        if network:
            command += ["--network", network]
        command.append(str(context))
        started = time.monotonic()
        tail: deque[str] = deque(maxlen=_LOG_TAIL)
        log: list[str] = []
        shown = BuildProgress(image, enabled=progress)
        # BuildKit prints a line per event with plain progress; the classic builder ignores the variable.
        env = {**os.environ, "BUILDKIT_PROGRESS": "plain"}
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", env=env
        )
        assert proc.stdout is not None
        with proc:
            for line in proc.stdout:
                line = line.rstrip("\n")
                log.append(line)
                tail.append(line)
                if on_line is not None:
                    on_line(line)
                shown.line(line, step_of(line))
            code = proc.wait()
        seconds = time.monotonic() - started
        image_id = Path(iidfile).read_text().strip() if os.path.exists(iidfile) else ""
    if code != 0 or not image_id:
        shown.failed(seconds, "\n".join(log))
        raise ExportError(
            f"{Path(path).name} build of {image} failed (exit {code}); the end of its log:\n" + "\n".join(tail)
        )
    if ":" not in image_id:
        image_id = "sha256:" + image_id  # podman writes the bare digest
    built = BuiltImage(image, image_id, path, seconds, "\n".join(log))
    shown.done(built.name, built.id, seconds, built.log)
    return built
