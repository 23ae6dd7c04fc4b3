"""Hostile loopback peers of our own for the auth tests: token endpoints that redirect, collect, stall or trickle.

Each server runs in daemon threads on 127.0.0.1 (optionally TLS with a trustme certificate) and
records every request it reads, so a test can prove what a client sent where.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import trustme

#: ``(connection, raw request, server) -> None``: answers one request (or stalls) on ``connection``.
Answer = Callable[[socket.socket, bytes, "HostileServer"], None]


@dataclass
class HostileServer:
    """A running server: its ``origin`` (``scheme://host:port``) and the raw requests it read."""

    origin: str
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def received(self, needle: str) -> bool:
        """Whether any request it read contains ``needle`` (headers or body)."""
        return any(needle.encode() in raw for raw in self.requests)


def read_request(conn: socket.socket, limit: float = 5.0) -> bytes:
    """Read one HTTP/1.1 request (head and a Content-Length body); what arrived within ``limit`` s."""
    conn.settimeout(limit)
    data = b""
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            body += chunk
        data = head + b"\r\n\r\n" + body
    return data


def respond(conn: socket.socket, status: str, headers: dict[str, str], body: bytes = b"") -> None:
    """Write one complete response and leave the connection to be closed."""
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


@contextlib.contextmanager
def run_hostile(answer: Answer, *, ca: trustme.CA | None = None, host: str = "127.0.0.1") -> Iterator[HostileServer]:
    """Serve ``answer`` on a free port (HTTPS with a certificate of ``ca`` for 127.0.0.1/localhost)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    context: ssl.SSLContext | None = None
    if ca is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    server = HostileServer(origin=f"{'https' if context else 'http'}://{host}:{port}")

    def handle(raw_conn: socket.socket) -> None:
        conn = raw_conn
        try:
            if context is not None:
                raw_conn.settimeout(5.0)
                conn = context.wrap_socket(raw_conn, server_side=True)
            request = read_request(conn)
            server.requests.append(request)
            answer(conn, request, server)
        except OSError:
            pass
        finally:
            for sock in {conn, raw_conn}:
                with contextlib.suppress(OSError):
                    sock.close()

    def accept_loop() -> None:
        while not server.stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server.connections += 1
            threading.Thread(target=handle, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop.set()
        thread.join()
        listener.close()


def redirect_to(location: str, status: str = "307 Temporary Redirect") -> Answer:
    """Answer every request with a redirect to ``location``."""

    def answer(conn: socket.socket, request: bytes, server: HostileServer) -> None:
        respond(conn, status, {"Location": location})

    return answer


def issue_token(token: str) -> Answer:
    """Answer every request with a client-credentials token response carrying ``token``."""
    body = json.dumps({"access_token": token, "token_type": "Bearer", "expires_in": 3600}).encode()

    def answer(conn: socket.socket, request: bytes, server: HostileServer) -> None:
        respond(conn, "200 OK", {"Content-Type": "application/json", "Cache-Control": "no-store"}, body)

    return answer


def stall(*, trickle: bool) -> Answer:
    """Never answer: keep the connection open (``trickle``: send one header byte every 0.2 s)."""

    def answer(conn: socket.socket, request: bytes, server: HostileServer) -> None:
        head = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000
        index = 0
        while not server.stop.is_set():
            if trickle and index < len(head):
                conn.sendall(head[index : index + 1])
                index += 1
            time.sleep(0.2)

    return answer
