"""One HTTP request to the object path, decoded once."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..wire import HEADER_NODE_URL, decode_fqn, parse_pipeline, parse_query
from .asgi import Receive, Scope

_NODE_URL = HEADER_NODE_URL.encode()


class Request:
    """What one HTTP request asks for: object path, `etl_args`, FQN, pipeline, body size."""

    __slots__ = ("method", "path", "etl_args", "fqn", "first", "remaining", "receive", "started", "content_length")

    def __init__(self, scope: Scope, receive: Receive, sanitize_fqn: Callable[[str], str] = decode_fqn) -> None:
        self.started = time.perf_counter()
        self.method: str = scope["method"]
        self.path: str = scope["path"][1:]  # FastAPI-style: percent-decoded, no leading slash
        self.receive = receive
        self.fqn = ""  # set before anything can raise, for error reports
        self.first = self.remaining = ""
        self.content_length: int | None = None
        self.etl_args, raw_fqn = parse_query(scope["query_string"])
        if raw_fqn:
            self.fqn = sanitize_fqn(raw_fqn)
        for name, value in scope["headers"]:
            if name == _NODE_URL:
                self.first, self.remaining = parse_pipeline(value.decode("latin-1"))
            elif name == b"content-length" and value.isdigit():
                self.content_length = int(value)

    @property
    def replayable(self) -> bool:
        """Whether the source can be read again for a retry: a file or an upstream GET, not a PUT body."""
        return bool(self.fqn) or self.method == "GET"
