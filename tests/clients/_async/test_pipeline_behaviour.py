"""Pipeline behaviour against the reference server with fault injection (real sockets).

Written once for the async client; tests/clients/_sync holds the generated twin for the blocking
client. Assertions count requests on the server side instead of timing anything.
"""

from __future__ import annotations

import httpx
import pytest

from kei_agent import (
    AgentClientConfig,
    APIConnectionError,
    APITimeoutError,
    CircuitBreakerOpenError,
    CircuitState,
    ConnectionConfig,
    InternalServerError,
    KeiSDKError,
    NotFoundError,
    Protocol,
    RateLimitError,
    ResponseValidationError,
    RetryConfig,
    correlation_scope,
)
from kei_agent._generated import models
from kei_agent.testing import Fault, ServerHandle, run_server
from kei_agent_async import KeiAgentClient
from tests.clients.conftest import TOKEN
from tests.support.pools import pool_view

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryConfig(max_attempts=3, base_delay=0.01, max_delay=0.05)


def make_client(server: ServerHandle, **overrides: object) -> KeiAgentClient:
    settings: dict[str, object] = {"api_token": TOKEN, "agent_id": "behaviour-agent", "retry": FAST_RETRY}
    settings.update(overrides)
    return KeiAgentClient(AgentClientConfig(base_url=server.base_url, **settings))  # type: ignore[arg-type]


async def test_documented_flow_returns_typed_results_readable_as_mappings(server: ServerHandle) -> None:
    async with make_client(server) as client:
        plan = await client.plan_task(objective="Write a quarterly report", context={"quarter": "Q3"})
        step = plan.steps[0]
        result = await client.execute_action(
            "generate_report", {"title": "Q3"}, plan_id=plan["plan_id"], step_id=step.step_id
        )
        observation = await client.observe_environment("system_metrics", {"cpu": 0.5})
        explanation = await client.explain_reasoning("Why this order?", {"plan_id": plan["plan_id"]})
    assert isinstance(plan, models.PlanResponse)
    assert plan["steps"][0]["step_id"].startswith(plan["plan_id"])
    assert result["status"] == "completed"
    assert result.get("result").get("file_size", 0) > 0
    assert observation["observation_type"] == "system_metrics"
    assert any(ref.get("plan_id") == plan["plan_id"] for ref in explanation.references)


async def test_every_request_carries_the_standard_headers(server: ServerHandle) -> None:
    async with make_client(server, tenant_id="tenant-7", user_agent=None) as client:
        with correlation_scope("corr-123"):
            await client.plan_task(objective="x")
        await client.health_check()
    headers = server.stats.last_headers("planTask")
    assert headers is not None
    assert headers["x-agent-id"] == "behaviour-agent"
    assert headers["x-correlation-id"] == "corr-123"
    assert headers["x-tenant-id"] == "tenant-7"
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["user-agent"].startswith("kei-agent-py-sdk/")
    assert " python/3." in headers["user-agent"]
    assert headers["x-kei-retry-count"] == "0"
    assert len(headers["idempotency-key"]) >= 16
    health_headers = server.stats.last_headers("getHealth")
    assert health_headers is not None
    assert "authorization" not in health_headers
    assert "idempotency-key" not in health_headers


async def test_retries_reuse_the_idempotency_key_and_count_attempts(server: ServerHandle) -> None:
    server.faults.add(Fault.status(503, retry_after=0, route="planTask", times=2))
    async with make_client(server) as client:
        plan = await client.plan_task(objective="retry me")
    assert plan["objective"] == "retry me"
    sent = server.stats.all_headers("planTask")[-3:]
    assert server.stats.requests("planTask") == 3
    assert [h["x-kei-retry-count"] for h in sent] == ["0", "1", "2"]
    assert len({h["idempotency-key"] for h in sent}) == 1
    assert len({h["x-correlation-id"] for h in sent}) == 1


async def test_rate_limit_with_retry_after_is_honoured(server: ServerHandle) -> None:
    server.faults.add(Fault.status(429, retry_after=0, route="getAgent", times=1))
    async with make_client(server) as client:
        await client.register_agent("Rate limited", agent_id="rl-agent")
        agent = await client.get_agent("rl-agent")
    assert agent.agent_id == "rl-agent"
    assert server.stats.requests("getAgent") == 2


