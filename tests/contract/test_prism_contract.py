"""Contract: every operation's generated request, in both flavours, is accepted by Prism.

Prism validates each request (path, query, headers, body, security) against the spec and answers
422/401 on any violation, so a 2xx parsed into the documented model proves that the generated
low-level clients speak the contract. Inputs come from the spec's own examples.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from kei_agent._generated import models
from kei_agent._generated.client import AuthenticatedClient, Client
from kei_agent._generated.types import Response
from tests.support.spec import Operation, load_spec, operations, ref_name, resolve, snake

pytestmark = pytest.mark.prism

OPERATIONS = {op.operation_id: op for op in operations()}
PARAMETRISED = sorted(OPERATIONS)

# Values for the optional query parameters (their schemas allow these).
QUERY_SAMPLES: dict[str, Any] = {
    "cursor": "c-1",
    "limit": 10,
    "capability": "plan",
    "category": "math",
    "topics": "plan.created,bus.*",
    "since": "41",
    "wait_seconds": 0.0,
}
HEADER_SAMPLES: dict[str, str | int] = {
    "X-Agent-ID": "contract-agent",
    "X-Tenant-ID": "tenant-a",
    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "X-Kei-Retry-Count": "0",
    "Last-Event-ID": "41",
}


def _param_value(param: dict[str, Any]) -> Any:
    name = param["name"]
    if "example" in param:
        return param["example"]
    if param["in"] == "header":
        if name == "X-Correlation-ID":
            return f"contract-{uuid.uuid4()}"
        if name == "Idempotency-Key":
            return str(uuid.uuid4())
        return HEADER_SAMPLES[name]
    schema_ref = ref_name(param["schema"])
    schema = resolve(param["schema"])
    if schema_ref and "enum" in schema:
        return getattr(models, schema_ref)(schema["enum"][0])
    return QUERY_SAMPLES[name]


def call_kwargs(op: Operation) -> dict[str, Any]:
    """Keyword arguments for the generated function: every parameter the operation declares."""
    kwargs: dict[str, Any] = {}
    for param in op.parameters:
        kwargs[snake(param["name"])] = _param_value(param)
    if op.body is not None:
        media = op.body["content"]["application/json"]
        model = getattr(models, ref_name(media["schema"]) or "")
        kwargs["body"] = model.from_dict(media["example"])
    return kwargs


def assert_success(op: Operation, response: Response[Any]) -> None:
    status, ctype, schema = op.success()
    assert response.status_code == status, (op.operation_id, response.status_code, response.content[:500])
    if ctype is None:
        assert response.parsed is None
    elif ctype == "application/json":
        expected = getattr(models, ref_name(schema or {}) or "")
        assert isinstance(response.parsed, expected), (op.operation_id, type(response.parsed))
    else:
        assert isinstance(response.parsed, str)
        assert response.parsed


def _client(base_url: str, op: Operation) -> Client | AuthenticatedClient:
    if op.scopes:
        return AuthenticatedClient(base_url=base_url, token="contract-token", raise_on_unexpected_status=True)
    return Client(base_url=base_url, raise_on_unexpected_status=True)


@pytest.mark.parametrize("operation_id", PARAMETRISED)
def test_sync_detailed(prism_url: str, operation_id: str) -> None:
    op = OPERATIONS[operation_id]
    with _client(prism_url, op) as client:
        response = op.module.sync_detailed(client=client, **call_kwargs(op))
    assert_success(op, response)


@pytest.mark.parametrize("operation_id", PARAMETRISED)
def test_asyncio_detailed(prism_url: str, operation_id: str) -> None:
    op = OPERATIONS[operation_id]

    async def run() -> Response[Any]:
        async with _client(prism_url, op) as client:
            return await op.module.asyncio_detailed(client=client, **call_kwargs(op))  # type: ignore[no-any-return]

    assert_success(op, asyncio.run(run()))


JSON_OPERATIONS = [op for op in PARAMETRISED if OPERATIONS[op].success()[1] == "application/json"]


@pytest.mark.parametrize("operation_id", JSON_OPERATIONS)
def test_dynamic_responses_parse(prism_url: str, operation_id: str) -> None:
    """Prism invents responses from the schemas (``Prefer: dynamic=true``): the models parse them."""
    op = OPERATIONS[operation_id]
    with _client(prism_url, op).with_headers({"Prefer": "dynamic=true"}) as client:
        for _ in range(3):
            assert_success(op, op.module.sync_detailed(client=client, **call_kwargs(op)))


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_rate_limited_answer_is_a_problem_with_retry_after(prism_url: str, flavour: str) -> None:
    op = OPERATIONS["planTask"]
    client = _client(prism_url, op).with_headers({"Prefer": "code=429"})
    if flavour == "sync":
        with client:
            response = op.module.sync_detailed(client=client, **call_kwargs(op))
    else:

        async def run() -> Response[Any]:
            async with client:
                return await op.module.asyncio_detailed(client=client, **call_kwargs(op))  # type: ignore[no-any-return]

        response = asyncio.run(run())
    assert response.status_code == 429
    assert isinstance(response.parsed, models.Problem)
    assert response.parsed.status == 429
    assert int(response.headers["Retry-After"]) >= 0


def test_prism_rejects_requests_that_break_the_contract(prism_url: str) -> None:
    """The positive tests mean something only because Prism validates requests."""
    with httpx.Client(base_url=prism_url, headers={"Authorization": "Bearer t"}) as http:
        missing_field = http.post("/api/v1/rpc/plan", json={"context": {}})
        bad_header = http.post("/api/v1/rpc/plan", json={"objective": "x"}, headers={"X-Agent-ID": "not an id"})
        no_token = httpx.post(f"{prism_url}/api/v1/rpc/plan", json={"objective": "x"})
        closed_schema = http.post("/api/v1/registry/agents", json={"agent_id": "a", "name": "n", "status": "ready"})
    assert missing_field.status_code == 422
    assert bad_header.status_code == 422
    assert no_token.status_code == 401
    assert closed_schema.status_code == 422


def test_every_operation_is_covered() -> None:
    """Walks the raw spec: every operation is parametrised above and has both generated flavours."""
    in_spec = [
        op["operationId"]
        for item in load_spec()["paths"].values()
        for method, op in item.items()
        if method in ("get", "put", "post", "delete", "patch")
    ]
    assert len(in_spec) == len(set(in_spec)), "operationIds must be unique"
    assert set(in_spec) == set(PARAMETRISED)
    for operation_id in in_spec:
        module = OPERATIONS[operation_id].module
        for name in ("sync_detailed", "asyncio_detailed", "_get_kwargs", "_build_response"):
            assert callable(getattr(module, name)), (operation_id, name)
