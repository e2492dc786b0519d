"""A wheel of the running aisetl, written straight from its installed files (it is not on a package index).

The wheel is byte-for-byte the same for the same files (fixed timestamps and order): the image layer
that installs it stays cached until aisetl itself changes.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import zipfile
from pathlib import Path

from .._version import __version__

_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip can hold


def build_wheel(dest: Path) -> Path:
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
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return wheel
