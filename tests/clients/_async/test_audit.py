"""Audit records: one per operation with actor, operation, protocol, outcome, status, correlation id
and the SHA-256 of the canonical JSON input - never the input. Written once for the async
client; tests/clients/_sync holds the generated twin.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from loguru import logger

from kei_agent import (
    AgentClientConfig,
    AuthType,
    ConnectionConfig,
    NotFoundError,
    PermissionDeniedError,
    ProtocolConfig,
    RetryConfig,
    SecurityConfig,
    SecurityError,
    ValidationError,
    correlation_scope,
)
from kei_agent.testing import Fault, ServerHandle
from kei_agent_async import KeiAgentClient
from tests.clients.conftest import TOKEN
from tests.support.oidc import AUDIENCE, BASIC_CLIENT, OIDCProvider
from tests.support.pki import PKI

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryConfig(max_attempts=3, base_delay=0.01, max_delay=0.05)
SECRET_OBJECTIVE = "merge the confidential acquisition plans"


@pytest.fixture
def audit_records() -> Iterator[list[dict[str, Any]]]:
    records: list[dict[str, Any]] = []

    def sink(message: Any) -> None:
        record = message.record
        if record["extra"].get("audit") is True:
            records.append({**record["extra"], "_text": str(message)})

    for package in ("kei_agent", "kei_agent_async", "kei_agent_sync"):
        logger.enable(package)
    sink_id = logger.add(sink, level=0, format="{message} {extra}")
    try:
        yield records
    finally:
        logger.remove(sink_id)
        for package in ("kei_agent", "kei_agent_async", "kei_agent_sync"):
            logger.disable(package)


def sha256_of(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def audited(server: ServerHandle, **overrides: Any) -> tuple[AgentClientConfig, SecurityConfig]:
    config = AgentClientConfig(
        server.base_url, api_token=TOKEN, agent_id="audited-agent", tenant_id="tenant-9", retry=FAST_RETRY
    )
    return config, SecurityConfig(audit_enabled=True, **overrides)


async def test_one_record_per_operation_with_a_digest_of_the_input(
    server: ServerHandle, audit_records: list[dict[str, Any]]
) -> None:
    config, security = audited(server)
    server.faults.add(Fault.status(503, retry_after=0, route="planTask", times=1))
    async with KeiAgentClient(config, security_config=security) as client:
        with correlation_scope("corr-audit-1"):
            await client.plan_task(objective=SECRET_OBJECTIVE, context={"quarter": "Q3", "b": [1, 2]})
        with pytest.raises(NotFoundError):
            await client.get_agent("no-such-agent")
        await client.health_check()
    assert [record["operation"] for record in audit_records] == ["planTask", "getAgent", "getHealth"]
    plan, missing, health = audit_records
    assert plan["outcome"] == "success"
    assert plan["status"] == 200  # the retry is part of the call: one record with the final status
    assert plan["protocol"] == "rpc"
    assert plan["correlation_id"] == "corr-audit-1"
    assert plan["agent_id"] == "audited-agent"
    assert plan["tenant_id"] == "tenant-9"
    assert plan["input_sha256"] == sha256_of(
        {"body": {"objective": SECRET_OBJECTIVE, "context": {"b": [1, 2], "quarter": "Q3"}}}
    )
    assert plan["time"].endswith("+00:00")
    assert missing["outcome"] == "failure"
    assert missing["status"] == 404
    assert missing["error"] == "NotFoundError"
    assert missing["input_sha256"] == sha256_of({"agent_id": "no-such-agent"})
    assert health["outcome"] == "success"
    for record in audit_records:
        assert SECRET_OBJECTIVE not in record["_text"]
        assert TOKEN not in record["_text"]


async def test_a_denied_call_and_a_protocol_fallback_are_audited(
    server: ServerHandle, audit_records: list[dict[str, Any]]
) -> None:
    config, security = audited(server, rbac_enabled=True)
    narrow = "eyJhbGciOiJub25lIn0.eyJzY29wZSI6ICJrZWk6b2JzZXJ2ZSIsICJzdWIiOiAiYWdlbnQtNyJ9.sig"  # kei:observe
    security = SecurityConfig(audit_enabled=True, rbac_enabled=True, api_token=narrow)
    async with KeiAgentClient(config, security_config=security) as client:
        with pytest.raises(PermissionDeniedError):
            await client.plan_task(objective="not allowed")
    async with KeiAgentClient(
        config, protocol_config=ProtocolConfig(rpc_enabled=False), security_config=SecurityConfig(audit_enabled=True)
    ) as client:
        await client.plan_task(objective="over the bus")
    denied, bus = audit_records
    assert denied["outcome"] == "denied"
    assert denied.get("status") is None  # nothing was sent (the audit channel leaves out empty fields)
    assert denied["error"] == "PermissionDeniedError"
    assert bus["protocol"] == "bus"
    assert bus["outcome"] == "success"


async def test_no_records_without_audit_enabled(server: ServerHandle, audit_records: list[dict[str, Any]]) -> None:
    config, _ = audited(server)
    async with KeiAgentClient(config) as client:
        await client.plan_task(objective="x")
    assert audit_records == []


async def test_the_actor_of_oidc_calls_is_the_oauth_client(
    oidc: OIDCProvider, oidc_server: ServerHandle, pki: PKI, audit_records: list[dict[str, Any]]
) -> None:
    security = SecurityConfig(
        auth_type=AuthType.OIDC,
        oidc_issuer=oidc.issuer,
        oidc_client_id=BASIC_CLIENT,
        oidc_client_secret=oidc.secrets[BASIC_CLIENT],
        oidc_scope="kei:plan",
        oidc_audience=AUDIENCE,
        audit_enabled=True,
    )
    config = AgentClientConfig(
        oidc_server.base_url, agent_id="oidc-agent", connection=ConnectionConfig(verify=str(pki.ca_file))
    )
    async with KeiAgentClient(config, security_config=security) as client:
        await client.plan_task(objective="x")
    (record,) = audit_records
    assert record["client_id"] == BASIC_CLIENT
    assert record["subject"] == BASIC_CLIENT  # the JWT's sub for client credentials
    assert record["actor"] == BASIC_CLIENT
    assert record["agent_id"] == "oidc-agent"
    assert oidc.secrets[BASIC_CLIENT] not in record["_text"]


def _unsendable(shape: str) -> dict[str, Any]:
    if shape == "nan":
        return {"x": float("nan")}
    if shape == "cyclic":
        cyclic: dict[str, Any] = {}
        cyclic["self"] = cyclic
        return cyclic
    deep: dict[str, Any] = {}
    cursor = deep
    for _ in range(5000):
        cursor["a"] = {}
        cursor = cursor["a"]
    return deep


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("shape", ["nan", "cyclic", "deep"])
async def test_input_that_is_not_json_is_a_typed_error_and_still_audited(
    server: ServerHandle, audit_records: list[dict[str, Any]], shape: str, validate: bool
) -> None:
    config, security = audited(server)
    config = AgentClientConfig(
        server.base_url, api_token=TOKEN, agent_id="audited-agent", retry=FAST_RETRY, validate_requests=validate
    )
    async with KeiAgentClient(config, security_config=security) as client:
        with pytest.raises((ValidationError, SecurityError)):  # the hardening limits raise InputSecurityError
            await client.plan_task("not json", _unsendable(shape))
    assert server.stats.requests("planTask") == 0
    assert [record["operation"] for record in audit_records] == ["planTask"]
    assert audit_records[0]["outcome"] == "failure"
