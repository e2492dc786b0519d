"""`aisetl check URL`: does a running ETL server do what AIS expects? Over HTTP and WebSocket, with a
local stand-in target (object source, file-path mode) and destination (direct put).

The checks do not know the transform: they compare the server with itself. The reply to a plain hpush
of an object under a path is the reference, and every other way of sending the same object under the
same path (file path, WebSocket, hpull, direct put, stripped etl_args) must come to the same bytes.

hpull needs the server's AIS_TARGET_URL to point at the checker's target: start the server with the
value `aisetl check --target-port P` prints, or those checks are reported as skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from .local.target import LocalTarget
from .server.thread import ServerThread
from .wire import (
    HEADER_DIRECT_PUT_LENGTH,
    HEADER_NODE_URL,
    HEALTH_PATH,
    QPARAM_ETL_ARGS,
    QPARAM_ETL_FQN,
    WS_PATH,
    object_uname,
    path_escape,
    websocket_url,
)

OBJECT = b"The quick brown fox jumps over the lazy dog. " * 40
CHECK_SECRET = "aisetl-check"
CHECK_ETL = "checked-etl"


@dataclass
class Result:
    name: str
    status: str  # PASS, FAIL, SKIP
    detail: str = ""

    def line(self) -> str:
        return f"{self.status}  {self.name}" + (f": {self.detail}" if self.detail else "")


class _ErrorStage:
    """A next stage that always answers 500 with a known body (ASGI)."""

    async def __call__(self, scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        await send({"type": "http.response.start", "status": 500, "headers": [(b"content-length", b"18")]})
        await send({"type": "http.response.body", "body": b"next stage failed!"})


class Checker:
    def __init__(self, url: str, target: LocalTarget, hpull: bool) -> None:
        self.url = url.rstrip("/")
        self.target = target
        self.hpull = hpull
        self.http = httpx.Client(base_url=self.url, timeout=60)
        self.results: list[Result] = []
        self.reference: bytes | None = None

    def check(self, name: str, fn: Callable[[], str | None], needs_reference: bool = True) -> None:
        if needs_reference and self.reference is None:
            self.results.append(Result(name, "SKIP", "no reference reply (the plain hpush failed)"))
            return
        try:
            problem = fn()
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
        self.results.append(Result(name, "FAIL" if problem else "PASS", problem or ""))

    def hpush_reply(self, path: str, data: bytes) -> bytes:
        """The reference for another transport: a plain hpush of `data` under `path`."""
        r = self.http.put("/" + quote(path, safe="/@"), content=data)
        r.raise_for_status()
        return r.content

    def skip(self, name: str, why: str) -> None:
        self.results.append(Result(name, "SKIP", why))

    # --- the checks --------------------------------------------------------------------------------

    def health(self) -> str | None:
        r = self.http.get(HEALTH_PATH)
        return None if r.status_code == 200 else f"GET /health answered {r.status_code}, expected 200"

    def hpush(self) -> str | None:
        r = self.http.put("/bkt/obj.txt", content=OBJECT)
        if r.status_code != 200:
            return f"PUT /bkt/obj.txt answered {r.status_code} ({r.text[:200]!r}), expected 200"
        length = r.headers.get("content-length")
        if length is not None and int(length) != len(r.content):
            return f"Content-Length {length} but {len(r.content)} body bytes"
        self.reference = r.content
        return None

    def etl_args_stripped(self) -> str | None:
        a = self.http.put("/bkt/obj.txt", params={QPARAM_ETL_ARGS: "  x  "}, content=OBJECT)
        b = self.http.put("/bkt/obj.txt", params={QPARAM_ETL_ARGS: "x"}, content=OBJECT)
        if a.status_code != 200 or a.content != b.content:
            return "etl_args '  x  ' and 'x' gave different replies: surrounding white space must be stripped"
        return None

    def fqn_mode(self) -> str | None:
        fqn = self.target.fqn("bkt/obj.txt")
        r = self.http.put("/bkt/obj.txt", params={QPARAM_ETL_FQN: path_escape(fqn)}, content=b"")
        if r.status_code != 200:
            return f"PUT ?etl_fqn=<file> answered {r.status_code} ({r.text[:200]!r}); the server must read the file"
        return None if r.content == self.reference else "the reply for the file differs from the reply for its bytes"

    def missing_fqn(self) -> str | None:
        fqn = self.target.fqn("bkt/no-such-object")
        r = self.http.put("/bkt/no-such-object", params={QPARAM_ETL_FQN: path_escape(fqn)}, content=b"")
        return None if r.status_code == 404 else f"a missing etl_fqn file answered {r.status_code}, expected 404"

    def bad_pipeline(self) -> str | None:
        for header in (",http://a", "http://a,,http://b", "http://a,"):
            r = self.http.put("/bkt/obj.txt", content=OBJECT, headers={HEADER_NODE_URL: header})
            if r.status_code != 400:
                return f"Ais-Node-Url {header!r} answered {r.status_code}, expected 400 (empty entry)"
        return None

    def blank_pipeline(self) -> str | None:
        r = self.http.put("/bkt/obj.txt", content=OBJECT, headers={HEADER_NODE_URL: ""})
        return None if r.status_code == 200 and r.content == self.reference else "an empty Ais-Node-Url is no pipeline"

    def direct_put(self) -> str | None:
        assert self.reference is not None
        dest = self.target.destination("dst/obj.txt", uuid="check")
        r = self.http.put("/bkt/obj.txt", content=OBJECT, headers={HEADER_NODE_URL: dest})
        if r.status_code != 204:
            return f"direct put to a target answered {r.status_code} ({r.text[:200]!r}), expected 204"
        length = r.headers.get(HEADER_DIRECT_PUT_LENGTH)
        if self.reference and length != str(len(self.reference)):
            return f"Ais-Direct-Put-Length {length!r}, expected {len(self.reference)}"
        if self.target.delivered_size("check", "dst/obj.txt") is None:
            return "the destination target never received the object"
        if self.target.get("dst/obj.txt") != self.reference:
            return "the destination received other bytes than the server's reply to the same object"
        return None

    def error_relayed(self) -> str | None:
        with ServerThread(_ErrorStage(), name="aisetl-check-error-stage", log_level="warning") as stage:
            r = self.http.put("/bkt/obj.txt", content=OBJECT, headers={HEADER_NODE_URL: stage.url})
        if r.status_code != 500 or b"next stage failed!" not in r.content:
            return f"a next stage's 500 came back as {r.status_code} {r.content[:100]!r}; expected it relayed"
        return None

    def websocket(self) -> str | None:
        from websockets.sync.client import connect

        ws_url = websocket_url(self.url)
        objects = [(f"obj-{i}", data) for i, data in enumerate((OBJECT, OBJECT[:100], OBJECT[::-1]))]
        with connect(ws_url, max_size=None, compression=None, open_timeout=10) as ws:
            for path, data in objects:
                ws.send(json.dumps({WS_PATH: path}).encode())
                ws.send(data)
            replies = [ws.recv(timeout=30) for _ in objects]
        expected = [self.hpush_reply(path, data) for path, data in objects]
        if replies != expected:
            return "WebSocket replies differ from hpush replies for the same objects (or came out of order)"
        return None

    def hpull_object(self) -> str | None:
        uname = object_uname("bkt", "obj.txt")
        r = self.http.get("/" + path_escape(uname))
        if r.status_code != 200:
            return (
                f"GET /{path_escape(uname)} answered {r.status_code} ({r.text[:200]!r}); "
                "the server must pull the object from the target"
            )
        return None if r.content == self.hpush_reply(uname, OBJECT) else "the hpull reply differs from the hpush reply"

    def hpull_missing(self) -> str | None:
        r = self.http.get("/" + path_escape(object_uname("bkt", "missing")))
        return None if r.status_code == 404 else f"a missing object pulled from the target answered {r.status_code}"

    def run(self) -> list[Result]:
        self.target.put("bkt/obj.txt", OBJECT)
        self.check("GET /health answers 200", self.health, needs_reference=False)
        self.check("hpush: PUT with the object bytes answers 200 and its body", self.hpush, needs_reference=False)
        self.check("etl_args are stripped of surrounding white space", self.etl_args_stripped)
        self.check("file-path mode: PUT ?etl_fqn=<file> reads the file", self.fqn_mode)
        self.check("a missing etl_fqn file is 404", self.missing_fqn)
        self.check("Ais-Node-Url with an empty entry is 400", self.bad_pipeline)
        self.check("an empty Ais-Node-Url means no pipeline", self.blank_pipeline)
        self.check("direct put to a target: 204, Ais-Direct-Put-Length, the bytes delivered", self.direct_put)
        self.check("a next stage's error status and body are relayed", self.error_relayed)
        self.check("WebSocket: control + content frames, pipelined objects answered in order", self.websocket)
        if self.hpull:
            self.check("hpull: GET /<uname> pulls the object from AIS_TARGET_URL", self.hpull_object)
            self.check("hpull: a missing object keeps the target's 404", self.hpull_missing)
        else:
            why = "start the server with the AIS_TARGET_URL given by --target-port to check hpull"
            self.skip("hpull: GET /<uname> pulls the object from AIS_TARGET_URL", why)
            self.skip("hpull: a missing object keeps the target's 404", why)
        self.http.close()
        return self.results


def run_checks(
    url: str, target_port: int | None = None, say: Callable[[str], None] = print, target_dir: str | None = None
) -> int:
    """Check the server at `url`; prints one line per expectation; returns the exit status. `target_dir`
    holds the stand-in target's objects (a container given that folder at the same path can read them)."""
    with LocalTarget(target_dir, port=target_port or 0, secret=CHECK_SECRET) as target:
        if target_port:
            say(f"stand-in target: AIS_TARGET_URL={target.ais_target_url(CHECK_ETL)}")
        results = Checker(url, target, hpull=bool(target_port)).run()
    for r in results:
        say(r.line())
    failed = sum(r.status == "FAIL" for r in results)
    passed = sum(r.status == "PASS" for r in results)
    skipped = sum(r.status == "SKIP" for r in results)
    say(f"{passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0
