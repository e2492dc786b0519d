"""WebSocket load generator: N connections, each keeping K objects in flight, as AIS pipelines them.

A raw RFC 6455 client kept as cheap as possible, so that the servers and not the client are measured:
frames are built once and masked with the all-zero key (a valid key that leaves the payload as is),
and replies are only framed and counted, never copied. Prints one JSON line:
{"objects": n, "errors": e, "seconds": s}. Run it pinned to its own core.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import struct
import time
from urllib.parse import urlsplit

import uvloop


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One masked client frame (FIN set); the mask key is zero, so the payload goes out unchanged."""
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    return head + b"\x00\x00\x00\x00"


class LoadConnection(asyncio.Protocol):
    def __init__(self, frames: list[bytes], depth: int, deadline: float, counts: dict[str, int]) -> None:
        self.frames = frames
        self.depth = depth
        self.deadline = deadline
        self.counts = counts
        self.in_flight = 0
        self.buf = bytearray()
        self.skip = 0  # payload bytes of the current frame still to pass over
        self.text: bytearray | None = None  # payload of a text frame being read
        self.handshaken = False
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send_objects(self) -> None:
        assert self.transport is not None
        while self.in_flight < self.depth and time.monotonic() < self.deadline:
            self.transport.writelines(self.frames)
            self.in_flight += 1
        if self.in_flight == 0 and not self.done.done():
            self.done.set_result(None)

    def data_received(self, data: bytes) -> None:
        if not self.handshaken:
            self.buf += data
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buf.startswith(b"HTTP/1.1 101"):
                self.done.set_exception(RuntimeError(bytes(self.buf[:200]).decode("latin-1")))
                return
            data = bytes(self.buf[end + 4 :])
            self.buf.clear()
            self.handshaken = True
            self.send_objects()
        self.parse(data)

    def parse(self, data: bytes) -> None:
        # Payload bytes are passed over in place; only a frame head split across reads is kept.
        if self.buf:
            data = bytes(self.buf) + data
            self.buf.clear()
        pos, end = 0, len(data)
        while pos < end:
            if self.skip:
                take = min(self.skip, end - pos)
                if self.text is not None:
                    self.text += data[pos : pos + take]
                pos += take
                self.skip -= take
                if not self.skip:
                    self.finish_message()
                continue
            if end - pos < 2:
                break
            opcode, n = data[pos] & 0x0F, data[pos + 1] & 0x7F
            head = 2
            if n == 126:
                if end - pos < 4:
                    break
                n = struct.unpack_from("!H", data, pos + 2)[0]
                head = 4
            elif n == 127:
                if end - pos < 10:
                    break
                n = struct.unpack_from("!Q", data, pos + 2)[0]
                head = 10
            pos += head
            if opcode == 0x8:  # close
                self.counts["errors"] += self.in_flight
                self.in_flight = 0
                if not self.done.done():
                    self.done.set_result(None)
                return
            self.text = bytearray() if opcode == 0x1 else None
            self.skip = n
            if n == 0:
                self.finish_message()
        if pos < end:
            self.buf += data[pos:]

    def finish_message(self) -> None:
        if self.text is not None and not self.text.isdigit():
            self.counts["errors"] += 1
        else:
            self.counts["objects"] += 1
        self.text = None
        self.in_flight -= 1
        self.send_objects()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


class UnreadConnection(LoadConnection):
    """Sends objects as fast as the server takes them and never reads a reply (`--unread`): what a
    server holds then is its window, not the client's pace."""

    def send_objects(self) -> None:
        assert self.transport is not None
        self.transport.pause_reading()
        self.writable = True
        asyncio.get_running_loop().call_later(max(0.0, self.deadline - time.monotonic()), self.stop)
        self.write_more()

    def write_more(self) -> None:
        assert self.transport is not None
        while self.writable and time.monotonic() < self.deadline:
            self.transport.writelines(self.frames)
            self.counts["sent"] = self.counts.get("sent", 0) + 1
            self.writable = self.transport.get_write_buffer_size() < 1 << 16

    def pause_writing(self) -> None:
        self.writable = False

    def resume_writing(self) -> None:
        self.writable = True
        self.write_more()

    def stop(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def one_connection(
    url: str, frames: list[bytes], depth: int, deadline: float, counts: dict[str, int], unread: bool = False
) -> None:
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    kind = UnreadConnection if unread else LoadConnection
    transport, proto = await loop.create_connection(
        lambda: kind(frames, depth, deadline, counts), parts.hostname, parts.port
    )
    key = base64.b64encode(os.urandom(16)).decode()
    transport.write(
        (
            f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await proto.done
    transport.write(client_frame(0x8, struct.pack("!H", 1000)) + struct.pack("!H", 1000))
    transport.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--depth", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--pipeline", default="")
    parser.add_argument("--unread", action="store_true", help="never read replies; report objects sent")
    args = parser.parse_args()
    ctrl: dict[str, str] = {"path": "bkt/obj"}
    if args.pipeline:
        ctrl["pipeline"] = args.pipeline
    ctrl_bytes = json.dumps(ctrl).encode()
    payload = b"a" * args.size
    frames = [client_frame(0x2, ctrl_bytes), ctrl_bytes, client_frame(0x2, payload), payload]
    counts = {"objects": 0, "errors": 0}
    started = time.monotonic()
    deadline = started + args.seconds
    await asyncio.gather(
        *(one_connection(args.url, frames, args.depth, deadline, counts, args.unread) for _ in range(args.connections))
    )
    print(json.dumps({**counts, "seconds": time.monotonic() - started}))


if __name__ == "__main__":
    uvloop.run(main())
