"""Every operation through the generated low-level clients, both flavours, against the reference server.

Inputs are the spec's own examples; the server runs with ``validate_responses`` so any answer off
the contract would be a 500. Each operation's preconditions (an agent, a subscription) are set up
with raw httpx first.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kei_agent._generated import models
from kei_agent._generated.client import AuthenticatedClient, Client
from kei_agent._generated.types import Response
from kei_agent.testing import ServerHandle, run_server
from tests.support.spec import Operation, operations, ref_name, resolve, snake

from .conftest import AUTH, TOKEN

OPERATIONS = {op.operation_id: op for op in operations()}
QUERY_SAMPLES: dict[str, Any] = {
    "cursor": "c-1",
    "limit": 10,
    "capability": "plan",
    "category": "math",
    "topics": "plan.created,bus.*",
    "since": "1",
    "wait_seconds": 0.0,
}
HEADER_SAMPLES: dict[str, Any] = {
    "X-Agent-ID": "contract-agent",
    "X-Tenant-ID": "tenant-a",
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "X-Kei-Retry-Count": "0",
    "Last-Event-ID": "1",
}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    with run_server(tokens=[TOKEN], validate_responses=True, sse_max_duration=0.3) as handle:
        yield handle


def _value(param: dict[str, Any]) -> Any:
    name = param["name"]
    if "example" in param:
        return param["example"]
    if param["in"] == "header":
        if name in ("X-Correlation-ID", "Idempotency-Key"):
            return f"gen-{uuid.uuid4()}"
        return HEADER_SAMPLES[name]
    schema_ref = ref_name(param["schema"])
    schema = resolve(param["schema"])
    if schema_ref and "enum" in schema:
        return getattr(models, schema_ref)(schema["enum"][0])
    return QUERY_SAMPLES[name]


def prepare(server: ServerHandle, op: Operation) -> dict[str, Any]:
    """Keyword arguments from the spec's examples, after setting up what the operation needs."""
    kwargs = {snake(param["name"]): _value(param) for param in op.parameters}
    if op.body is not None:
        media = op.body["content"]["application/json"]
        kwargs["body"] = getattr(models, ref_name(media["schema"]) or "").from_dict(media["example"])
    with httpx.Client(base_url=server.base_url, headers=AUTH) as http:
        if op.operation_id == "registerAgent":
            http.delete("/api/v1/registry/agents/report-writer")
        elif "agent_id" in kwargs:
            http.post("/api/v1/registry/agents", json={"agent_id": kwargs["agent_id"], "name": "Report writer"})
        if "subscription_id" in kwargs:
            created = http.post("/api/v1/bus/subscriptions", json={"subject": "reports.*"}).json()
            kwargs["subscription_id"] = created["subscription_id"]
            # The example long-polls 5 s: have a message waiting.
            http.post("/api/v1/bus/publish", json={"subject": "reports.ready", "payload": {}})
    return kwargs


def check(op: Operation, response: Response[Any]) -> None:
    status, ctype, schema = op.success()
    assert response.status_code == status, (op.operation_id, response.status_code, response.content[:500])
    assert response.headers["x-request-id"]
    if ctype is None:
        assert response.parsed is None
    elif ctype == "application/json":
        expected = getattr(models, ref_name(schema or {}) or "")
        assert isinstance(response.parsed, expected), (op.operation_id, type(response.parsed))
    else:
        assert isinstance(response.parsed, str)
        assert response.parsed.startswith(": connected")


def client_for(server: ServerHandle, op: Operation) -> Client | AuthenticatedClient:
    if op.scopes:
        return AuthenticatedClient(base_url=server.base_url, token=TOKEN, raise_on_unexpected_status=True)
    return Client(base_url=server.base_url, raise_on_unexpected_status=True)


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_sync_detailed(server: ServerHandle, operation_id: str) -> None:
    op = OPERATIONS[operation_id]
    kwargs = prepare(server, op)
    with client_for(server, op) as client:
        check(op, op.module.sync_detailed(client=client, **kwargs))


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_asyncio_detailed(server: ServerHandle, operation_id: str) -> None:
    op = OPERATIONS[operation_id]
    kwargs = prepare(server, op)

    async def run() -> Response[Any]:
        async with client_for(server, op) as client:
            return await op.module.asyncio_detailed(client=client, **kwargs)  # type: ignore[no-any-return]

    check(op, asyncio.run(run()))


def test_every_spec_operation_has_a_handler() -> None:
    from kei_agent._contract.operations import OPERATIONS as CONTRACT
    from kei_agent.testing.handlers import HANDLERS

    assert set(HANDLERS) == set(CONTRACT) == set(OPERATIONS)
    assert len(HANDLERS) == 28  # 26 + /health and /ready at the root


def test_documented_problem_parses_into_the_generated_model(server: ServerHandle) -> None:
    from kei_agent._generated.api.rpc import plan_task

    with AuthenticatedClient(base_url=server.base_url, token=TOKEN) as client:
        response = plan_task.sync_detailed(client=client, body=models.PlanRequest(objective=""))
    assert response.status_code == 422
    assert isinstance(response.parsed, models.Problem)
    assert response.parsed.errors[0].path == "$.objective"  # type: ignore[index,union-attr]
