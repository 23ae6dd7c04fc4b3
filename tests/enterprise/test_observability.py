"""Without OpenTelemetry nothing of it is imported; the clients' imports stay light."""

from __future__ import annotations

import subprocess
import sys

from kei_agent.observability import AttemptScope, Instrumentation, OperationScope, get_instrumentation
from kei_agent.testing import run_server
from tests.support.peers import REPO_ROOT

BLOCK_OTEL = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "opentelemetry" or name.startswith("opentelemetry."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Block())
"""


def run(script: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-W", "error", "-c", script, *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_without_opentelemetry_the_clients_work_and_import_nothing_of_it() -> None:
    script = (
        BLOCK_OTEL
        + """
import asyncio
from kei_agent import AgentClientConfig
from kei_agent.observability import get_instrumentation
import kei_agent_async, kei_agent_sync
config = AgentClientConfig(base_url=sys.argv[1], api_token="t")
with kei_agent_sync.KeiAgentClient(config) as client:
    client.plan_task(objective="x")
async def main():
    async with kei_agent_async.KeiAgentClient(config) as client:
        await client.plan_task(objective="x")
asyncio.run(main())
assert type(get_instrumentation()).__name__ == "Instrumentation"
print(sorted(name for name in sys.modules if name.startswith("opentelemetry")))
"""
    )
    with run_server(tokens=["t"]) as server:
        assert run(script, server.base_url) == "[]"
        headers = server.stats.last_headers("planTask")
        assert headers is not None
        assert "traceparent" not in headers


def test_importing_a_client_flavour_imports_no_optional_dependency() -> None:
    script = """
import sys
import kei_agent_async, kei_agent_sync, kei_agent
from kei_agent import get_logger, get_input_validator, HealthStatus
heavy = ["opentelemetry", "psutil", "psycopg", "sqlite3", "jsonschema", "hypothesis", "requests_oauthlib", "starlette"]
print(sorted(name for name in heavy if name in sys.modules))
"""
    assert run(script) == "[]"


def test_kei_otel_disabled_keeps_the_clients_away_from_an_installed_opentelemetry() -> None:
    script = """
import sys
from kei_agent.observability import get_instrumentation
print(type(get_instrumentation()).__name__, "opentelemetry.trace" in sys.modules)
"""
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
        env={**__import__("os").environ, "KEI_OTEL_DISABLED": "1"},
    )
    assert proc.stdout.strip() == "Instrumentation False"


def test_the_no_op_instrumentation_is_inert() -> None:
    noop = Instrumentation()
    headers: dict[str, str] = {}
    with noop.operation("planTask") as scope:
        assert isinstance(scope, OperationScope)
        scope.protocol = "rpc"
        with noop.attempt(
            operation_id="planTask",
            method="POST",
            url_template="/x",
            url="http://h/x",
            protocol="rpc",
            retry_count=0,
            headers=headers,
        ) as attempt:
            assert isinstance(attempt, AttemptScope)
            attempt.response(200)
            attempt.transport_error(OSError())
    noop.breaker_transition("k", "closed", "open")
    noop.token_refresh("success")
    assert headers == {}
    assert get_instrumentation().enabled  # the dev extra installs OpenTelemetry
