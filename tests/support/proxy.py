"""A real forward HTTP proxy (pproxy: plain requests and CONNECT tunnels) on loopback."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.peers import free_port


class ForwardProxy:
    """A running proxy: ``url`` to put in ``HTTP_PROXY``/``HTTPS_PROXY``; ``targets()`` lists the
    ``host:port`` of every connection it opened for a client (plain request or tunnel)."""

    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self._log = log

    def targets(self) -> list[str]:
        """``host:port`` per proxied connection, in order (from the proxy's verbose log)."""
        lines = self._log.read_text(encoding="utf-8", errors="replace").splitlines()
        return [line.rsplit(" -> ", 1)[1].strip() for line in lines if " -> " in line]


@contextlib.contextmanager
def run_forward_proxy(log: Path) -> Iterator[ForwardProxy]:
    """Start pproxy (``http://`` listener, verbose) on a free loopback port; stop it afterwards."""
    port = free_port()
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "pproxy", "-l", f"http://127.0.0.1:{port}", "-v"],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 20
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"pproxy exited with {proc.returncode}:\n{log.read_text()}")
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"pproxy did not start within 20 s:\n{log.read_text()}")
                time.sleep(0.05)
            yield ForwardProxy(f"http://127.0.0.1:{port}", log)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
