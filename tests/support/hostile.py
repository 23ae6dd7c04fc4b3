"""Hostile HTTP peers on loopback (real sockets): they trickle, bomb and never finish.

``run_hostile(mode)`` starts a threaded server that answers every request the way ``mode`` says:

* ``"trickle-body"``: 200 headers with a long Content-Length, then one body byte every 0.2 s.
* ``"trickle-headers"``: a status line, then one byte of an endless header every 0.2 s (each
  byte arrives well within any read timeout, so only a deadline over the whole wait ends it).
* ``"gzip-bomb"``: 200 with ``Content-Encoding: gzip``: ~1 MB that inflates to 1 GiB.
* ``"endless-chunked"``: 200 chunked, 64 KiB chunks as fast as the client reads, forever.
* ``"huge-error"``: 500 with a 50 MB problem body.
* ``"deep-json"``: 200 with a ~400 KB JSON body nested 200,000 levels deep.
* ``"huge-int"``: 200 with a JSON body holding an integer of 5,000 digits.
* ``"endless-sse-line"``: an event stream whose first line never ends (``/stream/poll`` answers an
  empty page, so a stream can locate itself first).

``requests`` counts the requests it received.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from functools import cache


@cache
def _bomb() -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip container
    block = b"\0" * (1 << 20)
    parts = [compressor.compress(block) for _ in range(1024)]
    parts.append(compressor.flush())
    return b"".join(parts)


class HostileServer:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.requests = 0
        self.sent = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._stop = threading.Event()
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            self.requests += 1
            if self.mode == "trickle-body":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
                while not self._stop.is_set():
                    conn.sendall(b" ")
                    time.sleep(0.2)
            elif self.mode == "trickle-headers":
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
                while not self._stop.is_set():
                    conn.sendall(b"a")
                    time.sleep(0.2)
            elif self.mode == "gzip-bomb":
                body = _bomb()
                head = (
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n"
                )
                conn.sendall(head.encode() + body)
            elif self.mode == "endless-chunked":
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                chunk = b"%x\r\n" % 65536 + b" " * 65536 + b"\r\n"
                while not self._stop.is_set():
                    conn.sendall(chunk)
            elif self.mode == "endless-sse-line":
                if b"/stream/poll" in data.split(b"\r\n", 1)[0]:
                    body = b'{"events": [], "last_event_id": "0"}'
                    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                    conn.sendall(head.encode() + body)
                    return
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
                )
                chunk = b"%x\r\n" % 65536 + b"x" * 65536 + b"\r\n"
                while not self._stop.is_set():
                    self.sent += 65536
                    conn.sendall(chunk)
            elif self.mode in ("deep-json", "huge-int"):
                body = (
                    b"[" * 200_000 + b"]" * 200_000 if self.mode == "deep-json" else b'{"status": ' + b"7" * 5000 + b"}"
                )
                head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                conn.sendall(head.encode() + body)
            elif self.mode == "huge-error":
                size = 50 * 1024 * 1024
                head = (
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/problem+json\r\n"
                    f"Content-Length: {size}\r\n\r\n"
                )
                conn.sendall(head.encode())
                block = b" " * 65536
                for _ in range(size // len(block)):
                    conn.sendall(block)

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(timeout=2)


@contextlib.contextmanager
def run_hostile(mode: str) -> Iterator[HostileServer]:
    server = HostileServer(mode)
    try:
        yield server
    finally:
        server.close()
