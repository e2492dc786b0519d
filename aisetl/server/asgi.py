"""ASGI types and the few body helpers every handler (and LocalTarget's own server) uses."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON_HEADER = (b"content-type", b"application/json")


class ClientDisconnectedError(Exception):
    """The client went away before sending the whole request body."""


class ResponseAbortedError(Exception):
    """A response was started and cannot be completed (a stream broke off): raised out of the app, the
    ASGI way to say so, so that the server closes the connection and the client sees a truncated body."""


# Scope key of an `AbortSignal`: set by an outer layer (the FastAPI app, when user middleware runs) that
# must learn of an aborted response before a middleware in between completes it anyway (Starlette's
# BaseHTTPMiddleware sends the closing chunk of a body stream whose app raised). A holder object, so
# that middleware which copies the scope still shares it.
ABORT_SIGNAL = "aisetl.abort_signal"


class AbortSignal:
    __slots__ = ("aborted",)

    def __init__(self) -> None:
        self.aborted = False


async def read_body(receive: Receive) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        if message["type"] == "http.disconnect":
            raise ClientDisconnectedError("client disconnected before the request body was read")
        return body
    parts = [body]
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnectedError("client disconnected before the request body was read")
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


async def iter_body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnectedError("client disconnected before the request body was read")
        yield message.get("body", b"")
        if not message.get("more_body"):
            return


async def send_response(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def answer_lifespan(
    receive: Receive, send: Send, on_shutdown: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Answer uvicorn's lifespan messages: start-up at once; at shutdown, `on_shutdown` first."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if on_shutdown is not None:
                await on_shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
