"""The health manager against real systems: PostgreSQL (up, down, wrong password), SQLite, an HTTP
endpoint answering 200/503 or too slowly, memory, the KEI server, custom checks, probe endpoints.

Written once for the async flavour; tests/clients/_sync holds the generated twin.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kei_agent import AgentClientConfig, RetryConfig
from kei_agent.health import (
    APIHealthCheck,
    BaseHealthCheck,
    CustomHealthCheck,
    DatabaseHealthCheck,
    HealthCheckResult,
    HealthStatus,
    KeiAPIHealthCheck,
    MemoryHealthCheck,
)
from kei_agent.testing import Fault, ServerHandle, run_server
from kei_agent_async import HealthManager, KeiAgentClient, get_health_manager
from tests.support.peers import free_port

pytestmark = pytest.mark.anyio

TOKEN = "health-token"


@pytest.fixture
def kei_server() -> Iterator[ServerHandle]:
    with run_server(tokens=[TOKEN]) as handle:
        yield handle


def health_url(server: ServerHandle) -> str:
    return f"{server.base_url}/api/v1/health"


# ---------------------------------------------------------------------------------- databases


async def test_postgresql_check_runs_a_real_query(postgres_url: str) -> None:
    manager = HealthManager([DatabaseHealthCheck("db", postgres_url, query="SELECT 42")])
    summary = await manager.run_all_checks()
    result = summary.check("db")
    assert summary.overall_status == "healthy"
    assert result.status is HealthStatus.HEALTHY
    assert result.details["result"] == 42
    assert result.details["server"].startswith("postgresql ")
    assert result.duration_ms > 0
    assert "kei-test-password" not in json.dumps(summary.to_dict())


async def test_a_database_that_is_down_is_unhealthy() -> None:
    url = f"postgresql://kei:down-pw-123@127.0.0.1:{free_port()}/kei"
    manager = HealthManager([DatabaseHealthCheck("db", url, timeout_seconds=5)])
    summary = await manager.run_all_checks()
    result = summary.check("db")
    assert summary.overall_status is HealthStatus.UNHEALTHY
    assert result.status is HealthStatus.UNHEALTHY
    assert result.error is not None
    assert "OperationalError" in result.error
    assert "refused" in result.error
    assert "down-pw-123" not in json.dumps(summary.to_dict())


async def test_a_wrong_password_is_unhealthy_without_showing_it(postgres_url: str) -> None:
    wrong = postgres_url.replace("kei-test-password", "wrong-pw-456")
    result = await HealthManager([DatabaseHealthCheck("db", wrong)]).run_check("db")
    assert result.status is HealthStatus.UNHEALTHY
    assert result.error is not None
    assert "password authentication failed" in result.error
    assert "wrong-pw-456" not in json.dumps(result.to_dict())


async def test_sqlite_databases(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE jobs (id INTEGER)")
    connection.close()
    manager = HealthManager(
        [
            DatabaseHealthCheck("file", f"sqlite:///{path}", query="SELECT count(*) FROM jobs"),
            DatabaseHealthCheck("memory", "sqlite:///:memory:"),
            DatabaseHealthCheck("missing", f"sqlite:///{tmp_path / 'nope.db'}", critical=False),
        ]
    )
    summary = await manager.run_all_checks()
    assert summary.check("file").details["result"] == 0
    assert summary.check("memory").status is HealthStatus.HEALTHY
    assert summary.check("missing").status is HealthStatus.UNHEALTHY
    assert "FileNotFoundError" in (summary.check("missing").error or "")
    assert summary.overall_status is HealthStatus.DEGRADED


# -------------------------------------------------------------------------------------- HTTP


async def test_http_endpoint_answering_200_then_503(kei_server: ServerHandle) -> None:
    manager = HealthManager([APIHealthCheck(name="api", url=health_url(kei_server))])
    healthy = await manager.run_check("api")
    assert healthy.status is HealthStatus.HEALTHY
    assert healthy.details["status_code"] == 200
    kei_server.faults.add(Fault.status(503, route="getHealth"))
    failing = await manager.run_check("api")
    assert failing.status is HealthStatus.UNHEALTHY
    assert failing.message == "expected HTTP 200, got 503"
    assert failing.details["status_code"] == 503


async def test_expected_status_and_headers(kei_server: ServerHandle) -> None:
    check = APIHealthCheck(
        name="plan-requires-auth",
        url=f"{kei_server.base_url}/api/v1/registry/agents",
        expected_status=401,
        headers={"X-Agent-ID": "probe"},
    )
    result = await HealthManager([check]).run_check("plan-requires-auth")
    assert result.status is HealthStatus.HEALTHY
    headers = kei_server.stats.last_headers("listAgents")
    assert headers is not None
    assert headers["x-agent-id"] == "probe"


async def test_slow_checks_hit_their_timeout_and_checks_run_concurrently(kei_server: ServerHandle) -> None:
    kei_server.faults.add(Fault.latency(1.2, route="getHealth"))
    checks = [
        APIHealthCheck(name=f"slow-{index}", url=health_url(kei_server), timeout_seconds=0.3, critical=False)
        for index in range(4)
    ]
    summary = await HealthManager(checks).run_all_checks()
    assert summary.overall_status is HealthStatus.DEGRADED  # non-critical checks only degrade
    assert summary.unhealthy_count == 4
    for result in summary.checks:
        assert result.message == "timed out after 0.3 s"
        assert result.error == "TimeoutError: the check did not finish within 0.3 s"
        assert result.duration_ms >= 250
    assert summary.duration_ms < 1100  # four 0.3 s timeouts in sequence would take 1.2 s


# -------------------------------------------------------------------------- memory, KEI, custom


async def test_memory_thresholds() -> None:
    manager = HealthManager(
        [
            MemoryHealthCheck("ok", warning_threshold=0.9999, critical_threshold=1.0),
            MemoryHealthCheck("warn", warning_threshold=0.00001, critical_threshold=1.0),
            MemoryHealthCheck("crit", warning_threshold=0.00001, critical_threshold=0.00002),
        ]
    )
    summary = await manager.run_all_checks()
    assert [result.status for result in summary.checks] == [
        HealthStatus.HEALTHY,
        HealthStatus.DEGRADED,
        HealthStatus.UNHEALTHY,
    ]
    assert summary.overall_status is HealthStatus.DEGRADED  # memory checks are not critical by default
    details = summary.check("ok").details
    assert 0 < details["memory_percent"] < 100
    assert details["total_bytes"] > details["available_bytes"] > 0


async def test_kei_api_check_through_a_client_or_a_config(kei_server: ServerHandle) -> None:
    config = AgentClientConfig(base_url=kei_server.base_url, api_token=TOKEN, retry=RetryConfig(max_attempts=1))
    async with KeiAgentClient(config) as client:
        manager = HealthManager(
            [
                KeiAPIHealthCheck(name="kei", client=client),
                KeiAPIHealthCheck(name="kei-ready", client=client, readiness=True),
                KeiAPIHealthCheck(name="kei-config", config=config),
            ]
        )
        summary = await manager.run_all_checks()
        assert summary.overall_status is HealthStatus.HEALTHY, summary.to_dict()
        assert summary.check("kei").details["components"]
        assert summary.check("kei-ready").details["ready"] is True
        kei_server.faults.add(Fault.status(500, route="getHealth"))
        failing = await manager.run_check("kei")
    assert failing.status is HealthStatus.UNHEALTHY
    assert failing.error is not None
    assert "InternalServerError" in failing.error


class QueueCheck(BaseHealthCheck):
    def __init__(self, depth: int) -> None:
        super().__init__("queue", critical=False)
        self.depth = depth

    async def check(self) -> Any:
        if self.depth > 100:
            return HealthStatus.DEGRADED, f"{self.depth} waiting", {"depth": self.depth}
        return HealthStatus.HEALTHY


async def test_custom_checks() -> None:
    def broken() -> bool:
        raise RuntimeError("broken dependency")

    async def detailed() -> HealthCheckResult:
        return HealthCheckResult(name="ignored", status="healthy", message="fine", details={"n": 1})

    manager = HealthManager(
        [
            CustomHealthCheck("tuple", lambda: ("healthy", "all good")),
            CustomHealthCheck("broken", broken, critical=False),
            CustomHealthCheck("detailed", detailed),
            QueueCheck(depth=250),
        ]
    )
    summary = await manager.run_all_checks()
    assert summary.check("tuple").message == "all good"
    broken_result = summary.check("broken")
    assert broken_result.status is HealthStatus.UNHEALTHY
    assert broken_result.error == "RuntimeError: broken dependency"
    assert summary.check("detailed").details == {"n": 1}
    assert summary.check("queue").status is HealthStatus.DEGRADED
    assert summary.check("queue").details == {"depth": 250}
    assert summary.overall_status is HealthStatus.DEGRADED


async def test_register_unregister_and_the_process_wide_manager() -> None:
    manager = HealthManager()
    manager.register_check(CustomHealthCheck("a", lambda: True))
    manager.register_check(CustomHealthCheck("a", lambda: False))  # replaces
    manager.register_check(CustomHealthCheck("b", lambda: True))
    assert [check.name for check in manager.checks] == ["a", "b"]
    assert (await manager.run_check("a")).status is HealthStatus.UNHEALTHY
    assert manager.unregister_check("a")
    assert not manager.unregister_check("a")
    summary = await manager.run_all_checks()
    assert summary.total_checks == 1
    assert manager.last_summary is summary
    with pytest.raises(KeyError):
        await manager.run_check("a")
    with pytest.raises(TypeError):
        manager.register_check("not a check")  # type: ignore[arg-type]
    assert get_health_manager() is get_health_manager()
    assert isinstance(get_health_manager(), HealthManager)


# ------------------------------------------------------------------------------------- probes


async def test_probe_endpoints_for_kubernetes(kei_server: ServerHandle) -> None:
    manager = HealthManager(
        [
            MemoryHealthCheck("memory", warning_threshold=0.9999, critical_threshold=1.0, liveness=True),
            APIHealthCheck(name="kei_api", url=health_url(kei_server), timeout_seconds=2),
        ]
    )
    server = await manager.serve("127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(base_url=server.url) as http:
            live = await http.get("/health")
            ready = await http.get("/ready")
            kei_server.faults.add(Fault.status(503, route="getHealth"))
            live_during_outage = await http.get("/health")
            not_ready = await http.get("/ready")
            missing = await http.get("/metrics")
            wrong_method = await http.post("/ready")
            head = await http.head("/health")
    finally:
        await server.close()
    assert (live.status_code, live.json()["status"], sorted(live.json()["checks"])) == (200, "healthy", ["memory"])
    assert live.headers["content-type"] == "application/json"
    assert (ready.status_code, sorted(ready.json()["checks"])) == (200, ["kei_api", "memory"])
    assert live_during_outage.status_code == 200
    assert (not_ready.status_code, not_ready.json()["status"]) == (503, "unhealthy")
    assert not_ready.json()["checks"]["kei_api"] == {"status": "unhealthy"}  # no message for strangers
    assert (missing.status_code, wrong_method.status_code) == (404, 405)
    assert (head.status_code, head.content) == (200, b"")
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as http:
            await http.get(f"{server.url}/health")


async def test_ready_shows_no_internal_hosts_or_errors_unless_details_are_opted_in() -> None:
    """A down database's host, port and error text go to the log; the probe body shows statuses."""
    port = free_port()
    check = DatabaseHealthCheck("db", f"postgresql://kei:pw-789@db-internal.localhost:{port}/kei", timeout_seconds=5)
    manager = HealthManager([check])
    public = await manager.serve("127.0.0.1", 0)
    detailed = await manager.serve("127.0.0.1", 0, details=True)
    try:
        async with httpx.AsyncClient() as http:
            public_ready = await http.get(f"{public.url}/ready")
            detailed_ready = await http.get(f"{detailed.url}/ready")
    finally:
        await public.close()
        await detailed.close()
    assert public_ready.status_code == detailed_ready.status_code == 503
    assert public_ready.json()["checks"] == {"db": {"status": "unhealthy"}}
    for leak in ("db-internal", "OperationalError", "check failed", "pw-789"):
        assert leak not in public_ready.text, leak
    opted_in = detailed_ready.json()["checks"]["db"]
    assert "db-internal" in opted_in["error"]
    assert "OperationalError" in opted_in["error"]
    assert "pw-789" not in detailed_ready.text
