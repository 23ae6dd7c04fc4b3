"""``/health`` and ``/ready`` at the root answer the same reports as ``/api/v1/health`` and ``/api/v1/ready``.

The seed's health snippet checks ``https://<kei server>/health``; against the reference server it
must report healthy, with both health managers.
"""

from __future__ import annotations

import httpx
import pytest

from kei_agent import APIHealthCheck, HealthStatus
from kei_agent.testing import ServerHandle
from kei_agent_async import HealthManager as AsyncHealthManager
from kei_agent_sync import HealthManager as SyncHealthManager


@pytest.mark.parametrize(("root", "api"), [("/health", "/api/v1/health"), ("/ready", "/api/v1/ready")])
def test_root_path_answers_the_api_report_without_credentials(server: ServerHandle, root: str, api: str) -> None:
    with httpx.Client(base_url=server.base_url, timeout=10) as anonymous:
        at_root = anonymous.get(root, headers={"X-Correlation-ID": "root-probe"})
        under_api = anonymous.get(api)
    assert at_root.status_code == 200, at_root.text
    assert at_root.headers["content-type"].startswith("application/json")
    assert at_root.headers["x-correlation-id"] == "root-probe"
    assert at_root.headers["x-request-id"]
    root_report, api_report = at_root.json(), under_api.json()
    assert set(root_report) == set(api_report)
    assert root_report["status"] == api_report["status"] == "healthy"
    assert set(root_report["checks"]) == set(api_report["checks"]) == {"bus", "registry", "stream"}
    if root == "/ready":
        assert root_report["ready"] is True


def test_root_paths_are_counted_as_their_own_operations(fresh_server: ServerHandle) -> None:
    httpx.get(f"{fresh_server.base_url}/health", timeout=10)
    httpx.get(f"{fresh_server.base_url}/ready", timeout=10)
    assert fresh_server.stats.requests("getRootHealth") == 1
    assert fresh_server.stats.requests("getRootReadiness") == 1
    assert fresh_server.stats.requests("getHealth") == 0


def test_a_malformed_traceparent_on_root_health_is_ignored_as_w3c_says(server: ServerHandle) -> None:
    response = httpx.get(f"{server.base_url}/health", headers={"traceparent": "nope"}, timeout=10)
    assert response.status_code == 200  # W3C Trace Context: ignore it and start a new trace
    assert response.json()["status"] == "healthy"


def test_seed_health_snippet_is_healthy_sync(server: ServerHandle) -> None:
    health = SyncHealthManager()  # what get_health_manager() returns, without process-wide state
    health.register_check(APIHealthCheck(name="kei_api", url=f"{server.base_url}/health", timeout_seconds=5))
    summary = health.run_all_checks()
    assert summary.check("kei_api").status == HealthStatus.HEALTHY, summary.check("kei_api").error
    assert summary.overall_status == HealthStatus.HEALTHY


@pytest.mark.anyio
async def test_seed_health_snippet_is_healthy_async(server: ServerHandle) -> None:
    health = AsyncHealthManager()
    health.register_check(APIHealthCheck(name="kei_api", url=f"{server.base_url}/health", timeout_seconds=5))
    summary = await health.run_all_checks()
    assert summary.check("kei_api").status == HealthStatus.HEALTHY, summary.check("kei_api").error
    assert summary.overall_status == HealthStatus.HEALTHY