async def test_retry_after_above_the_ceiling_fails_fast(server: ServerHandle) -> None:
    server.faults.add(Fault.status(429, retry_after=120, route="getHealth"))
    async with make_client(server) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.health_check()
    assert caught.value.retry_after == 120
    assert caught.value.status_code == 429
    assert server.stats.requests("getHealth") == 1


async def test_a_503_storm_gives_up_after_max_attempts(server: ServerHandle) -> None:
    server.faults.add(Fault.status(503, retry_after=0, route="getHealth"))
    async with make_client(server) as client:
        with pytest.raises(InternalServerError) as caught:
            await client.health_check()
    assert caught.value.status_code == 503
    assert caught.value.request_id
    assert server.stats.requests("getHealth") == FAST_RETRY.max_attempts


async def test_client_errors_are_never_retried(server: ServerHandle) -> None:
    async with make_client(server) as client:
        with correlation_scope("corr-404"), pytest.raises(NotFoundError) as caught:
            await client.get_agent("nobody-here")
    error = caught.value
    assert server.stats.requests("getAgent") == 1
    assert error.status_code == 404
    assert error.correlation_id == "corr-404"
    assert error.request_id
    assert error.problem is not None
    assert error.problem["status"] == 404
    assert "nobody-here" not in str(error) or "GET /api/v1/registry/agents/nobody-here" in str(error)


async def test_non_standard_status_is_a_typed_error(server: ServerHandle) -> None:
    server.faults.add(Fault.status(520, route="getHealth"))
    async with make_client(server) as client:
        with pytest.raises(InternalServerError) as caught:
            await client.health_check()
    assert caught.value.status_code == 520
    assert server.stats.requests("getHealth") == 1


async def test_malformed_json_raises_response_validation_error_with_the_raw_body(server: ServerHandle) -> None:
    server.faults.add(Fault.malformed(body=b"{not json", route="getHealth"))
    async with make_client(server) as client:
        with pytest.raises(ResponseValidationError) as caught:
            await client.health_check()
    assert caught.value.body == b"{not json"
    assert caught.value.status_code == 200
    assert caught.value.__cause__ is not None


async def test_missing_fields_raise_response_validation_error(server: ServerHandle) -> None:
    server.faults.add(Fault.malformed(body=b'{"unexpected": true}', route="getHealth"))
    async with make_client(server) as client:
        with pytest.raises(ResponseValidationError) as caught:
            await client.health_check()
    assert isinstance(caught.value.__cause__, KeyError)


async def test_dropped_connections_are_retried_and_the_call_succeeds(server: ServerHandle) -> None:
    server.faults.add(Fault.drop(route="getHealth", times=1))
    async with make_client(server) as client:
        health = await client.health_check()
    assert health["status"]
    assert server.stats.requests("getHealth") == 2


async def test_timeouts_raise_api_timeout_error(server: ServerHandle) -> None:
    server.faults.add(Fault.latency(2.0, route="getHealth"))
    retry = RetryConfig(max_attempts=1)
    async with make_client(server, retry=retry, connection=ConnectionConfig(timeout=0.2)) as client:
        with pytest.raises(APITimeoutError) as caught:
            await client.health_check()
    assert isinstance(caught.value.__cause__, httpx.TimeoutException)


async def test_deadline_bounds_attempts_plus_sleeps(server: ServerHandle) -> None:
    server.faults.add(Fault.status(503, retry_after=0.6, route="getHealth"))
    retry = RetryConfig(max_attempts=10, base_delay=0.01, max_delay=0.05, deadline=1.0)
    async with make_client(server, retry=retry) as client:
        with pytest.raises(InternalServerError):
            await client.health_check()
    assert server.stats.requests("getHealth") == 2


async def test_connection_refused_is_an_api_connection_error() -> None:
    with run_server(tokens=[TOKEN]) as stopped:
        url = stopped.base_url
    config = AgentClientConfig(base_url=url, api_token=TOKEN, retry=FAST_RETRY)
    async with KeiAgentClient(config) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.health_check()
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert TOKEN not in str(caught.value)


