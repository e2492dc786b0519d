"""WebSocket control messages (section 6.2)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from .._exceptions import ProtocolError
from .names import WS_ETL_ARGS, WS_FQN, WS_PATH, WS_PIPELINE
from .objects import path_escape


@dataclass(frozen=True)
class ControlMessage:
    """One object's control frame (6.2): an empty `fqn` means a content frame follows."""

    pipeline: str = ""
    etl_args: str = ""
    fqn: str = ""
    path: str = ""


def parse_control_message(payload: bytes | str) -> ControlMessage:
    """Decode a control frame (binary or text JSON object); a `ProtocolError` says what is wrong."""
    try:
        obj = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"Invalid control message: not JSON ({exc})", status_code=400) from None
    except RecursionError:
        # Deeply nested arrays or objects: a control message is one flat object, nothing to recurse into.
        raise ProtocolError("Invalid control message: JSON nested too deeply", status_code=400) from None
    if not isinstance(obj, dict):
        raise ProtocolError(
            f"Invalid control message: expected a JSON object, got {type(obj).__name__}", status_code=400
        )
    fields: dict[str, str] = {}
    for key in (WS_PIPELINE, WS_ETL_ARGS, WS_FQN, WS_PATH):
        value = obj.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ProtocolError(
                f"Invalid control message: {key!r} must be a string, got {type(value).__name__}", status_code=400
            )
        fields[key] = value
    return ControlMessage(
        pipeline=fields.get(WS_PIPELINE, ""),
        etl_args=fields.get(WS_ETL_ARGS, "").strip(),
        fqn=fields.get(WS_FQN, "").strip(),
        path=fields.get(WS_PATH, ""),
    )


def encode_control_message(path: str, fqn: str | None = None, etl_args: str = "", pipeline: str = "") -> bytes:
    """The control frame a target sends for one object (6.2): empty fields are omitted (`omitempty`);
    `fqn` (path-escaped, as AIS does) means the ETL reads the file and no content frame follows."""
    ctrl = {WS_PATH: path}
    if fqn is not None:
        ctrl[WS_FQN] = path_escape(fqn)
    if etl_args:
        ctrl[WS_ETL_ARGS] = etl_args
    if pipeline:
        ctrl[WS_PIPELINE] = pipeline
    return json.dumps(ctrl).encode()
