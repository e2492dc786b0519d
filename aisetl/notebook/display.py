"""How an ETL reply shows in a notebook: status, where the bytes went, the AIS headers, a body preview."""

from __future__ import annotations

import base64
import html
from typing import cast

import httpx

from ..wire import HEADER_DIRECT_PUT_LENGTH

PREVIEW_BYTES = 2048
_IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


def image_type(content_type: str, body: bytes) -> str | None:
    if content_type.startswith("image/"):
        return content_type.split(";")[0]
    for magic, kind in _IMAGE_MAGIC.items():
        if body.startswith(magic):
            return kind
    return None


class ETLResponse(httpx.Response):
    """An `httpx.Response` that also says, in a notebook, what AIS would make of it."""

    pipeline: str = ""

    @property
    def delivered(self) -> bool:
        """True when the object went onward by direct put (204)."""
        return self.status_code == 204

    def outcome(self) -> str:
        length = self.headers.get(HEADER_DIRECT_PUT_LENGTH)
        if self.status_code == 204:
            sent = f"{length} bytes" if length else "length not reported"
            return f"delivered by direct put ({sent}); AIS counts the object as done"
        if self.status_code >= 400:
            return f"error: AIS reports 'ETL error: {self.text[:200]}'"
        if self.pipeline:
            return f"{len(self.content)} bytes returned by the last stage of the pipeline"
        return f"{len(self.content)} bytes returned to the target"

    def __repr__(self) -> str:
        return f"<ETLResponse [{self.status_code} {self.reason_phrase}] {self.outcome()}>"

    def _repr_html_(self) -> str:
        color = "#2e7d32" if self.status_code < 300 else "#c62828" if self.status_code >= 400 else "#f9a825"
        rows = [
            f"<b style='color:{color}'>{self.status_code} {html.escape(self.reason_phrase)}</b> "
            f"&nbsp;{html.escape(self.outcome())}"
        ]
        if self.pipeline:
            rows.append(f"<small>Ais-Node-Url sent: <code>{html.escape(self.pipeline)}</code></small>")
        shown = [
            (k, v)
            for k, v in self.headers.items()
            if k.lower().startswith("ais-") or k.lower() in ("content-type", "content-length", "transfer-encoding")
        ]
        if shown:
            cells = "".join(
                f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(v)}</td></tr>" for k, v in shown
            )
            rows.append(f"<table style='font-size:small'>{cells}</table>")
        rows.append(self._preview_html())
        return "<div>" + "<br>".join(rows) + "</div>"

    def _preview_html(self) -> str:
        body = self.content
        if not body:
            return "<i>(empty body)</i>"
        kind = image_type(self.headers.get("content-type", ""), body)
        if kind is not None:
            data = base64.b64encode(body).decode()
            return f"<img src='data:{kind};base64,{data}' style='max-width:400px'/>"
        head = body[:PREVIEW_BYTES]
        more = f" … ({len(body)} bytes in all)" if len(body) > PREVIEW_BYTES else ""
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            text = head[:256].hex(" ")
            more = f" … ({len(body)} bytes, binary)" if len(body) > 256 else " (binary)"
        return f"<pre style='white-space:pre-wrap;max-height:12em;overflow:auto'>{html.escape(text)}{more}</pre>"


def as_etl_response(resp: httpx.Response, pipeline: str = "") -> ETLResponse:
    # Re-class the response httpx built rather than copy it: same object, same bytes, richer display.
    resp.__class__ = ETLResponse
    etl_resp = cast(ETLResponse, resp)
    etl_resp.pipeline = pipeline
    return etl_resp
