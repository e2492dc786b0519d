"""`aisetl check` and `server.check()`: does a running ETL server do what AIS expects? Over HTTP and
WebSocket, with a stand-in target (object source, file-path mode, direct-put destination) and stand-in
next stages.

The checks do not know the transform: they compare the server with itself. The reply to a plain hpush
of an object under a path is the reference, and every other way of sending the same object under the
same path (file path, WebSocket, hpull, direct put, etl_args with white space) must come to the same
bytes. `--object FILE` and `--etl-args` check with real data, for transforms that refuse anything else.

Two checks need the target side: hpull GETs the object from the server's AIS_TARGET_URL, and a direct
put to a target PUTs to the route of that URL (`/v1/etl/_object/<etl>/<secret>/...`). They run when the
stand-in target can be that URL (`--target-url` with the server's AIS_TARGET_URL, `--serve` starting the
server with the stand-in's, `--target-port` printing one to start the server with; a served handle with a
LocalTarget) and are reported NOT RUN, with the reason, otherwise.
"""

from __future__ import annotations

import html
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from .api import features
from .local.target import LocalTarget
from .server.thread import ServerThread
from .wire import (
    HEADER_DIRECT_PUT_LENGTH,
    HEADER_NODE_URL,
    HEALTH_PATH,
    QPARAM_ETL_ARGS,
    QPARAM_ETL_FQN,
    encode_control_message,
    object_uname,
    path_escape,
    websocket_url,
)

OBJECT = b"The quick brown fox jumps over the lazy dog. " * 40
CHECK_SECRET = "aisetl-check"
CHECK_ETL = "checked-etl"
PASS, FAIL, NOT_RUN = "PASS", "FAIL", "NOT RUN"
NO_REFERENCE = "no reference reply to compare with (the plain hpush failed)"


@dataclass
class Result:
    name: str
    status: str  # PASS, FAIL, NOT RUN
    detail: str = ""

    def line(self) -> str:
        return f"{self.status}  {self.name}" + (f": {self.detail}" if self.detail else "")


@dataclass
class CheckReport:
    """The results of one check run; displays as a table in a notebook."""

    url: str
    results: list[Result] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(r.status == FAIL for r in self.results)

    def summary(self) -> str:
        count = {s: sum(r.status == s for r in self.results) for s in (PASS, FAIL, NOT_RUN)}
        return f"{count[PASS]} passed, {count[FAIL]} failed, {count[NOT_RUN]} not run"

    def __repr__(self) -> str:
        return "\n".join([f"check of {self.url}:", *(r.line() for r in self.results), self.summary()])

    def _repr_html_(self) -> str:
        colors = {PASS: "#2e7d32", FAIL: "#c62828", NOT_RUN: "#757575"}
        rows = "".join(
            f"<tr><td style='color:{colors[r.status]}'><b>{r.status}</b></td><td>{html.escape(r.name)}</td>"
            f"<td>{html.escape(r.detail)}</td></tr>"
            for r in self.results
        )
        return (
            f"<div>check of <code>{html.escape(self.url)}</code>: {self.summary()}</div>"
            f"<table style='font-size:small'>{rows}</table>"
        )


class _NextStage:
    """A next ETL stage (ASGI): records what it is sent and answers it back, or 500 when `failing`."""

    def __init__(self, failing: bool = False) -> None:
        self.failing = failing
        self.received: list[tuple[str, bytes]] = []

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        parts, more = [], True
        while more:
            message = await receive()
            parts.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(parts)
        self.received.append((scope["path"], body))
        status, reply = (500, b"next stage failed!") if self.failing else (200, body)
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-length", b"%d" % len(reply))]}
        )
        await send({"type": "http.response.body", "body": reply})


