"""The text files of a build context: the Dockerfile and the README that says how to build, run, test and
deploy it. Pure functions of the export options."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ETL_UID = 10001
CA_FILE = "ca-bundle.crt"
# The HEALTHCHECK: python is in every image; AISETL_PORT is where the server listens.
_HEALTH = (
    'python -c "import os, urllib.request as u; '
    "u.urlopen('http://127.0.0.1:' + os.environ['AISETL_PORT'] + '/health', timeout=4)\""
)


@dataclass(frozen=True)
class ImageSpec:
    """What the Dockerfile is made of."""

    python: str
    entry: str  # MODULE:NAME of the server in the image
    workers: int
    os_packages: tuple[str, ...] = ()
    file_group: int | None = None  # the image's group: the one that can read AIS's object files
    ca_bundle: bool = False  # a CA bundle (CA_FILE) is in the context


def serve_command(entry: str, workers: int) -> list[str]:
    """The container's command, without the shell: what `aisetl serve` runs. Host and port come from
    AISETL_HOST and AISETL_PORT (0.0.0.0 and 8000, AIS's contract, unless a `docker run -e` says otherwise)."""
    return ["aisetl", "serve", entry, "--host", "$AISETL_HOST", "--port", "$AISETL_PORT", "--workers", str(workers)]


def dockerfile(spec: ImageSpec) -> str:
    parts = [
        f"""# Built by aisetl export. The AIS runtime contract: port 8000, GET /health, the AIS uvicorn flags.
FROM python:{spec.python}-slim

WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 AISETL_HOST=0.0.0.0 AISETL_PORT=8000
"""
    ]
    if spec.ca_bundle:
        parts.append(
            f"""
# The CA bundle given to build(ca_bundle=...) or export(): trusted by the system and by pip (which
# otherwise uses its own bundle), so that installs work behind a TLS-re-signing proxy.
COPY {CA_FILE} /usr/local/share/ca-certificates/aisetl-extra-ca.crt
RUN update-ca-certificates
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt
"""
        )
    if spec.os_packages:
        parts.append(
            f"""
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
        {" ".join(spec.os_packages)} && rm -rf /var/lib/apt/lists/*
"""
        )
    if spec.file_group is None:
        parts.append(
            f"""
# Non-root (the user is made here; the server runs as it, below).
RUN useradd --create-home --uid {ETL_UID} etl
"""
        )
        user = f"USER {ETL_UID}:{ETL_UID}\n"
    else:
        parts.append(
            f"""
# Non-root, in group {spec.file_group}: AIS's object files are mode 0640, so with direct file access the
# transform reads them through their group (0: aisnode runs as root; file_group= names another).
RUN (getent group {spec.file_group} >/dev/null || groupadd --gid {spec.file_group} ais-files) \\
    && useradd --create-home --uid {ETL_UID} --gid {spec.file_group} etl
"""
        )
        user = f"USER {ETL_UID}:{spec.file_group}\n"
    command = " ".join(serve_command(spec.entry, spec.workers))
    parts.append(
        f"""
# Every dependency pinned (requirements.lock) and installed before the transform is copied: this
# layer is cached until the lock or aisetl changes.
COPY requirements.lock ./
COPY wheels/ ./wheels/
RUN pip install --no-cache-dir -r requirements.lock

COPY . ./

{user}EXPOSE 8000
HEALTHCHECK --interval=5s --timeout=5s --start-period=5s --retries=3 \\
    CMD {_HEALTH}

# AIS keeps many connections open per target: raise the open-file limit to the hard limit.
ENTRYPOINT ["sh", "-c", "ulimit -n $(ulimit -Hn) && exec {command}"]
"""
    )
    return "".join(parts)


def context_readme(name: str, image: str, message: dict[str, Any], direct_fqn: bool, file_group: int | None) -> str:
    comm = message["communication"].removesuffix("://")
    fqn = ", direct_file_access=True" if direct_fqn else ""
    group = ""
    if direct_fqn:
        group = f"""
Direct file access: the target hands the server paths of object files, mode 0640. The image runs as uid
{ETL_UID} in group {file_group}, which must be the group owning those files on the target's disks (0 when
aisnode runs as root, as in AIS's images; export again with `file_group=` otherwise, or give the pod that
group in its `securityContext`). Locally: `docker run --group-add <gid> -v <mountpath>:<mountpath>:ro ...`.
"""
    resources = ""
    if "resources" in message:
        resources = (
            "\ninit.json carries `resources` (the pod's requests and limits), which `Etl.init` cannot send: "
            "aisetl's `deploy()` sends init.json as it is, through the SDK's request client.\n"
        )
    return f"""# {name}: AIS ETL build context (aisetl export)

The transform is `transform.py`; `requirements.lock` pins every package the image installs (aisetl
is the wheel in `wheels/`); the `Dockerfile` serves it as AIS runs ETLs: port 8000, `GET /health`.

## Build

```sh
docker build -t {image} .
```

## Run and test it here

```sh
docker run --rm -p 127.0.0.1:8000:8000 -e AIS_TARGET_URL=http://127.0.0.1:9/v1/etl/_object/{name}/x {image}
curl -X PUT --data-binary 'hello' http://127.0.0.1:8000/bucket/object     # hpush: the reply is the transform
aisetl check http://127.0.0.1:8000                                          # the AIS contract, end to end
```

`aisetl check --target-url URL` also checks hpull and direct put to a target: start the container with
`--network host` and `AIS_TARGET_URL=http://127.0.0.1:<port>/v1/etl/_object/{name}/<secret>`, and pass the
same URL (the checker's stand-in target takes its place). `AISETL_PORT`/`AISETL_HOST` change where the
server listens (tests use them with `--network host`).
{group}
## Deploy

The cluster's nodes pull the image (`imagePullPolicy: Always`): push it to a registry they can reach.

```sh
docker push {image}
ais etl init spec --spec etl_spec.yaml          # the AIS CLI
```

or with the Python SDK (init.json is the exact message it sends):

```python
from aistore.sdk import Client
Client("http://<aistore-endpoint>:51080").etl("{name}").init(
    image="{image}", comm_type="{comm}", init_timeout="{message["init_timeout"]}",
    obj_timeout="{message["obj_timeout"]}", direct_put={message["support_direct_put"]}{fqn},
)
```
{resources}"""
