"""A real OpenID provider for the tests: ``tests/peers/oidc-server.mjs`` (oidc-provider 9.13.3).

It serves HTTPS with a certificate the test passes in (trustme), issues JWT access tokens for
``AUDIENCE`` through the client-credentials grant and can be steered at run time: token TTL,
failing token requests, a delay, a clock skew (``OIDCProvider.control``). A missing Node.js is an
error, never a skip.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support.peers import PEERS_DIR, ensure_node_peers

SCRIPT = PEERS_DIR / "oidc-server.mjs"
AUDIENCE = "https://kei.test/api"
ALL_SCOPES = "kei:plan kei:act kei:observe kei:explain kei:registry kei:bus kei:mcp kei:stream"

#: Client ids of the provider, each with its token endpoint auth method.
BASIC_CLIENT = "kei-basic"  # client_secret_basic, every scope
POST_CLIENT = "kei-post"  # client_secret_post, every scope
PLAN_ONLY_CLIENT = "kei-plan-only"  # client_secret_basic, only kei:plan


@dataclass
class OIDCProvider:
    """A running provider: ``issuer`` (``https://127.0.0.1:<port>``), its CA bundle, the client secrets."""

    issuer: str
    ca_file: Path
    secrets: dict[str, str]
    log_file: Path
    _context: ssl.SSLContext = field(repr=False, default_factory=ssl.create_default_context)

    @property
    def token_url(self) -> str:
        return f"{self.issuer}/token"

    def control(self, **changes: Any) -> dict[str, Any]:
        """Change ``ttl``, ``fail`` (statuses for the next token requests), ``delay``, ``skew``;
        ``reset=True`` restores the defaults and zeroes the counters. Returns the state."""
        with httpx.Client(verify=self._context, timeout=10) as client:
            response = client.post(f"{self.issuer}/__control", json=changes)
            response.raise_for_status()
            result: dict[str, Any] = response.json()
            return result

    def token_requests(self) -> int:
        """Token requests (POST /token) since the last reset, failed ones included."""
        return int(self.control()["token_requests"])

    def issued(self, client_id: str) -> int:
        """Tokens issued to ``client_id`` (or refused with an OAuth error) since the last reset."""
        return int(self.control()["by_client"].get(client_id, 0))


@contextlib.contextmanager
def run_oidc_provider(workdir: Path, cert_file: Path, key_file: Path, ca_file: Path) -> Iterator[OIDCProvider]:
    """Start the provider on a free loopback port with a fresh random secret per client."""
    ensure_node_peers()
    if not (PEERS_DIR / "node_modules" / "oidc-provider").exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm (Node.js >= 20) is required for the OpenID provider: install Node.js")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PEERS_DIR, check=True)
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node (Node.js >= 20) is required for the OpenID provider: install Node.js")
    client_secrets = {
        "kei-basic": "canary-oidc-basic-" + secrets.token_urlsafe(16),
        "kei-post": "canary-oidc-post-" + secrets.token_urlsafe(16),
        "kei-plan-only": "canary-oidc-plan-" + secrets.token_urlsafe(16),
    }
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "KEI_OIDC_SECRET_BASIC": client_secrets["kei-basic"],
        "KEI_OIDC_SECRET_POST": client_secrets["kei-post"],
        "KEI_OIDC_SECRET_PLAN": client_secrets["kei-plan-only"],
    }
    log_file = workdir / "oidc-provider.log"
    out_file = workdir / "oidc-provider.out"
    command = [node, str(SCRIPT), "--port", "0", "--cert", str(cert_file), "--key", str(key_file)]
    command += ["--audience", AUDIENCE, "--ttl", "300"]
    with log_file.open("wb") as log, out_file.open("wb") as out:
        proc = subprocess.Popen(command, cwd=PEERS_DIR, stdout=out, stderr=log, env=env)
        try:
            deadline = time.monotonic() + 30
            issuer = None
            while issuer is None:
                if proc.poll() is not None:
                    raise RuntimeError(f"the OpenID provider exited with {proc.returncode}:\n{log_file.read_text()}")
                for line in out_file.read_text().splitlines():
                    if line.startswith("listening "):
                        issuer = line.split(" ", 1)[1].strip()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the OpenID provider did not start within 30 s:\n{log_file.read_text()}")
                time.sleep(0.05)
            provider = OIDCProvider(
                issuer=issuer,
                ca_file=ca_file,
                secrets=client_secrets,
                log_file=log_file,
                _context=ssl.create_default_context(cafile=str(ca_file)),
            )
            provider.control(reset=True)
            yield provider
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
