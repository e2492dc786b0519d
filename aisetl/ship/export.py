"""Ship a transform: a container build context AIS runs unchanged, and the AIS init message.

The context (`export`):

    transform.py       the transform as readable source (see capture), entry point transform:<Name>
    requirements.txt   what it imports, pinned to the versions installed here, plus aisetl
    requirements.lock  every package the image installs, pinned (aisetl's dependencies included)
    wheels/            aisetl itself, as a wheel built from this installation (it is not on an index)
    Dockerfile         python:<the kernel's major.minor>-slim, the lock first (layer cache), non-root, EXPOSE
                       8000, raised open-file limit, `aisetl serve` (uvicorn with the AIS flags), HEALTHCHECK
    .dockerignore
    ca-bundle.crt      with ca_bundle=: trusted in the image (pip behind a TLS-re-signing proxy)
    init.json          the init message as the aistore SDK's Etl.init sends it (PUT /v1/etl); with
                       resources=, also the pods' requests and limits
    etl_spec.yaml      the same runtime spec as YAML, for `ais etl init spec`
    README.md          how to build, run, test and deploy it
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..api import features
from ..wire import ENV_DIRECT_FQN
from .capture import Captured, capture
from .context import CA_FILE, ImageSpec, context_readme, dockerfile
from .lock import aisetl_requirements, lock
from .names import check_image_name, default_image
from .wheel import build_wheel

COMMS = ("hpush", "hpull", "ws")
# AIS's rule for ETL names (ext/etl: 6-32 characters, lower-case letters, digits and '-', a letter or
# digit at both ends).
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
AIS_FLAGS = "--ws-max-size 17179869184 --ws-ping-interval 0 --ws-ping-timeout 86400 --no-access-log --ws-max-queue 2"


def validate_name(name: str) -> str:
    if not 6 <= len(name) <= 32 or not _NAME.match(name):
        raise ValueError(
            f"invalid ETL name {name!r}: AIS takes 6 to 32 characters of a-z, 0-9 and '-', "
            "starting and ending with a letter or digit (pass name=...)"
        )
    return name


def default_name(cls: type) -> str:
    name = getattr(cls, "etl_name", "") or cls.__name__
    return re.sub(r"[^a-z0-9-]", "-", name.lower().replace("_", "-")).strip("-")


def init_message(
    name: str,
    image: str,
    comm: str,
    init_timeout: str,
    obj_timeout: str,
    direct_put: bool,
    direct_fqn: bool,
    env: Mapping[str, object],
    command: list[str] | None = None,
) -> dict[str, Any]:
    """The JSON body of `PUT /v1/etl` that `Etl(name).init(image, ...)` of the aistore SDK sends."""
    runtime: dict[str, Any] = {"image": image}
    if command is not None:
        runtime["command"] = command
    env_list = [{"name": k, "value": str(v)} for k, v in env.items()]
    if direct_fqn:
        env_list.append({"name": ENV_DIRECT_FQN, "value": "true"})
    if env_list:
        runtime["env"] = env_list
    return {
        "name": name,
        "communication": f"{comm}://",
        "init_timeout": init_timeout,
        "obj_timeout": obj_timeout,
        "support_direct_put": direct_put,
        "runtime": runtime,
    }


def _yaml(value: Any, indent: int = 0) -> str:
    """A small YAML writer for the spec: JSON scalars are valid YAML, so strings are written JSON-quoted."""
    pad = "  " * indent
    lines: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)):
                lines.append(f"{pad}{k}:")
                lines.append(_yaml(v, indent + 1))
            else:
                lines.append(f"{pad}{k}: {json.dumps(v)}")
    else:
        for item in value:
            inner = _yaml(item, indent + 1).lstrip()
            lines.append(f"{pad}- {inner}")
    return "\n".join(lines)


def transform_source(cls: type) -> tuple[Captured, str]:
    """The captured module and the name of the server class in it."""
    func = getattr(cls, "func", None)
    if callable(func) and getattr(cls, "__wrapped__", None) is func:
        # @etl: the decorated function, its decorator included; it defines the class under its name.
        return capture(func), str(getattr(func, "__name__", cls.__name__))
    return capture(cls), cls.__name__


def requirements(modules: set[str]) -> list[str]:
    """Pinned requirements for the top-level modules a transform imports (stdlib and aisetl excluded)."""
    dists = importlib.metadata.packages_distributions()
    pins: set[str] = set()
    for module in modules:
        if module in sys.stdlib_module_names or module == "aisetl":
            continue
        for dist in dists.get(module, []):
            try:
                pins.add(f"{dist}=={importlib.metadata.version(dist)}")
            except importlib.metadata.PackageNotFoundError:
                continue
    return sorted(pins, key=str.lower)


_OS_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]*(=[A-Za-z0-9.+:~-]+)?$")  # Debian package[=version]
_RESOURCE_KEYS = ("requests", "limits")


def _check_options(comm: str, direct_put: bool, workers: int, os_packages: Sequence[str]) -> None:
    if comm not in COMMS:
        raise ValueError(f"comm must be one of {', '.join(COMMS)} (without '://'), got {comm!r}")
    if comm == "ws" and not direct_put:
        raise ValueError("comm='ws' needs direct_put=True: AIS rejects a ws:// ETL without direct put")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if isinstance(os_packages, str):
        raise TypeError("os_packages takes a list of Debian package names, e.g. ['ffmpeg']")
    for package in os_packages:
        if not _OS_PACKAGE.match(package):
            raise ValueError(f"os_packages: {package!r} is not a Debian package name (or name=version)")


def check_resources(resources: Mapping[str, Mapping[str, str]] | None) -> dict[str, dict[str, str]] | None:
    """K8s requests/limits for the ETL's pods, e.g. {"requests": {"cpu": "1", "memory": "2Gi"}}."""
    if resources is None:
        return None
    unknown = set(resources) - set(_RESOURCE_KEYS)
    if unknown or not resources:
        raise ValueError(
            f"resources takes 'requests' and/or 'limits' (Kubernetes quantities by resource name, e.g. "
            f"{{'requests': {{'cpu': '1', 'memory': '2Gi'}}}}), got {sorted(unknown) or 'nothing'}"
        )
    return {kind: {str(k): str(v) for k, v in resources[kind].items()} for kind in _RESOURCE_KEYS if kind in resources}