class Checker:
    """The checks, against the server at `url`, with `target` as the stand-in target (its objects in
    `bucket`). `target_side` says why hpull and direct put to a target cannot run, or None if they can."""

    def __init__(
        self,
        url: str,
        target: LocalTarget,
        target_side: str | None,
        data: bytes = OBJECT,
        name: str = "obj.txt",
        etl_args: str = "",
        bucket: str = "bkt",
    ) -> None:
        self.url = url.rstrip("/")
        self.target = target
        self.not_run_reason = target_side
        self.data = data
        self.etl_args = etl_args
        self.bucket = bucket
        self.name = f"{bucket}/{name}"
        self.path = "/" + quote(self.name, safe="/@")
        self.http = httpx.Client(base_url=self.url, timeout=60)
        self.report = CheckReport(self.url)
        self.reference: bytes | None = None

    def check(self, name: str, fn: Callable[[], str | None], needs_reference: bool = True) -> None:
        if needs_reference and self.reference is None:
            self.report.results.append(Result(name, NOT_RUN, NO_REFERENCE))
            return
        try:
            problem = fn()
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
        self.report.results.append(Result(name, FAIL if problem else PASS, problem or ""))

    def target_check(self, name: str, fn: Callable[[], str | None]) -> None:
        if self.not_run_reason is not None:
            self.report.results.append(Result(name, NOT_RUN, self.not_run_reason))
        else:
            self.check(name, fn)

    def params(self, **extra: str) -> dict[str, str]:
        return {**({QPARAM_ETL_ARGS: self.etl_args} if self.etl_args else {}), **extra}

    def hpush_reply(self, path: str, data: bytes) -> bytes:
        """The reference for another transport: a plain hpush of `data` under `path`."""
        r = self.http.put("/" + quote(path, safe="/@"), content=data, params=self.params())
        r.raise_for_status()
        return r.content

    # --- the checks --------------------------------------------------------------------------------

    def health(self) -> str | None:
        r = self.http.get(HEALTH_PATH)
        return None if r.status_code == 200 else f"GET /health answered {r.status_code}, expected 200"

    def hpush(self) -> str | None:
        r = self.http.put(self.path, content=self.data, params=self.params())
        if r.status_code != 200:
            return f"PUT {self.path} answered {r.status_code} ({r.text[:200]!r}), expected 200"
        length = r.headers.get("content-length")
        if length is not None and int(length) != len(r.content):
            return f"Content-Length {length} but {len(r.content)} body bytes"
        self.reference = r.content
        return None

    def etl_args_stripped(self) -> str | None:
        args = self.etl_args or "x"
        a = self.http.put(self.path, params={QPARAM_ETL_ARGS: f"  {args}  "}, content=self.data)
        b = self.http.put(self.path, params={QPARAM_ETL_ARGS: args}, content=self.data)
        if a.status_code != 200 or a.content != b.content:
            return (
                f"etl_args '  {args}  ' and {args!r} gave different replies: surrounding white space must be stripped"
            )
        return None

    def fqn_mode(self) -> str | None:
        fqn = path_escape(self.target.fqn(self.name))
        r = self.http.put(self.path, params=self.params(**{QPARAM_ETL_FQN: fqn}), content=b"")
        if r.status_code != 200:
            return f"PUT ?etl_fqn=<file> answered {r.status_code} ({r.text[:200]!r}); the server must read the file"
        return None if r.content == self.reference else "the reply for the file differs from the reply for its bytes"

    def missing_fqn(self) -> str | None:
        fqn = path_escape(self.target.fqn(f"{self.bucket}/no-such-object"))
        r = self.http.put(self.path, params=self.params(**{QPARAM_ETL_FQN: fqn}), content=b"")
        return None if r.status_code == 404 else f"a missing etl_fqn file answered {r.status_code}, expected 404"

    def bad_pipeline(self) -> str | None:
        for header in (",http://a", "http://a,,http://b", "http://a,"):
            r = self.http.put(self.path, content=self.data, params=self.params(), headers={HEADER_NODE_URL: header})
            if r.status_code != 400:
                return f"Ais-Node-Url {header!r} answered {r.status_code}, expected 400 (empty entry)"
        return None

    def blank_pipeline(self) -> str | None:
        r = self.http.put(self.path, content=self.data, params=self.params(), headers={HEADER_NODE_URL: ""})
        return None if r.status_code == 200 and r.content == self.reference else "an empty Ais-Node-Url is no pipeline"

    def next_stage(self) -> str | None:
        stage = _NextStage()
        with ServerThread(stage, name="aisetl-check-next-stage", log_level="warning") as thread:
            r = self.http.put(self.path, content=self.data, params=self.params(), headers={HEADER_NODE_URL: thread.url})
        if not stage.received:
            return f"the next stage received nothing (answered {r.status_code} {r.text[:100]!r})"
        path, body = stage.received[0]
        if path != "/" + self.name or body != self.reference:
            return f"the next stage received {len(body)} bytes under {path!r}; expected the reply under '/{self.name}'"
        if r.status_code != 200 or r.content != self.reference:
            return f"the next stage's 200 reply came back as {r.status_code} {r.content[:100]!r}; expected it relayed"
        return None

    def direct_put(self) -> str | None:
        assert self.reference is not None
        dst = f"{self.bucket}-out/{self.name.partition('/')[2]}"
        job = "check-" + secrets.token_hex(4)
        r = self.http.put(
            self.path,
            content=self.data,
            params=self.params(),
            headers={HEADER_NODE_URL: self.target.destination(dst, uuid=job)},
        )
        if r.status_code != 204:
            return f"direct put to a target answered {r.status_code} ({r.text[:200]!r}), expected 204"
        length = r.headers.get(HEADER_DIRECT_PUT_LENGTH)
        if self.reference and length != str(len(self.reference)):
            return f"Ais-Direct-Put-Length {length!r}, expected {len(self.reference)}"
        if self.target.delivered_size(job, dst) is None:
            return "the destination target never received the object"
        if self.target.get(dst) != self.reference:
            return "the destination received other bytes than the server's reply to the same object"
        return None

    def error_relayed(self) -> str | None:
        with ServerThread(_NextStage(failing=True), name="aisetl-check-error-stage", log_level="warning") as stage:
            r = self.http.put(self.path, content=self.data, params=self.params(), headers={HEADER_NODE_URL: stage.url})
        if r.status_code != 500 or b"next stage failed!" not in r.content:
            return f"a next stage's 500 came back as {r.status_code} {r.content[:100]!r}; expected it relayed"
        return None

    def websocket(self) -> str | None:
        from websockets.sync.client import connect

        # Three objects sent before the first reply is read; the default object in three shapes, so that
        # replies out of order show. A real object (--object) is sent three times: it may be the only
        # kind of input the transform takes.
        shapes = (self.data, self.data[:100], self.data[::-1]) if self.data is OBJECT else (self.data,) * 3
        objects = [(f"obj-{i}", data) for i, data in enumerate(shapes)]
        with connect(websocket_url(self.url), max_size=None, compression=None, open_timeout=10) as ws:
            for path, data in objects:
                ws.send(encode_control_message(path, None, self.etl_args))
                ws.send(data)
            replies = [ws.recv(timeout=30) for _ in objects]
        expected = [self.hpush_reply(path, data) for path, data in objects]
        if replies != expected:
            return "WebSocket replies differ from hpush replies for the same objects (or came out of order)"
        return None

    def hpull_object(self) -> str | None:
        uname = object_uname(*self.name.split("/", 1))
        r = self.http.get("/" + path_escape(uname), params=self.params())
        if r.status_code != 200:
            return (
                f"GET /{path_escape(uname)} answered {r.status_code} ({r.text[:200]!r}); "
                "the server must pull the object from the target"
            )
        expected = self.hpush_reply(uname, self.data)
        return None if r.content == expected else "the hpull reply differs from the hpush reply"

    def hpull_missing(self) -> str | None:
        r = self.http.get("/" + path_escape(object_uname(self.bucket, "missing")), params=self.params())
        return None if r.status_code == 404 else f"a missing object pulled from the target answered {r.status_code}"

    def run(self) -> CheckReport:
        self.target.put(self.name, self.data)
        try:
            self.check("GET /health answers 200", self.health, needs_reference=False)
            self.check("hpush: PUT with the object bytes answers 200 and its body", self.hpush, needs_reference=False)
            self.check("etl_args are stripped of surrounding white space", self.etl_args_stripped)
            self.check("file-path mode: PUT ?etl_fqn=<file> reads the file", self.fqn_mode)
            self.check("a missing etl_fqn file is 404", self.missing_fqn)
            self.check("Ais-Node-Url with an empty entry is 400", self.bad_pipeline)
            self.check("an empty Ais-Node-Url means no pipeline", self.blank_pipeline)
            self.check(
                "direct put to a next stage: the reply PUT under the object path, its answer relayed", self.next_stage
            )
            self.check("a next stage's error status and body are relayed", self.error_relayed)
            self.check("WebSocket: control + content frames, pipelined objects answered in order", self.websocket)
            self.target_check(
                "direct put to a target: 204, Ais-Direct-Put-Length, the bytes delivered", self.direct_put
            )
            self.target_check("hpull: GET /<uname> pulls the object from AIS_TARGET_URL", self.hpull_object)
            self.target_check("hpull: a missing object keeps the target's 404", self.hpull_missing)
        finally:
            self.http.close()
        return self.report


def check_handle(handle: Any, data: bytes | None = None, etl_args: str = "") -> CheckReport:
    """`server.check()`: the checks against a server of this process. Its own LocalTarget serves the
    target-side checks, in a scratch bucket removed afterwards."""
    target = handle.target
    bucket = "aisetl-check-" + secrets.token_hex(4)
    # The checks provoke errors on purpose (a missing file, a bad header, a failing next stage): the
    # server's log lines about them would only bury the report in the cell.
    logger = handle.server.logger
    muted, logger.disabled = logger.disabled, True
    try:
        if isinstance(target, LocalTarget):
            try:
                return Checker(handle.url, target, None, data or OBJECT, etl_args=etl_args, bucket=bucket).run()
            finally:
                for name in target.list(bucket) + target.list(bucket + "-out"):
                    target.delete(name)
        why = "the server has no LocalTarget to pull from and deliver to: serve(target=LocalTarget()) to run it"
        with LocalTarget() as scratch:
            return Checker(handle.url, scratch, why, data or OBJECT, etl_args=etl_args, bucket=bucket).run()
    finally:
        logger.disabled = muted


features.provide("check", check_handle)
