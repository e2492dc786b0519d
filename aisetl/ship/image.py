"""build(): a server class to a container image, from a notebook cell or a script.

The class is exported to a temporary context (see export) and built by the container engine found
(docker, podman or buildah); the log streams into the cell as it goes. Returns the image's name and ID.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..api import features
from .engine import BuiltImage, build_context, check_running, find_tool
from .export import export
from .names import check_image_name


def build(
    cls: type,
    image: str | None = None,
    *,
    tool: str | None = None,
    ca_bundle: str | os.PathLike[str] | None = None,
    progress: bool | None = None,
    network: str | None = None,
    force: bool = False,
    **options: Any,
) -> BuiltImage:
    """Build the image of `cls`. `image`: registry/repository:tag (default: $AISETL_REGISTRY/<name>:<content
    tag>); `tool`: the engine client (default: $AISETL_CONTAINER_TOOL, else docker, podman, buildah from
    PATH); `ca_bundle`: a PEM file the image trusts (pip behind a TLS-re-signing proxy); `progress=False`
    builds silently; `network`: the build's network (e.g. "host"); `force` takes an image name a cluster
    could not pull. Other options are export()'s."""
    if image is not None:
        check_image_name(image, force)
    path = find_tool(tool)
    check_running(path)  # before the export: a stopped engine is the commonest failure, say it first
    with tempfile.TemporaryDirectory(prefix="aisetl-build-") as tmp:
        context = export(cls, tmp, image=image, ca_bundle=ca_bundle, force=force, **options)
        name = json.loads((Path(context) / "init.json").read_text())["runtime"]["image"]
        return build_context(context, name, path, progress=progress, network=network)


features.provide("build", build)
