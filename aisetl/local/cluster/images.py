"""What runs for an ETL image: the `images` mapping of a LocalCluster, and `init_class` payloads.

An image maps to an ETL server class (aisetl's, an `@etl` function's, or one written for the aistore
SDK), or to a folder made by `export` (its `transform.py`). `aistorage/runtime_python:<version>` with
an `ETL_CLASS_PAYLOAD` (what `Etl.init_class` sends) runs the class the SDK pickled.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...api.base import ETLServer, environ_override
from ...ship.engine import BuiltImage
from .http import AISHTTPError

RUNTIME_IMAGE = "aistorage/runtime_python:"
CLASS_PAYLOAD = "ETL_CLASS_PAYLOAD"
# Servers written for the aistore SDK read os.environ in their constructor; constructing one with its
# own environment means swapping os.environ, one construction at a time.
_environ_lock = threading.Lock()


class ImageError(AISHTTPError):
    """The init message names an image LocalCluster cannot run (a 400 naming the fix)."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


def unknown_image(image: str, known: Mapping[str, Any]) -> ImageError:
    names = ", ".join(repr(k) for k in known) or "none"
    return ImageError(
        f"image {image!r} is not known to this LocalCluster (registered: {names}). Register what runs for it: "
        f"LocalCluster(images={{{image!r}: MyServer}}) or cluster.images[{image!r}] = MyServer, where MyServer is "
        "an ETL server class, an @etl function, or a folder made by export()"
    )


def load_export(folder: Path) -> type:
    """The server class of a folder made by `export`: `transform.py`, entry point from the Dockerfile."""
    source = folder / "transform.py"
    dockerfile = folder / "Dockerfile"
    if not source.is_file() or not dockerfile.is_file():
        raise ImageError(f"{str(folder)!r} is not a folder made by export(): it needs transform.py and a Dockerfile")
    match = re.search(r"transform:([A-Za-z_]\w*)", dockerfile.read_text())
    if match is None:
        raise ImageError(f"{str(dockerfile)!r} names no entry point transform:<Class>")
    spec = importlib.util.spec_from_file_location(f"aisetl_export_{abs(hash(str(folder)))}", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cls = getattr(module, match.group(1), None)
    if not isinstance(cls, type):
        raise ImageError(f"{str(source)!r} defines no class {match.group(1)!r}")
    return cls


def load_payload(payload: str) -> type:
    """The class `Etl.init_class` sent: base64 of its cloudpickle."""
    try:
        import cloudpickle  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - comes with aistore[etl], the only sender of payloads
        raise ImageError("init_class payloads need cloudpickle in this interpreter: pip install cloudpickle") from None
    try:
        cls = cloudpickle.loads(base64.b64decode(payload))
    except Exception as exc:  # whatever unpickling raises is the payload's fault
        raise ImageError(f"{CLASS_PAYLOAD} does not unpickle here: {type(exc).__name__}: {exc}") from None
    if not isinstance(cls, type):
        raise ImageError(f"{CLASS_PAYLOAD} holds {type(cls).__name__}, not an ETL server class")
    return cls


def resolve(image: str, env: Mapping[str, str], images: Mapping[str, Any]) -> Any:
    """The server class to run for `image`, or the BuiltImage whose containers run for it."""
    if image in images:
        value = images[image]
        if isinstance(value, BuiltImage):
            return value  # a container per target (containers.py)
        if isinstance(value, (str, os.PathLike)):
            return load_export(Path(value))
        if isinstance(value, type):
            return value
        raise ImageError(
            f"images[{image!r}] is {type(value).__name__}: expected an ETL server class, a folder or a BuiltImage"
        )
    if image.startswith(RUNTIME_IMAGE) and CLASS_PAYLOAD in env:
        return load_payload(env[CLASS_PAYLOAD])
    if image.startswith(RUNTIME_IMAGE):
        raise ImageError(f"image {image!r} runs a class sent by init_class; the init message has no {CLASS_PAYLOAD}")
    raise unknown_image(image, images)


def construct(cls: type, environ: Mapping[str, str]) -> Any:
    """An instance of `cls` built in `environ` (aisetl servers read it directly, SDK ones from os.environ)."""
    if issubclass(cls, ETLServer):
        with environ_override(environ):
            return cls()
    with _environ_lock:
        saved = dict(os.environ)
        os.environ.update(environ)
        try:
            return cls()
        finally:
            os.environ.clear()
            os.environ.update(saved)
