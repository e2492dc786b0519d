"""requirements.lock: every distribution the image installs, pinned to the version installed here.

The roots are aisetl's own requirements (with the extras it asks for, e.g. uvicorn[standard]) and the
distributions the transform imports; each is followed through its requirements. A requirement is kept
when its environment marker holds in the image (Linux, CPython of the image's version) with the
extras in force; it is pinned to the installed version, or kept as written (with a comment) when it
is not installed here (say, a Linux-only package while the notebook runs on macOS).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable
from typing import Any

try:  # packaging is nearly always there (pip, ipykernel, pytest need it); pip carries a copy otherwise
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pragma: no cover - depends on the environment
    from pip._vendor.packaging.requirements import InvalidRequirement, Requirement  # type: ignore[assignment]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[assignment]


def image_environment(python: str) -> dict[str, str]:
    """PEP 508 marker values for the image: Linux x86_64, CPython `python` (major.minor)."""
    return {
        "python_version": python,
        "python_full_version": f"{python}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": "x86_64",
        "platform_python_implementation": "CPython",
        "implementation_name": "cpython",
    }


def _holds(req: Any, extras: Iterable[str], env: dict[str, str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({**env, "extra": extra}) for extra in (*extras, ""))


def lock(roots: Iterable[str], python: str, skip: Iterable[str] = ("aisetl",)) -> list[str]:
    """Pinned lines for `roots` (requirement strings) and everything they require, sorted by name."""
    env = image_environment(python)
    skipped = {canonicalize_name(s) for s in skip}
    pins: dict[str, str] = {}
    extras_seen: dict[str, set[str]] = {}
    todo = [Requirement(r) for r in roots]
    while todo:
        req = todo.pop()
        key = canonicalize_name(req.name)
        if key in skipped:
            continue
        new_extras = set(req.extras) - extras_seen.get(key, set())
        if key in pins and not new_extras:
            continue
        extras_seen.setdefault(key, set()).update(req.extras)
        try:
            version = importlib.metadata.version(req.name)
        except importlib.metadata.PackageNotFoundError:
            pins[key] = f"{req}  # not installed where this was exported: not pinned"
            continue
        pins[key] = f"{req.name}=={version}"
        for line in importlib.metadata.requires(req.name) or []:
            try:
                sub = Requirement(line)
            except InvalidRequirement:
                continue
            if _holds(sub, extras_seen[key], env):
                todo.append(sub)
    return [pins[k] for k in sorted(pins)]


def aisetl_requirements(python: str) -> list[str]:
    """aisetl's own runtime requirements (none of its extras) that hold in the image."""
    reqs = []
    env = image_environment(python)
    for line in importlib.metadata.requires("aisetl") or []:
        req = Requirement(line)
        if _holds(req, (), env):
            reqs.append(str(req))
    return reqs
