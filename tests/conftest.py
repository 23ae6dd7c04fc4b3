from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.peers import run_prism

# Fixtures of the enterprise layer (postgres_url, otel, json_logs) and the installed wheel (wheel_install).
pytest_plugins = ["tests.support.enterprise", "tests.support.wheel"]


@pytest.fixture(scope="session")
def prism_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prism 5.14.2 mocking ``openapi/kei-agent.yaml`` on 127.0.0.1 (validates every request)."""
    log = Path(tmp_path_factory.mktemp("prism")) / "prism.log"
    with run_prism(log) as url:
        yield url


@pytest.fixture
def anyio_backend() -> str:
    """The async flavour runs on asyncio (the client's ``_backend`` is asyncio-based)."""
    return "asyncio"
