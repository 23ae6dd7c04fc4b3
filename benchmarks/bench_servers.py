"""Servers for the benchmarks, each started in its own process by ``run.py``.

``ref``  - the reference server (``kei_agent.testing.run_server``: Starlette on uvicorn + httptools,
           one worker, access log off), dev mode (accepts ``dev-token``).
``fast`` - a minimal raw-ASGI app on uvicorn + httptools (one worker, access log off) that answers
           every request with a canned response recorded from the reference server (so the bodies
           conform to the spec). Used where the reference server's own cost would dominate.

Both write their base URL to ``--url-file`` once they accept connections and run until SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import threading
from pathlib import Path
from typing import Any


def _announce(url_file: Path, url: str) -> None:
    """Write the base URL atomically (the orchestrator polls for the file)."""
    tmp = url_file.with_suffix(".tmp")
    tmp.write_text(url)
    tmp.replace(url_file)


def _wait_for_sigterm() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


def serve_reference(url_file: Path) -> None:
    """The reference server, in a background thread of this process, until SIGTERM."""
    from kei_agent.testing import run_server

    with run_server(port=0) as server:
        _announce(url_file, server.base_url)
        _wait_for_sigterm()


def make_fast_app(responses: dict[str, dict[str, Any]]) -> Any:
    """A raw ASGI app: canned status/body per path, echoes X-Correlation-ID."""
    canned: dict[str, tuple[int, bytes]] = {
        path: (int(item["status"]), item["body"].encode()) for path, item in responses.items()
    }
    not_found = (404, b'{"type":"about:blank","title":"Not found","status":404}')

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        status, body = canned.get(scope["path"], not_found)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", b"req-bench"),
        ]
        for name, value in scope["headers"]:
            if name == b"x-correlation-id":
                headers.append((name, value))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def serve_fast(url_file: Path, responses_file: Path) -> None:
    """The minimal server, in a background thread of this process, until SIGTERM."""
    import uvicorn

    responses = json.loads(responses_file.read_text())
    # IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only for it; without it every
    # keep-alive response waits ~40 ms (Nagle + delayed ACK).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        make_fast_app(responses),
        http="httptools",
        lifespan="off",
        access_log=False,
        log_config=None,
        log_level="warning",
        backlog=2048,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.01)
        if not thread.is_alive():
            raise SystemExit("the fast server did not start")
    _announce(url_file, f"http://127.0.0.1:{port}")
    _wait_for_sigterm()
    server.should_exit = True
    thread.join(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["ref", "fast"])
    parser.add_argument("--url-file", type=Path, required=True)
    parser.add_argument("--responses", type=Path, help="fast: JSON {path: {status, body}}")
    args = parser.parse_args()
    if args.kind == "ref":
        serve_reference(args.url_file)
    else:
        serve_fast(args.url_file, args.responses)


if __name__ == "__main__":
    main()
