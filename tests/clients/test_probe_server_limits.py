"""The probe server (``HealthManager.serve``, both flavours) under idle and slowloris connections.

The server runs in a process of its own with the common limit of 1,024 open files, as a pod
would; the test opens 1,020 connections that stay idle or trickle one header line per second.
The kubelet's ``GET /health`` must still be answered, and the server holds a bounded number of
connections.
"""

from __future__ import annotations

import contextlib
import os
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ATTACKERS = 1020
SERVER = """
import asyncio, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
if sys.argv[1] == "async":
    from kei_agent_async import HealthManager

    async def main():
        server = await HealthManager().serve("127.0.0.1", 0)
        print(server.port, flush=True)
        await server.serve_forever()

    asyncio.run(main())
else:
    from kei_agent_sync import HealthManager

    server = HealthManager().serve("127.0.0.1", 0)
    print(server.port, flush=True)
    server.serve_forever()
"""


@contextlib.contextmanager
def probe_server(flavour: str) -> Iterator[tuple[int, int]]:
    """A probe server process of ``flavour``; yields (port, pid)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, flavour], stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[2]
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield port, proc.pid
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@contextlib.contextmanager
def attack(port: int, *, slowloris: bool) -> Iterator[list[socket.socket]]:
    """``ATTACKERS`` connections that never finish a request (``slowloris``: one header line a second)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < ATTACKERS + 512:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, ATTACKERS + 1024), hard))
    sockets: list[socket.socket] = []
    stop = threading.Event()
    for _ in range(ATTACKERS):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.settimeout(0.5)  # one after another, as fast as the server lets them in
        with contextlib.suppress(TimeoutError):
            sock.connect(("127.0.0.1", port))
        sock.setblocking(False)
        sockets.append(sock)

    def trickle() -> None:
        lines = [b"GET /health HTTP/1.1\r\n"] + [f"X-Slow-{n}: 1\r\n".encode() for n in range(1000)]
        for line in lines:
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.send(line)
            if stop.wait(1.0):
                return

    thread = threading.Thread(target=trickle, daemon=True)
    if slowloris:
        thread.start()
    try:
        time.sleep(1.0)
        yield sockets
    finally:
        stop.set()
        if slowloris:
            thread.join()
        for sock in sockets:
            sock.close()


@pytest.mark.parametrize("slowloris", [False, True], ids=["idle", "slowloris"])
@pytest.mark.parametrize("flavour", ["async", "sync"])
def test_idle_or_trickling_connections_cannot_lock_the_probes_out(flavour: str, slowloris: bool) -> None:
    with probe_server(flavour) as (port, pid), attack(port, slowloris=slowloris):
        held = open_files(pid)
        response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5.0)
        held_after = open_files(pid)
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"
    assert held < 64 + 40, f"the probe server holds {held} open files during the attack"
    assert held_after < 64 + 40
