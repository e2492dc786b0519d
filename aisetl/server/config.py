"""How uvicorn must run an ETL server for AIS: the one place its flags are written."""

from __future__ import annotations

from typing import Any

from ..wire import WS_MAX_QUEUE, WS_MAX_SIZE, WS_PING_TIMEOUT


def uvicorn_options(**overrides: Any) -> dict[str, Any]:
    """uvicorn settings for an ETL server: the AIS WebSocket flags (protocol 6.4), no access log (one line
    per object would cost more than the transform), log level info; `overrides` win."""
    options: dict[str, Any] = {
        "access_log": False,
        "log_level": "info",
        "ws_max_size": WS_MAX_SIZE,
        "ws_ping_interval": None,  # = the AIS flag `--ws-ping-interval 0`: no keepalive pings
        "ws_ping_timeout": WS_PING_TIMEOUT,
        "ws_per_message_deflate": False,  # AIS (gorilla's default dialer) never negotiates it
        # Messages uvicorn reads ahead of the app: two, not 32 (32 x 16 MiB per connection would escape
        # the memory budget when objects wait for it).
        "ws_max_queue": WS_MAX_QUEUE,
    }
    options.update(overrides)
    return options