async def test_the_breaker_opens_and_fails_fast_without_a_request(server: ServerHandle) -> None:
    server.faults.add(Fault.status(503, retry_after=0, route="getHealth"))
    retry = RetryConfig(max_attempts=1, breaker_failure_threshold=2, breaker_minimum_calls=2, breaker_window=4)
    async with make_client(server, retry=retry) as client:
        for _ in range(2):
            with pytest.raises(InternalServerError):
                await client.health_check()
        assert client.circuit_state("rpc") is CircuitState.OPEN
        with pytest.raises(CircuitBreakerOpenError) as caught:
            await client.health_check()
    assert caught.value.retry_after > 0
    assert server.stats.requests("getHealth") == 2


async def test_the_breaker_does_not_open_on_the_second_failure_by_default(server: ServerHandle) -> None:
    server.faults.add(Fault.status(503, retry_after=0, route="getHealth"))
    async with make_client(server, retry=RetryConfig(max_attempts=1)) as client:
        for _ in range(2):
            with pytest.raises(InternalServerError):
                await client.health_check()
        assert client.circuit_state() is CircuitState.CLOSED


async def test_client_errors_do_not_open_the_breaker(server: ServerHandle) -> None:
    retry = RetryConfig(max_attempts=1, breaker_failure_threshold=2, breaker_minimum_calls=2, breaker_window=4)
    async with make_client(server, retry=retry) as client:
        for _ in range(4):
            with pytest.raises(NotFoundError):
                await client.get_agent("missing")
        assert client.circuit_state() is CircuitState.CLOSED


async def test_rpc_falls_back_to_the_bus_on_transport_level_failure(server: ServerHandle) -> None:
    server.faults.add(Fault.status(503, retry_after=0, route="planTask"))
    async with make_client(server, retry=RetryConfig(max_attempts=1)) as client:
        plan = await client.plan_task(objective="carried by the bus")
        downgrades = client.protocol_downgrades
    assert isinstance(plan, models.PlanResponse)
    assert plan["objective"] == "carried by the bus"
    assert Protocol.RPC in downgrades
    assert server.stats.requests("busRequest") == 1


async def test_no_fallback_on_client_errors(server: ServerHandle) -> None:
    async with make_client(server, retry=RetryConfig(max_attempts=1)) as client:
        with pytest.raises(NotFoundError):
            await client.execute_action("no_such_action")
        assert client.protocol_downgrades == {}
    assert server.stats.requests("busRequest") == 0


async def test_list_agents_pages_through_every_agent(server: ServerHandle) -> None:
    async with make_client(server) as client:
        for index in range(7):
            await client.register_agent(f"Agent {index}", agent_id=f"pager-{index}", capabilities=["paging"])
        pager = client.list_agents(capability="paging", page_size=3)
        seen = []
        async for agent in pager:
            seen.append(agent.agent_id)
    assert seen == [f"pager-{index}" for index in range(7)]
    assert pager.pages_fetched == 3


async def test_with_options_shares_the_pool_and_adds_headers(server: ServerHandle) -> None:
    async with make_client(server) as client:
        derived = client.with_options(headers={"X-Experiment": "blue"}, timeout=5.0)
        assert derived._shared.http is client._shared.http
        await derived.health_check()
        await derived.close()
        assert derived.closed
        await client.health_check()
    headers = server.stats.all_headers("getHealth")
    assert headers[-2]["x-experiment"] == "blue"
    assert "x-experiment" not in headers[-1]


async def test_close_is_idempotent_and_closed_clients_refuse_calls(server: ServerHandle) -> None:
    client = make_client(server)
    await client.health_check()
    await client.close()
    await client.close()
    with pytest.raises(KeiSDKError, match="closed"):
        await client.health_check()


async def test_failed_attempts_leak_no_connections(server: ServerHandle) -> None:
    server.faults.add(Fault.status(503, retry_after=0, route="getHealth", times=6))
    async with make_client(server) as client:
        seen = []
        for _ in range(2):
            with pytest.raises(InternalServerError):
                await client.health_check()
            seen.append(pool_view(client._shared.http).connections)
        await client.health_check()
        pool = pool_view(client._shared.http)
    assert server.stats.requests("getHealth") == 7
    assert pool.idle == [True]
    assert seen == [pool.connections, pool.connections]  # one connection carried all 7 requests
