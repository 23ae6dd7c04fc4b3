"""The health model (no I/O): statuses, overall rules, summaries, definitions, the ASGI probe app."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from kei_agent import AgentClientConfig, ConfigurationError
from kei_agent.health import (
    APIHealthCheck,
    BaseHealthCheck,
    CustomHealthCheck,
    DatabaseHealthCheck,
    HealthCheckResult,
    HealthStatus,
    KeiAPIHealthCheck,
    MemoryHealthCheck,
    ProbeApp,
    coerce_result,
    summarize,
)


def result(name: str, status: HealthStatus, critical: bool = True) -> HealthCheckResult:
    return HealthCheckResult(name=name, status=status, critical=critical)


def test_status_is_a_string_enum() -> None:
    assert HealthStatus.HEALTHY == "healthy"
    assert f"{HealthStatus.DEGRADED}" == "degraded"
    assert [s.value for s in HealthStatus] == ["healthy", "degraded", "unhealthy", "unknown"]
    assert HealthStatus.coerce("UNHEALTHY") is HealthStatus.UNHEALTHY
    assert HealthStatus.coerce(True) is HealthStatus.HEALTHY
    assert HealthStatus.coerce("sleepy") is HealthStatus.UNKNOWN


H, D, U, K = HealthStatus.HEALTHY, HealthStatus.DEGRADED, HealthStatus.UNHEALTHY, HealthStatus.UNKNOWN


@pytest.mark.parametrize(
    ("results", "overall"),
    [
        ([], H),
        ([result("a", H), result("b", H)], H),
        ([result("a", H), result("b", D)], D),
        ([result("a", H), result("b", U, critical=False)], D),
        ([result("a", H), result("b", K)], D),
        ([result("a", D), result("b", U)], U),
        ([result("a", U, critical=False), result("b", U)], U),
    ],
)
def test_overall_status_rules(results: list[HealthCheckResult], overall: HealthStatus) -> None:
    assert summarize(results, 1.0).overall_status is overall


def test_summary_counts_and_json() -> None:
    summary = summarize(
        [result("a", H), result("b", D), result("c", U, critical=False), result("d", K), result("e", H)], 12.3456
    )
    assert (summary.total_checks, summary.healthy_count, summary.degraded_count) == (5, 2, 1)
    assert (summary.unhealthy_count, summary.unknown_count) == (1, 1)
    assert summary.ready
    assert not summary.healthy
    assert summary.check("b").status is D
    data = json.loads(json.dumps(summary.to_dict()))
    assert data["status"] == "degraded"
    assert data["duration_ms"] == 12.346
    assert data["checks"]["c"]["critical"] is False
    assert data["timestamp"].endswith("Z")
    with pytest.raises(KeyError):
        summary.check("zzz")


def test_definitions_report_every_problem_at_once() -> None:
    with pytest.raises(ConfigurationError) as caught:
        APIHealthCheck(name="", url="ftp://x", timeout_seconds=0, expected_status=42)
    paths = [problem.path for problem in caught.value.problems]
    assert paths == ["name", "timeout_seconds", "url", "expected_status"]
    with pytest.raises(ConfigurationError, match="warning_threshold: must not exceed critical_threshold"):
        MemoryHealthCheck(warning_threshold=0.9, critical_threshold=0.8)
    with pytest.raises(ConfigurationError, match="fraction"):
        MemoryHealthCheck(warning_threshold=80, critical_threshold=95)
    with pytest.raises(ConfigurationError, match="exactly one of client and config"):
        KeiAPIHealthCheck()
    with pytest.raises(ConfigurationError, match="must be callable"):
        CustomHealthCheck("x", check="not callable")  # type: ignore[arg-type]


def test_unsupported_database_schemes_name_the_extra() -> None:
    with pytest.raises(ConfigurationError) as caught:
        DatabaseHealthCheck("db", "mysql://root:pw@db/app")
    message = str(caught.value)
    assert "unsupported database scheme 'mysql'" in message
    assert 'pip install "kei-agent-py-sdk[postgres]"' in message
    assert "pw" not in message


def test_database_urls_and_header_values_never_show() -> None:
    check = DatabaseHealthCheck("db", "postgresql://kei:s3cr3t-pw@db.internal:5432/kei?sslmode=require")
    assert "s3cr3t-pw" not in repr(check)
    assert check.display_url == "postgresql://db.internal:5432/kei"
    assert check.scheme == "postgresql"
    assert DatabaseHealthCheck("db", "postgres://h/db").scheme == "postgresql"
    assert DatabaseHealthCheck("db", "sqlite:////tmp/x.db").sqlite_path == "/tmp/x.db"
    assert DatabaseHealthCheck("db", "sqlite:///rel.db").sqlite_path == "rel.db"
    assert DatabaseHealthCheck("db", "sqlite:///:memory:").sqlite_path == ":memory:"
    api = APIHealthCheck(name="a", url="https://u:pw@h/health?token=abc", headers={"Authorization": "Bearer zzz"})
    assert "zzz" not in repr(api)
    assert "pw" not in repr(api)
    assert "abc" not in repr(api)
    kei = KeiAPIHealthCheck(config=AgentClientConfig(base_url="https://h", api_token="tok-123"))
    assert "tok-123" not in repr(kei)


class QueueCheck(BaseHealthCheck):
    def check(self) -> Any:
        return HealthStatus.DEGRADED, "queue is long", {"depth": 1200}


@pytest.mark.parametrize(
    ("value", "status", "message", "details"),
    [
        (None, H, "", {}),
        (True, H, "", {}),
        (False, U, "", {}),
        ("degraded", D, "", {}),
        ((HealthStatus.DEGRADED, "slow"), D, "slow", {}),
        (("unhealthy", "down", {"code": 7}), U, "down", {"code": 7}),
        ({"status": "healthy", "message": "ok", "details": {"n": 1}}, H, "ok", {"n": 1}),
        (HealthCheckResult(name="other", status="degraded", message="m"), D, "m", {}),
        (42, K, "", {}),
    ],
)
def test_custom_results_are_coerced(value: Any, status: HealthStatus, message: str, details: dict[str, Any]) -> None:
    check = QueueCheck("queue", critical=False)
    coerced = coerce_result(check, value, 3.0)
    assert (coerced.name, coerced.status, coerced.message, dict(coerced.details)) == ("queue", status, message, details)
    assert coerced.critical is False
    assert coerced.duration_ms == 3.0


def test_base_health_check_needs_an_implementation() -> None:
    with pytest.raises(NotImplementedError):
        BaseHealthCheck("x").check()
    assert QueueCheck("q").check()[0] is D


async def _asgi(app: ProbeApp, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app({"type": "http", "method": method, "path": path}, receive, send)  # type: ignore[arg-type]
    headers = {key.decode(): value.decode() for key, value in sent[0]["headers"]}
    return sent[0]["status"], headers, sent[1]["body"]


def test_probe_asgi_app_with_async_and_blocking_probes() -> None:
    calls: list[str] = []

    async def async_probe(kind: str) -> Any:
        calls.append(kind)
        status = HealthStatus.UNHEALTHY if kind == "readiness" else HealthStatus.HEALTHY
        return summarize([result("db", status)] if kind == "readiness" else [], 1.0)

    def blocking_probe(kind: str) -> Any:
        calls.append(f"sync-{kind}")
        return summarize([result("db", HealthStatus.DEGRADED)], 1.0)

    async def main() -> None:
        app = ProbeApp(async_probe)
        status, headers, body = await _asgi(app, "GET", "/health")
        assert (status, json.loads(body)["status"]) == (200, "healthy")
        assert headers["content-type"] == "application/json"
        status, _, body = await _asgi(app, "GET", "/ready")
        assert (status, json.loads(body)["checks"]["db"]["status"]) == (503, "unhealthy")
        assert (await _asgi(app, "GET", "/metrics"))[0] == 404
        assert (await _asgi(app, "POST", "/ready"))[0] == 405
        status, _, body = await _asgi(app, "HEAD", "/health/live")
        assert (status, body) == (200, b"")
        status, _, body = await _asgi(ProbeApp(blocking_probe), "GET", "/readyz")
        assert (status, json.loads(body)["status"]) == (200, "degraded")

    asyncio.run(main())
    assert calls == ["liveness", "readiness", "liveness", "sync-readiness"]
