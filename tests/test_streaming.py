"""Streams all the way: every hop sends and receives at once, with objects larger than every buffer.

Each of these hung before (issue 16): the notebook client's put of a produced body (~24 MiB), an
inline pipeline of two streaming servers (~48 MiB), and LocalTarget pushing a large object to a
streaming transform. Objects here are 64 MiB and more: past the socket buffers of both sides, the
pipes (512 KiB) and the outbound reader's high-water mark (1 MiB).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import select
import socket
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest

from aisetl import FastAPIServer, LocalTarget
from aisetl.notebook.duplex import duplex_put
from tests.procs import peak_rss_mib, uvicorn_subprocess
from tests.transforms import StreamUpper

MIB = 1 << 20
_LETTERS = b"abcdefghijklmnopqrstuvwxyz" * (MIB // 26 + 2)


def piece(i: int, size: int = MIB) -> bytes:
    """Lower-case letters, shifted per piece so that pieces differ (a misordered piece shows)."""
    return _LETTERS[i % 26 : i % 26 + size]


def produced(total: int, size: int = MIB) -> Iterator[bytes]:
    """`total` bytes made as they are sent, never all in memory."""
    for i in range(total // size):
        yield piece(i, size)


def expected_upper(total: int, size: int = MIB) -> tuple[int, str]:
    digest = hashlib.sha256()
    for chunk in produced(total, size):
        digest.update(chunk.upper())
    return total, digest.hexdigest()


def size_and_digest(chunks: Iterable[bytes]) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


# --- the three hangs ---------------------------------------------------------------------------------


def test_put_of_a_produced_body_streams_back_while_it_is_sent() -> None:
    srv = StreamUpper.serve(name="duplex-put")
    resp = srv.put(produced(96 * MIB), stream=True)
    assert resp.status_code == 200
    assert size_and_digest(resp.iter_bytes()) == expected_upper(96 * MIB)


def test_put_of_a_large_file_object_is_answered_in_full(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    with open(path, "wb") as f:
        for chunk in produced(64 * MIB):
            f.write(chunk)
    srv = StreamUpper.serve(name="duplex-file")
    with open(path, "rb") as f:
        resp = srv.put(f)  # Content-Length from the file's size; the reply read whole
    assert resp.status_code == 200
    assert size_and_digest([resp.content]) == expected_upper(64 * MIB)


def test_inline_pipeline_of_two_streaming_servers_passes_a_large_object_through() -> None:
    first = StreamUpper.serve(name="stage-1")
    second = StreamUpper.serve(name="stage-2")
    resp = first.put(produced(96 * MIB), pipeline=[second], stream=True)
    assert resp.status_code == 200
    assert size_and_digest(resp.iter_bytes()) == expected_upper(96 * MIB)
    assert first.server is not None and second.server is not None
    assert first.server.stats.errors == 0 and second.server.stats.errors == 0


def test_local_target_pushes_a_large_object_to_a_streaming_transform(tgt: LocalTarget) -> None:
    tgt.put("src/big", b"".join(produced(80 * MIB)))
    srv = StreamUpper.serve(target=tgt, name="pushed")
    out = tgt.get("src/big", etl=srv, fqn=False)
    assert size_and_digest([out]) == expected_upper(80 * MIB)


def test_a_producer_error_cuts_the_request_and_reaches_the_caller() -> None:
    def failing() -> Iterator[bytes]:
        yield from produced(8 * MIB)
        raise ValueError("the source broke")

    srv = StreamUpper.serve(name="duplex-fail")
    with pytest.raises(ValueError, match="the source broke"):
        srv.put(failing()).read()
    assert srv.put(b"still serving").content == b"STILL SERVING"


# --- the 2-stage pipeline in subprocesses, memory measured --------------------------------------------


def pipeline_through_subprocesses(total: int) -> list[float]:
    """Push `total` bytes made on the fly through two streaming servers; their peak RSS in MiB."""
    env = {"AIS_TARGET_URL": "http://127.0.0.1:9/v1/etl/_object/x/y"}
    with (
        uvicorn_subprocess("tests.streaming_app:app", env) as (first, first_proc),
        uvicorn_subprocess("tests.streaming_app:app", env) as (second, second_proc),
    ):
        resp = duplex_put(first + "/bkt/big", produced(total), {"Ais-Node-Url": second})
        try:
            assert resp.status_code == 200
            assert size_and_digest(resp.iter_bytes()) == expected_upper(total)
        finally:
            resp.close()
        return [peak_rss_mib(first_proc.pid), peak_rss_mib(second_proc.pid)]


def test_1_gib_through_a_two_stage_pipeline_in_bounded_memory() -> None:
    for rss in pipeline_through_subprocesses(1024 * MIB):
        assert rss < 100, f"a server peaked at {rss:.0f} MiB"


# --- small yields and small reads --------------------------------------------------------------------


class PausingStream(FastAPIServer):
    """Yields a little, then waits until the client has seen it: only a flush on pause lets it go on."""

    seen = threading.Event()

    def transform_stream(self, reader: BinaryIO, path: str, etl_args: str) -> Iterator[bytes]:
        yield b"first"
        if not PausingStream.seen.wait(60):
            raise RuntimeError("the first piece never reached the client")
        yield b" second"


def test_output_of_a_pausing_generator_is_flushed_without_waiting_for_more() -> None:
    srv = PausingStream.serve(name="pausing")
    received = b""
    with httpx.stream("PUT", srv.url + "/b/o", content=b"x", timeout=60) as resp:
        for chunk in resp.iter_raw():
            received += chunk
            if received == b"first":
                PausingStream.seen.set()
    assert received == b"first second"


class SmallYields(FastAPIServer):
    def transform_stream(self, reader: BinaryIO, path: str, etl_args: str) -> Iterator[bytes]:
        while chunk := reader.read(100):
            yield chunk.upper()


def test_small_yields_arrive_complete_and_in_order() -> None:
    srv = SmallYields.serve(name="small-yields")
    data = b"".join(produced(8 * MIB, 4096 + 7))  # pieces that do not divide the yields
    resp = srv.put(data)
    assert resp.status_code == 200 and resp.content == data.upper()


class LineReader(FastAPIServer):
    """Reads the body every way a transform may: lines, read(n), readinto, read1, iteration."""

    def transform_stream(self, reader: BinaryIO, path: str, etl_args: str) -> Iterator[bytes]:
        if etl_args == "lines":
            for line in reader:
                yield b"%d:" % len(line) + line
        elif etl_args == "readline":
            while line := reader.readline(5):
                yield line + b"|"
        elif etl_args == "readinto":
            buf = bytearray(1000)
            while n := reader.readinto(buf):  # type: ignore[attr-defined]
                yield bytes(buf[:n]).upper()
        else:
            while chunk := reader.read1(333):  # type: ignore[attr-defined]
                if len(chunk) > 333:
                    raise ValueError(f"read1(333) returned {len(chunk)} bytes")
                yield chunk


def chunked(data: bytes, step: int) -> Iterator[bytes]:
    for i in range(0, len(data), step):
        yield data[i : i + step]


def test_a_transform_reads_a_streamed_body_by_lines_and_small_pieces() -> None:
    srv = LineReader.serve(name="lines")
    lines = [b"line %d %s\n" % (i, b"x" * (i % 50)) for i in range(60000)] + [b"no newline at the end"]
    data = b"".join(lines)
    # Sent chunked in odd pieces: the body reaches the transform through the pipe, not whole.
    got = srv.put(chunked(data, 70001), etl_args="lines").content
    assert got == b"".join(b"%d:" % len(line) + line for line in lines)
    got = srv.put(chunked(data, 70001), etl_args="readline").content
    assert got.replace(b"|", b"") == data
    pieces = got.split(b"|")[:-1]
    assert all(0 < len(p) <= 5 and b"\n" not in p[:-1] for p in pieces)
    assert all(len(p) == 5 or p.endswith(b"\n") or p is pieces[-1] for p in pieces)
    assert srv.put(chunked(data, 70001), etl_args="readinto").content == data.upper()
    assert srv.put(chunked(data, 65536), etl_args="read1").content == data


# --- WebSocket: a peer that does not read its replies is held back ----------------------------------


def ws_frame(payload: bytes) -> bytes:
    """A masked binary client frame (all-zero mask key: the payload goes out as it is)."""
    n = len(payload)
    head = bytes([0x82]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 127]) + n.to_bytes(8, "big"))
    return head + b"\x00\x00\x00\x00" + payload


def read_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        got = sock.recv(min(n - len(buf), 1 << 20))
        if not got:
            raise ConnectionError("server closed the connection")
        buf += got
    return bytes(buf)


def read_reply_size(sock: socket.socket) -> int:
    head = read_exactly(sock, 2)
    n = head[1] & 0x7F
    if n == 126:
        n = int.from_bytes(read_exactly(sock, 2), "big")
    elif n == 127:
        n = int.from_bytes(read_exactly(sock, 8), "big")
    left = n
    while left:
        left -= len(read_exactly(sock, min(left, 1 << 20)))
    return n


class Identity(FastAPIServer):
    def transform(self, data: bytes | str, path: str, etl_args: str) -> bytes:
        assert isinstance(data, bytes)
        return data


def test_a_websocket_peer_that_reads_no_replies_is_held_back_and_then_answered_in_full() -> None:
    srv = Identity.serve(name="ws-window")
    host, port = "127.0.0.1", srv.port
    sock = socket.create_connection((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    handshake = b""
    while b"\r\n\r\n" not in handshake:
        handshake += sock.recv(4096)
    assert handshake.startswith(b"HTTP/1.1 101")
    obj = ws_frame(json.dumps({"path": "bkt/o"}).encode()) + ws_frame(os.urandom(4 * MIB))
    # Send whole objects until the server stops taking bytes (replies unread): it must stop early.
    sock.setblocking(False)
    sent_objects, pending, stalls = 0, memoryview(obj), 0
    while stalls < 20 and sent_objects < 64:
        try:
            pending = pending[sock.send(pending) :]
        except BlockingIOError:
            stalls += 1
            select.select([], [sock], [], 0.1)
            continue
        stalls = 0
        if not pending:
            sent_objects, pending = sent_objects + 1, memoryview(obj)
    # 16 MiB window (input and output) + 1 object past it + uvicorn's read-ahead + socket buffers.
    assert sent_objects < 14, f"the server took {sent_objects} objects of 4 MiB without a reply read"
    # Now read the replies while the last object goes out: every object is answered, in full.
    sock.setblocking(True)
    sizes: list[int] = []
    reader = threading.Thread(target=lambda: sizes.extend(read_reply_size(sock) for _ in range(sent_objects + 1)))
    reader.start()
    sock.sendall(pending)
    reader.join(120)
    sock.close()
    assert sizes == [4 * MIB] * (sent_objects + 1)
