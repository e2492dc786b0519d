"""Ship a transform: a container build context AIS runs unchanged, the AIS init message, build, deploy.

The context (`export`):

    transform.py      the transform as readable source (see _capture), entry point transform:<Name>
    requirements.txt  what it imports, pinned to the versions installed here, plus aisetl
    wheels/           aisetl itself, as a wheel built from this installation (it is not on an index)
    Dockerfile        python slim, requirements first (layer cache), non-root, EXPOSE 8000, raised open-
                      file limit, `aisetl serve` = uvicorn on 0.0.0.0:8000 with the AIS flags, HEALTHCHECK
    .dockerignore
    init.json         the init message exactly as the aistore SDK's Etl.init sends it (PUT /v1/etl)
    etl_spec.yaml     the same runtime spec as YAML, for `ais etl init spec`
    README.md         the commands: docker build and push, ais CLI, Python SDK
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._exceptions import ExportError
from .._version import __version__
from ..api import features
from ..wire import ENV_DIRECT_FQN
from .capture import Captured, capture

COMMS = ("hpush", "hpull", "ws")
# AIS's rule for ETL names (ext/etl: 6-32 characters, lower-case letters, digits and '-', a letter or
# digit at both ends).
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
AIS_FLAGS = "--ws-max-size 17179869184 --ws-ping-interval 0 --ws-ping-timeout 86400 --no-access-log"


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


def build_wheel(dest: Path) -> Path:
    """A wheel of the running aisetl, written straight from its installed files (no index needed)."""
    package = Path(__file__).parents[1]  # the aisetl package folder
    version = __version__
    try:
        metadata = importlib.metadata.distribution("aisetl").read_text("METADATA") or ""
    except importlib.metadata.PackageNotFoundError:
        metadata = ""
    if not metadata:
        metadata = f"Metadata-Version: 2.1\nName: aisetl\nVersion: {version}\n"
    requires = importlib.metadata.requires("aisetl") or []
    if "Requires-Dist" not in metadata and requires:
        metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    dist_info = f"aisetl-{version}.dist-info"
    files: dict[str, bytes] = {}
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".typed"):
            files[f"aisetl/{path.relative_to(package).as_posix()}"] = path.read_bytes()
    files[f"{dist_info}/METADATA"] = metadata.encode()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: aisetl-export\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    files[f"{dist_info}/entry_points.txt"] = b"[console_scripts]\naisetl = aisetl.cli:main\n"
    record = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / f"aisetl-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return wheel


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


def dockerfile(python: str, entry: str, workers: int) -> str:
    return f"""# Built by aisetl export. The AIS runtime contract: port 8000, GET /health, the AIS uvicorn flags.
FROM python:{python}-slim

WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1

# Requirements first: this layer is cached until they change.
COPY requirements.txt ./
COPY wheels/ ./wheels/
RUN pip install --no-cache-dir -r requirements.txt

COPY . ./

RUN useradd --create-home --uid 10001 etl
USER etl

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=5s \\
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"

# AIS keeps many connections open per target: raise the open-file limit to the hard limit.
ENTRYPOINT ["sh", "-c", "ulimit -n $(ulimit -Hn) && exec {" ".join(serve_command(entry, workers))}"]
"""


def serve_command(entry: str, workers: int) -> list[str]:
    """The container's command, without the shell: what `aisetl serve` runs."""
    return ["aisetl", "serve", entry, "--host", "0.0.0.0", "--port", "8000", "--workers", str(workers)]


