"""Image names a cluster can pull: `registry/repository:tag`, never a bare name or `latest` unless forced.

AIS creates each ETL pod with `imagePullPolicy: Always`: the node pulls the image from its registry on
every init. A bare `name` means Docker Hub's `library/name` (official images only), and `latest` (or no
tag) names whatever was pushed last, so two inits a week apart can run different code.
"""

from __future__ import annotations

import os
import re

from .._exceptions import ImageNameError

REGISTRY_ENV = "AISETL_REGISTRY"  # where images go when no name is given (e.g. registry.example.org/etl)
DEFAULT_REGISTRY = "localhost:5000"  # a registry on the build machine: fine to try, not for a cluster
# The reference grammar of the distribution spec, in short: lower-case path components, a tag of
# [A-Za-z0-9_.-] up to 128 characters, or a digest.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?)"
_REFERENCE = re.compile(
    rf"^(?:(?P<host>{_HOST})/)?(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


def default_image(name: str, content_tag: str) -> str:
    """`$AISETL_REGISTRY/<name>:<content tag>` (the registry defaults to localhost:5000)."""
    registry = os.environ.get(REGISTRY_ENV, DEFAULT_REGISTRY).rstrip("/")
    return f"{registry}/{name}:{content_tag}"


def check_image_name(image: str, force: bool = False) -> str:
    """`image` when a cluster can pull it; ImageNameError saying why not otherwise (unless `force`)."""
    m = _REFERENCE.match(image)
    if m is None:
        raise ImageNameError(
            f"{image!r} is not a valid image name: expected registry/repository:tag, lower-case "
            "(e.g. registry.example.org/etl/my-etl:0.1)"
        )
    if force:
        return image
    if "/" not in image:
        raise ImageNameError(
            f"image {image!r} names no registry: AIS's pods pull the image from a registry their nodes can "
            f"reach, and a bare name means Docker Hub's official 'library/' images. Name it "
            f"registry/repository:tag (e.g. registry.example.org/etl/{m.group('path')}:0.1), or pass "
            "force=True to build it for local use only"
        )
    if m.group("digest") is None and m.group("tag") in (None, "latest"):
        raise ImageNameError(
            f"image {image!r} has {'no tag' if m.group('tag') is None else 'the tag latest'}: that name never "
            "changes when the code does, and each pod pulls whatever was pushed last. Give a version "
            "tag (e.g. :0.1; export's default is a tag made from the content), or force=True"
        )
    return image
