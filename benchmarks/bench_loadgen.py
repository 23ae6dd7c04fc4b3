"""A lean HTTP/1.1 load generator: raw asyncio protocols, pre-built request bytes, keep-alive.

Each of ``--connections`` connections sends one request, reads the whole response (by
Content-Length), and sends the next one. Requests completed inside the measurement window (after
a warm-up) are counted; the generator's own CPU use is reported so a saturated generator shows.
Only targets 127.0.0.1 (the benchmark's own servers); bounded by ``--warmup`` + ``--duration``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit

from bench_common import PLAN_BODY, PLAN_PATH, TOKEN


class _Conn(asyncio.Protocol):
    def __init__(self, request: bytes, stats: dict[str, int], window: dict[str, float]) -> None:
        self.request = request
        self.stats = stats
        self.window = window
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            marker = head.find(b"content-length:")
            length = int(head[marker + 15 :].split(b"\r\n", 1)[0]) if marker >= 0 else 0
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            status = int(self.buffer[9:12])
            del self.buffer[:total]
            now = time.perf_counter()
            if self.window["start"] <= now < self.window["end"]:
                key = "ok" if 200 <= status < 300 else "errors"
                self.stats[key] += 1
            if now >= self.window["end"]:
                assert self.transport is not None
                self.transport.close()
                return
            assert self.transport is not None
            self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


async def run(url: str, connections: int, warmup: float, duration: float) -> dict[str, float]:
    """Load ``url`` (plan requests) and return the achieved rate."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if host not in ("127.0.0.1", "localhost"):
        raise SystemExit("the load generator only targets local benchmark servers")
    body = json.dumps(PLAN_BODY).encode()
    request = (
        f"POST {PLAN_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    stats = {"ok": 0, "errors": 0}
    now = time.perf_counter()
    window = {"start": now + warmup, "end": now + warmup + duration}
    loop = asyncio.get_running_loop()
    protocols = []
    for _ in range(connections):
        _, protocol = await loop.create_connection(lambda: _Conn(request, stats, window), host, port)
        protocols.append(protocol)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(p.closed for p in protocols)), warmup + duration + 30)
    cpu_share = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    return {
        "requests_per_s": stats["ok"] / duration,
        "errors": stats["errors"],
        "connections": connections,
        "duration_s": duration,
        "loadgen_cpu_share": cpu_share,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=3.0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.url, args.connections, args.warmup, args.duration))))


if __name__ == "__main__":
    main()
