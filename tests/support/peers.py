"""Start the pinned Node.js peers (from ``tests/peers/package-lock.json``) on loopback.

A missing Node.js or a failed install is an error, never a skip: CI must have every peer.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
PEERS_DIR = REPO_ROOT / "tests" / "peers"
SPEC_PATH = REPO_ROOT / "openapi" / "kei-agent.yaml"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_node_peers() -> Path:
    """Install the pinned npm peers (``npm ci``) unless present; returns ``node_modules/.bin``."""
    bin_dir = PEERS_DIR / "node_modules" / ".bin"
    if (bin_dir / "prism").exists():
        return bin_dir
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm (Node.js >= 20) is required to run the contract tests: install Node.js")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PEERS_DIR, check=True)
    return bin_dir


@contextlib.contextmanager
def run_prism(log_path: Path, spec: Path = SPEC_PATH) -> Iterator[str]:
    """Serve ``spec`` with Prism 5.14.2 on 127.0.0.1; yields the base URL."""
    bin_dir = ensure_node_peers()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(bin_dir / "prism"), "mock", "-h", "127.0.0.1", "-p", str(port), str(spec)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "NO_COLOR": "1"},
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"Prism exited with {proc.returncode}:\n{log_path.read_text()}")
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{base_url}/api/v1/health", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Prism did not start within 60 s:\n{log_path.read_text()}")
                time.sleep(0.2)
            yield base_url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
