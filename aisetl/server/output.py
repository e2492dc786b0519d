"""What a transform may return, and how an exception reads in a reply or a log line."""

from __future__ import annotations


def as_bytes(value: object, what: str) -> bytes:
    """The transform's output as bytes: bytes, bytearray, memoryview, or str (sent as UTF-8, as Starlette's
    Response sends a str body); anything else is a `TypeError` naming `what` and the type."""
    if type(value) is bytes:
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, memoryview):
        return value.tobytes()
    raise TypeError(f"{what} returned {type(value).__name__}; expected bytes, bytearray, memoryview or str")


def error_detail(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