def context_readme(name: str, image: str, comm: str, message: dict[str, Any], direct_fqn: bool) -> str:
    fqn = ", direct_file_access=True" if direct_fqn else ""
    return f"""# {name}: AIS ETL build context (aisetl export)

```sh
docker build -t {image} .
docker push {image}
```

Initialize the ETL on a cluster, with the AIS CLI:

```sh
ais etl init spec --spec etl_spec.yaml
```

or with the Python SDK (init.json is the exact message it sends):

```python
from aistore.sdk import Client
Client("http://<aistore-endpoint>").etl("{name}").init(
    image="{image}", comm_type="{comm}", init_timeout="{message["init_timeout"]}",
    obj_timeout="{message["obj_timeout"]}", direct_put={message["support_direct_put"]}{fqn},
)
```

Try it without a cluster: `pip install -r requirements.txt && aisetl serve transform:... --port 8000`,
then `AIS_TARGET_URL` must point at a target (`aisetl check http://127.0.0.1:8000` drives it with a
local one).
"""


def export(
    cls: type,
    dest: str | os.PathLike[str],
    image: str | None = None,
    comm: str = "hpush",
    workers: int = 4,
    python: str = "3.11",
    direct_put: bool = True,
    direct_fqn: bool = False,
    init_timeout: str = "5m",
    obj_timeout: str = "45s",
    env: Mapping[str, object] | None = None,
    name: str | None = None,
) -> Path:
    """Write the build context of `cls` to `dest` (see the module docstring); returns its path."""
    if comm not in COMMS:
        raise ValueError(f"comm must be one of {', '.join(COMMS)} (without '://'), got {comm!r}")
    if comm == "ws" and not direct_put:
        raise ValueError("comm='ws' needs direct_put=True: AIS rejects a ws:// ETL without direct put")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    name = validate_name(name or default_name(cls))
    image = image or f"{name}:latest"
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
    reqs = [f"./wheels/{wheel.name}", *requirements(captured.modules)]
    (out / "requirements.txt").write_text("\n".join(reqs) + "\n")
    entry = f"transform:{entry_name}"
    (out / "Dockerfile").write_text(dockerfile(python, entry, workers))
    (out / ".dockerignore").write_text("__pycache__/\n*.pyc\n.ipynb_checkpoints/\n")
    message = init_message(name, image, comm, init_timeout, obj_timeout, direct_put, direct_fqn, env or {})
    (out / "init.json").write_text(json.dumps(message, indent=2) + "\n")
    (out / "etl_spec.yaml").write_text(_yaml(message) + "\n")
    (out / "README.md").write_text(context_readme(name, image, comm, message, direct_fqn))
    return out


CONTAINER_TOOLS = ("docker", "podman", "buildah")


def build(cls: type, tag: str, **options: Any) -> str:
    """Export to a temporary context and build the image `tag` with docker, podman or buildah."""
    tool = next((t for t in CONTAINER_TOOLS if shutil.which(t)), None)
    if tool is None:
        raise ExportError(f"build needs one of {', '.join(CONTAINER_TOOLS)} on PATH; none was found")
    with tempfile.TemporaryDirectory(prefix="aisetl-build-") as tmp:
        ctx = export(cls, tmp, image=tag, **options)
        cmd = [tool, "bud" if tool == "buildah" else "build", "-t", tag, str(ctx)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ExportError(f"{' '.join(cmd[:4])} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return tag


def deploy(
    cls: type,
    endpoint: str,
    image: str,
    comm: str = "hpush",
    init_timeout: str = "5m",
    obj_timeout: str = "45s",
    direct_put: bool = True,
    direct_fqn: bool = False,
    name: str | None = None,
    env: Mapping[str, object] | None = None,
) -> str:
    """Initialize the ETL on a cluster through the aistore SDK's `Etl.init`; returns its answer."""
    try:
        from aistore.sdk import Client
    except ImportError:
        raise ExportError("deploy needs the aistore SDK: pip install aistore") from None
    etl_name = validate_name(name or default_name(cls))
    result: str = (
        Client(endpoint)
        .etl(etl_name)
        .init(
            image=image,
            comm_type=comm,
            init_timeout=init_timeout,
            obj_timeout=obj_timeout,
            direct_put=direct_put,
            direct_file_access=direct_fqn,
            **{k: str(v) for k, v in (env or {}).items()},
        )
    )
    return result


features.provide("export", export)
features.provide("build", build)
features.provide("deploy", deploy)
