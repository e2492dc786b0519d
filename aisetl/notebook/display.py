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


# The headers of the ETL contract, in the order a reader wants them.
_CONTRACT_HEADERS = ("ais-node-url", "content-type", "content-length", "transfer-encoding")
_CELL = "padding:1px 10px 1px 0;vertical-align:top;text-align:left;"


def _contract_headers(headers: httpx.Headers) -> list[tuple[str, str]]:
    """The contract's headers of a request or response: the AIS ones (`Ais-*`) and the framing ones."""
    chosen = [(k, v) for k, v in headers.items() if k.lower() in _CONTRACT_HEADERS or k.lower().startswith("ais-")]
    return sorted(chosen, key=lambda kv: (not kv[0].lower().startswith("ais-"), kv[0].lower()))


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
        head = (
            f"<b style='color:{color}'>{self.status_code} {html.escape(self.reason_phrase)}</b> "
            f"&nbsp;{html.escape(self.outcome())}"
        )
        return f"<div>{head}{self.headers_html()}{self._preview_html()}</div>"

    def headers_html(self) -> str:
        """What went to the server and what came back, as AIS sees them: one table, two sections.

        Only the headers of the contract (README, "What the server does on the wire"): the client's own
        (user-agent, accept, ...) say nothing about the ETL.
        """
        sections: list[tuple[str, list[tuple[str, str]]]] = []
        request = self._request
        if request is not None:
            line = f"{request.method} {request.url.raw_path.decode('ascii', 'replace')}"
            sent = _contract_headers(request.headers)
            if self.pipeline and not any(k.lower() == "ais-node-url" for k, _ in sent):
                sent.insert(0, ("Ais-Node-Url", self.pipeline))
            sections.append((line, sent))
        sections.append((f"{self.status_code} {self.reason_phrase}", _contract_headers(self.headers)))
        rows = []
        for (title, headers), side in zip(sections, ("request", "response")[-len(sections) :], strict=True):
            rows.append(
                f"<tr><th colspan='2' style='{_CELL}text-align:left;border-bottom:1px solid #ccc'>{side}: "
                f"<code>{html.escape(title)}</code></th></tr>"
            )
            if not headers:
                rows.append(f"<tr><td colspan='2' style='{_CELL}'><i>no ETL headers</i></td></tr>")
            for name, value in headers:
                rows.append(
                    f"<tr><td style='{_CELL}white-space:nowrap'><code>{html.escape(name)}</code></td>"
                    f"<td style='{_CELL}word-break:break-all'><code>{html.escape(value)}</code></td></tr>"
                )
        return f"<table style='font-size:small;border-collapse:collapse;margin:4px 0'>{''.join(rows)}</table>"

    def _preview_html(self) -> str:
        if not hasattr(self, "_content"):
            return "<i>(body not read: put(..., stream=True))</i>"
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
