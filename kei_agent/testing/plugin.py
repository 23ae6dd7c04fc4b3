"""pytest plugin (entry point ``pytest11``): fixtures that run the reference KEI server.

* ``kei_server`` - a fresh server per test (empty state, no faults), accepting ``dev-token``.
* ``kei_server_session`` - one server for the whole session; tests must not rely on its state
  being empty, and should clear faults they add.

The client fixtures ``kei_client`` / ``kei_async_client`` join here once the clients exist.

Everything heavy is imported inside the fixtures, so installing the SDK without the ``server``
extra never breaks pytest.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .server import ServerHandle

DEV_TOKEN = "dev-token"


@pytest.fixture
def kei_server() -> Iterator[ServerHandle]:
    """A reference KEI server on 127.0.0.1 (random free port) for one test; token ``dev-token``."""
    from .server import run_server

    with run_server(tokens=[DEV_TOKEN]) as server:
        yield server


@pytest.fixture(scope="session")
def kei_server_session() -> Iterator[ServerHandle]:
    """One reference KEI server for the whole test session; token ``dev-token``."""
    from .server import run_server

    with run_server(tokens=[DEV_TOKEN]) as server:
        yield server


# Client fixtures (`kei_client`, `kei_async_client`) are added by the [clients] issue: they build
# a `kei_agent_sync.KeiAgentClient` / `kei_agent_async.KeiAgentClient` on `kei_server.base_url`.
