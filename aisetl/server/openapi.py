"""The OpenAPI description of what an ETL server answers on the wire: /health, the object path, /ws.

These routes are served by the raw handler (`ETLApp`), not by FastAPI routes, so FastAPI cannot infer
them; they are written here once, as plain data (no FastAPI import), and merged into the app's schema
(`fastapi_app`). Each status code says what AIS makes of it (docs/ais-etl-protocol.md, 2.6-2.7).
"""

from __future__ import annotations

from typing import Any

from ..wire import (
    HEADER_AUTHORIZATION,
    HEADER_DIRECT_PUT_LENGTH,
    HEADER_NODE_URL,
    HEADER_RETRY_REASON,
    HEALTH_PATH,
    QPARAM_ETL_ARGS,
    QPARAM_ETL_FQN,
    RETRY_REASON_DIRECT_PUT_TRANSIENT,
    WS_PATH_ROUTE,
)

TAG = "AIS ETL"
OBJECT_PATH = "/{path}"

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"detail": {"type": "string", "description": "what went wrong; AIS logs it as `ETL error: <body>`"}},
}


def _header_name(name: str) -> str:
    """`ais-node-url` -> `Ais-Node-Url`: the spelling AIS uses (headers match case-insensitively)."""
    return "-".join(part.capitalize() for part in name.split("-"))


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": _ERROR_SCHEMA}}}
    if headers:
        reply["headers"] = headers
    return reply


_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "path",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "The object path, percent-decoded and without the leading slash: `bucket/object` for "
        "hpush, the object's uname (`ais/@#/bucket/object`) for hpull. It may contain slashes.",
    },
    {
        "name": QPARAM_ETL_ARGS,
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "The per-request argument of the transform (`etl_args`), stripped of surrounding "
        "white space; absent means an empty string.",
    },
    {
        "name": QPARAM_ETL_FQN,
        "in": "query",
        "required": False,
        "schema": {"type": "string"},
        "description": "File-path mode: the object's file on the target's disk, path-escaped once more than "
        "the query encoding. The body is then empty and ignored; with ETL_DIRECT_FQN the transform gets the "
        "path instead of the bytes. A file that does not exist is answered 404.",
    },
    {
        "name": _header_name(HEADER_NODE_URL),
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "Direct put: a comma list of next stages (ETL servers, then the destination target). "
        "The output goes to the first; the rest travels on in the same header. Absent or blank: the output "
        "is the reply. An empty entry is answered 400.",
    },
    {
        "name": _header_name(HEADER_AUTHORIZATION),
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": "May be sent on stage-to-stage hops; ignored. Outbound calls carry "
        "`Bearer <AIS_AUTHN_TOKEN>` when that variable is set.",
    },
]

_DIRECT_PUT_LENGTH = {
    _header_name(HEADER_DIRECT_PUT_LENGTH): {
        "description": "Bytes delivered to the next stage (omitted when 0 or unknown).",
        "schema": {"type": "integer"},
    }
}
_RETRY_REASON = {
    _header_name(HEADER_RETRY_REASON): {
        "description": f"`{RETRY_REASON_DIRECT_PUT_TRANSIENT}`: AIS sends the whole request again.",
        "schema": {"type": "string", "enum": [RETRY_REASON_DIRECT_PUT_TRANSIENT]},
    }
}


def _object_responses(mime_type: str) -> dict[str, Any]:
    return {
        "200": {
            "description": "The transformed object (no pipeline), or the body a last ETL stage returned. "
            "A streaming transform answers with chunked transfer encoding.",
            "content": {mime_type: {"schema": {"type": "string", "format": "binary"}}},
        },
        "204": {
            "description": "Delivered by direct put to the next stage (`Ais-Node-Url`): AIS counts the object "
            "as done and writes nothing itself.",
            "headers": _DIRECT_PUT_LENGTH,
        },
        "400": _error("Bad request: a malformed `Ais-Node-Url`, or the client left before sending the body."),
        "404": _error("The `etl_fqn` file does not exist (or the hpull source answered 404: its status is relayed)."),
        "405": _error("A method other than GET and PUT."),
        "500": _error("The transform raised, returned something other than bytes, or a next-stage URL is unusable."),
        "502": _error("Direct put failed after the local retries (transport errors), or hpull's GET failed."),
        "503": _error(
            "Direct put failed transiently and the source cannot be read again (a streamed PUT body): "
            "replayable, AIS retries the whole request.",
            _RETRY_REASON,
        ),
    }


def _operation(summary: str, description: str, operation_id: str, mime_type: str, body: bool) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "tags": [TAG],
        "summary": summary,
        "description": description,
        "operationId": operation_id,
        "parameters": _PARAMETERS,
        "responses": _object_responses(mime_type),
    }
    if body:
        operation["requestBody"] = {
            "required": False,
            "description": "The object's bytes (empty in file-path mode). Chunked bodies are accepted.",
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    return operation


def etl_paths(mime_type: str) -> dict[str, Any]:
    """OpenAPI `paths` for the routes of the raw handler; `mime_type` is the transform's reply type."""
    health = {
        "tags": [TAG],
        "summary": "Liveness",
        "description": "AIS polls this until the ETL is ready. Any other method on /health is an object request.",
        "operationId": "health",
        "responses": {"200": {"description": "`Running`", "content": {"text/plain": {"schema": {"type": "string"}}}}},
    }
    websocket = {
        "tags": [TAG],
        "summary": "WebSocket transport (ws://)",
        "description": "Upgrade to a WebSocket. Per object AIS sends a JSON control frame (`path`, `etl_args`, "
        "`fqn`, `pipeline`) and, without `fqn`, one binary content frame. Each object gets one reply, in "
        "order: the output (binary), or, with a `pipeline`, a text frame with the bytes delivered (`0` when "
        "the next stage failed). Errors are logged and counted; a control frame that cannot be parsed closes "
        "the connection with 1007.",
        "operationId": "websocket",
        "responses": {"101": {"description": "Switching protocols"}},
    }
    return {
        HEALTH_PATH: {"get": health},
        WS_PATH_ROUTE: {"get": websocket},
        OBJECT_PATH: {
            "put": _operation(
                "Transform an object (hpush, pipeline hop)",
                "The object is the request body, or the `etl_fqn` file. Every pipeline stage after the first is a PUT.",
                "transform_put",
                mime_type,
                body=True,
            ),
            "get": _operation(
                "Transform an object (hpull)",
                "The object is the `etl_fqn` file, or what GET `AIS_TARGET_URL/<path>` returns.",
                "transform_get",
                mime_type,
                body=False,
            ),
        },
    }


def merge_paths(schema: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """`schema` with `ours` added; where the user's app documents the same path and method, the user's wins
    (their route is the one that answers)."""
    paths: dict[str, Any] = {path: dict(item) for path, item in ours.items()}
    for path, item in schema.get("paths", {}).items():
        paths.setdefault(path, {}).update(item)
    return {**schema, "paths": paths}
