"""Object files named by `etl_fqn` (HTTP) or `fqn` (WebSocket): opened so that no name can stall the server.

The file is opened with O_NONBLOCK, so that opening a FIFO does not wait for a writer, and checked with
fstat on the open descriptor (no window between check and use): anything but a regular file is refused
with 400 before a byte is read (a FIFO or a character device such as /dev/zero never ends, a directory
has no bytes). What is read is capped at the size fstat saw, so a file that keeps growing is read as it
was when opened. With a root folder set (AISETL_FQN_ROOT), the path the descriptor really points to,
symlinks resolved, must lie under it (403 otherwise).
"""

from __future__ import annotations

import io
import os

from .._exceptions import ProtocolError
from ..wire.safety import file_kind_problem, is_within

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_READ_CHUNK = 1 << 20


def _real_path(fd: int, fqn: str) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")  # what was opened, whatever raced with the open
    except OSError:
        return os.path.realpath(fqn)


def open_object_file(fqn: str, root: str | None = None) -> tuple[int, int]:
    """(descriptor, size) of the regular file `fqn`; a ProtocolError (400, 403) says why not.

    A missing file raises FileNotFoundError with `filename == fqn` (answered 404 by the caller).
    """
    fd = os.open(fqn, _OPEN_FLAGS)
    try:
        st = os.fstat(fd)
        problem = file_kind_problem(st.st_mode)
        if problem is not None:
            raise ProtocolError(f"Invalid etl_fqn {fqn!r}: it names {problem}, not a regular file", status_code=400)
        if root is not None and not is_within(os.path.realpath(root), _real_path(fd, fqn)):
            raise ProtocolError(f"Invalid etl_fqn {fqn!r}: outside the allowed root folder", status_code=403)
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def read_all(fd: int, size: int) -> bytes:
    """At most `size` bytes of `fd` (fewer if the file shrank), then close it."""
    try:
        parts = []
        left = size
        while left > 0:
            chunk = os.read(fd, min(left, _READ_CHUNK))
            if not chunk:
                break
            parts.append(chunk)
            left -= len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)  # one part: no copy
    finally:
        os.close(fd)


class FileSlice(io.RawIOBase):
    """The first `size` bytes of an open file as a binary reader (what transform_stream reads)."""

    def __init__(self, fd: int, size: int) -> None:
        super().__init__()
        self._file = io.FileIO(fd, "rb", closefd=True)
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        view = memoryview(buffer)
        if len(view) > self._left:
            view = view[: self._left]
        n = self._file.readinto(view) or 0
        self._left -= n
        return n

    def close(self) -> None:
        self._file.close()
        super().close()


def read_file(path: str) -> bytes:
    """The whole regular file at `path` (blocking: for threads and tools, not the event loop)."""
    fd, size = open_object_file(path)
    return read_all(fd, size)