def content_tag(folder: Path) -> str:
    """A tag from the files of the context: it changes whenever the transform, a pin or aisetl does."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def export(
    cls: type,
    dest: str | os.PathLike[str],
    image: str | None = None,
    comm: str = "hpush",
    workers: int = 4,
    python: str | None = None,
    direct_put: bool = True,
    direct_fqn: bool = False,
    init_timeout: str = "5m",
    obj_timeout: str = "45s",
    env: Mapping[str, object] | None = None,
    name: str | None = None,
    os_packages: Sequence[str] = (),
    resources: Mapping[str, Mapping[str, str]] | None = None,
    file_group: int | None = None,
    ca_bundle: str | os.PathLike[str] | None = None,
    force: bool = False,
) -> Path:
    """Write the build context of `cls` to `dest` (see the module docstring); returns its path."""
    _check_options(comm, direct_put, workers, os_packages)
    resources = check_resources(resources)
    python = python or f"{sys.version_info.major}.{sys.version_info.minor}"
    if image is not None:
        check_image_name(image, force)
    if direct_fqn and file_group is None:
        file_group = 0  # aisnode runs as root in AIS's images: its object files are root:root 0640
    name = validate_name(name or default_name(cls))
    out = Path(dest)
    out.mkdir(parents=True, exist_ok=True)
    captured, entry_name = transform_source(cls)
    (out / "transform.py").write_text(captured.source())
    local = captured.local_modules()
    for path in local.values():  # local helper modules travel with the source
        src = Path(path)
        if src.is_dir():
            shutil.copytree(src, out / src.name, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, out / src.name)
    captured.modules -= set(local)
    wheel = build_wheel(out / "wheels")
    direct = requirements(captured.modules)
    (out / "requirements.txt").write_text("\n".join([f"./wheels/{wheel.name}", *direct]) + "\n")
    pins = lock([*aisetl_requirements(python), *direct], python)
    header = (
        f"# Every package the image installs, pinned to what was installed where it was exported (Python {python}).\n"
    )
    (out / "requirements.lock").write_text(header + "\n".join([f"./wheels/{wheel.name}", *pins]) + "\n")
    if ca_bundle is not None:
        shutil.copyfile(ca_bundle, out / CA_FILE)
    spec = ImageSpec(python, f"transform:{entry_name}", workers, tuple(os_packages), file_group, ca_bundle is not None)
    (out / "Dockerfile").write_text(dockerfile(spec))
    (out / ".dockerignore").write_text("__pycache__/\n*.pyc\n.ipynb_checkpoints/\n")
    image = image or default_image(name, content_tag(out))
    message = init_message(name, image, comm, init_timeout, obj_timeout, direct_put, direct_fqn, env or {})
    if resources:
        message["resources"] = resources
    (out / "init.json").write_text(json.dumps(message, indent=2) + "\n")
    (out / "etl_spec.yaml").write_text(_yaml(message) + "\n")
    (out / "README.md").write_text(context_readme(name, image, message, direct_fqn, file_group))
    return out


features.provide("export", export)
