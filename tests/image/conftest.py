"""The image tests need a running container engine and the base image (`make test-image` provides both).

Without an engine they skip with the reason; with AISETL_REQUIRE_ENGINE=1 (set by `make test-image`,
hence CI) a skip for that reason fails the run: an image that was never built is not a pass.
"""

from __future__ import annotations

import os
import platform
from typing import Any

import pytest

from tests.image.containers import engine_problem, image_exists

_missing: list[str] = []
BASE_IMAGE = f"python:{'.'.join(platform.python_version_tuple()[:2])}-slim"


@pytest.fixture(scope="session")
def engine() -> None:
    problem = engine_problem()
    if problem is None and not image_exists(BASE_IMAGE):
        problem = (
            f"the base image {BASE_IMAGE} (this Python's major.minor) is missing and no registry is reachable: "
            "scripts/base-image.sh makes python:X.Y-slim from Debian's python3 (PYVER= must match this Python)"
        )
    if problem is not None:
        _missing.append(problem)
        pytest.skip(f"no container engine: {problem}")


def _required() -> bool:
    return bool(_missing) and os.environ.get("AISETL_REQUIRE_ENGINE") == "1"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _required():
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _required():
        terminalreporter.write_line(
            f"FAILED: no image was built or run (AISETL_REQUIRE_ENGINE=1): {_missing[0]}", red=True, bold=True
        )
