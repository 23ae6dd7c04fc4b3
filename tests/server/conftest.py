"""Fixtures for the reference-server tests: real sockets, raw httpx, the generated clients."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from kei_agent.testing import ServerHandle, run_server
from kei_agent.testing.settings import ALL_SCOPES

TOKEN = "test-token"
PLAN_ONLY = "plan-only-token"
READ_REGISTRY = "registry-token"
TOKENS = {TOKEN: sorted(ALL_SCOPES), PLAN_ONLY: ["kei:plan"], READ_REGISTRY: ["kei:registry"]}
AUTH = {"Authorization": f"Bearer {TOKEN}"}

# Short waits keep long polls and streams quick; every JSON answer is checked against the spec.
FAST = {
    "max_wait_seconds": 5.0,
    "sse_keepalive_seconds": 0.2,
    "ws_ping_interval": 0.5,
    "validate_responses": True,
    "admin_enabled": True,
}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    """One server per test module (tests must not assume empty state)."""
    with run_server(tokens=TOKENS, **FAST) as handle:
        yield handle


@pytest.fixture
def fresh_server() -> Iterator[ServerHandle]:
    """A server of its own for a test that needs empty state or mutates faults."""
    with run_server(tokens=TOKENS, **FAST) as handle:
        yield handle


@pytest.fixture
def http(server: ServerHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers=AUTH, timeout=10) as client:
        yield client


@pytest.fixture(autouse=True)
def _clean_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    """Faults never leak from one test into the next on a shared server."""
    yield
    if "server" in request.fixturenames:
        request.getfixturevalue("server").faults.clear()
