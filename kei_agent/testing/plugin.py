"""pytest plugin (entry point ``pytest11``): fixtures that run the reference KEI server.

* ``kei_server`` - a fresh server per test (empty state, no faults), accepting ``dev-token``.
* ``kei_server_session`` - one server for the whole session; tests must not rely on its state
  being empty, and should clear faults they add.

* ``kei_client`` - a ``kei_agent_sync.KeiAgentClient`` connected to ``kei_server``.
* ``kei_async_client`` - a ``kei_agent_async.KeiAgentClient`` connected to ``kei_server`` (an async
  fixture: use it from tests run by an async plugin, e.g. ``@pytest.mark.anyio``).

Everything heavy is imported inside the fixtures, so installing the SDK without the ``server``
extra never breaks pytest.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import kei_agent_async
    import kei_agent_sync

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


@pytest.fixture
def kei_client(kei_server: ServerHandle) -> Iterator[kei_agent_sync.KeiAgentClient]:
    """A blocking client of ``kei_server`` (agent id ``test-agent``), closed after the test."""
    from kei_agent import AgentClientConfig
    from kei_agent_sync import KeiAgentClient

    config = AgentClientConfig(base_url=kei_server.base_url, api_token=DEV_TOKEN, agent_id="test-agent")
    with KeiAgentClient(config) as client:
        yield client


@pytest.fixture
async def kei_async_client(kei_server: ServerHandle) -> AsyncIterator[kei_agent_async.KeiAgentClient]:
    """An async client of ``kei_server`` (agent id ``test-agent``), closed after the test."""
    from kei_agent import AgentClientConfig
    from kei_agent_async import KeiAgentClient

    config = AgentClientConfig(base_url=kei_server.base_url, api_token=DEV_TOKEN, agent_id="test-agent")
    async with KeiAgentClient(config) as client:
        yield client
