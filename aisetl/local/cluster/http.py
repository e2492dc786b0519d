"""The small HTTP layer the proxy and the targets share: requests, AIS-shaped replies and errors.

Errors are written as AIS writes them (cmn/err.go): a JSON body whose `message` the SDK classifies by
its text (`ais://b`, `ais://b/o`, `etl job`), and for HEAD no body but the same JSON in `Hdr-Error`.
A bad request is always a 4xx: the SDK retries a 5xx to GET/HEAD/PUT/DELETE for about 90 s.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from ...server.asgi import Receive, Scope, Send, answer_lifespan, read_body, send_response

JSON = (b"content-type", b"application/json")
TEXT = (b"content-type", b"text/plain; charset=utf-8")
MSGPACK = (b"content-type", b"application/msgpack")
# Request bodies the proxy reads whole (action messages); an object body is never limited here.
MAX_CONTROL_BODY = 16 << 20


class AISHTTPError(Exception):
    """Answer `status` with an AIS error carrying `message` (and stop handling the request)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> AISHTTPError:
    return AISHTTPError(400, message)


def bucket_missing(bucket: str) -> AISHTTPError:
    return AISHTTPError(404, f'bucket "ais://{bucket}" does not exist')


def object_missing(node: str, bucket: str, obj: str) -> AISHTTPError:
    return AISHTTPError(404, f"{node}: ais://{bucket}/{obj} does not exist")


@dataclass
class Request:
    """One HTTP request: method, the path split after `/v1/`, the query, and its body on demand."""

    scope: Scope
    receive: Receive
    method: str
    parts: list[str]  # path segments after /v1, unescaped; the object name is re-joined by `rest`
    raw_parts: list[str]
    query: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, scope: Scope, receive: Receive) -> Request:
        raw: str = scope.get("raw_path", scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        if raw != "/v1" and not raw.startswith("/v1/"):
            raise AISHTTPError(404, f"no such route {raw!r}: the AIS API lives under /v1/")
        raw_parts = [p for p in raw[len("/v1/") :].split("/")]
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        return cls(scope, receive, scope["method"], [unquote(p) for p in raw_parts], raw_parts, query, headers)

    def rest(self, start: int) -> str:
        """The path from segment `start` on, unescaped (object names keep their slashes)."""
        return unquote("/".join(self.raw_parts[start:]))

    def part(self, i: int) -> str:
        return self.parts[i] if i < len(self.parts) else ""

    async def body(self) -> bytes:
        length = self.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > MAX_CONTROL_BODY:
            raise AISHTTPError(413, f"request body of {length} bytes is over the {MAX_CONTROL_BODY} bytes allowed")
        return await read_body(self.receive)

    async def json(self) -> Any:
        """The JSON body; `None` when empty. A body that is not JSON is a 400."""
        data = await self.body()
        if not data.strip():
            return None
        try:
            return json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise bad_request(f"request body is not JSON: {exc}") from None

    async def action(self) -> tuple[str, Any]:
        """An ActMsg body: `{"action": ..., "name": ..., "value": ...}` -> (action, value)."""
        msg = await self.json()
        if not isinstance(msg, dict) or not isinstance(msg.get("action"), str):
            raise bad_request('expected an action message {"action": "...", "name": "", "value": ...}')
        return msg["action"], msg.get("value")


def error_body(node: str, req: Request | None, status: int, message: str) -> bytes:
    body = {"message": message, "method": req.method if req else "", "status": status, "node": node}
    if req is not None:
        body["url_path"] = req.scope.get("path", "")
    return json.dumps(body, separators=(",", ":")).encode()


async def send_error(send: Send, node: str, req: Request | None, status: int, message: str) -> None:
    body = error_body(node, req, status, message)
    if req is not None and req.method == "HEAD":
        await send_response(send, status, b"", [(b"hdr-error", body)])
    else:
        await send_response(send, status, body, [JSON])


async def send_json(send: Send, value: Any, status: int = 200) -> None:
    await send_response(send, status, json.dumps(value).encode(), [JSON])


async def send_text(send: Send, text: str, status: int = 200) -> None:
    await send_response(send, status, text.encode(), [TEXT])


async def lifespan(receive: Receive, send: Send) -> None:
    await answer_lifespan(receive, send)


Handler = Callable[[Request, Send], Awaitable[None]]


async def serve_http(node: str, scope: Scope, receive: Receive, send: Send, handle: Handler) -> None:
    """Parse the request, run `handle`, and turn an `AISHTTPError` or a bad value into an AIS error."""
    req: Request | None = None
    try:
        req = Request.parse(scope, receive)
        await handle(req, send)
    except AISHTTPError as exc:
        await send_error(send, node, req, exc.status, exc.message)
    except (KeyError, TypeError, ValueError) as exc:
        # Shapes we did not expect in a message the client sent: its fault, said as such, never a 5xx.
        await send_error(send, node, req, 400, f"bad request: {type(exc).__name__}: {exc}")
