"""Every configuration field has an observable effect (or it would not exist).

Fields covered elsewhere: agent_id / tenant_id / api_token / default headers and the standard
headers, retry.max_attempts, retry.retry_after_max, retry.deadline, breaker thresholds, timeout
(test_pipeline_behaviour); retry backoff bounds and jitter (tests/unit/test_retry.py).
"""

from __future__ import annotations

import httpx
import pytest

from kei_agent import (
    AgentClientConfig,
    APIConnectionError,
    APITimeoutError,
    AuthType,
    CircuitState,
    ConfigurationError,
    ConnectionConfig,
    InternalServerError,
    ProtocolConfig,
    ProtocolError,
    RetryConfig,
    SecurityConfig,
)
from kei_agent._generated import models
from kei_agent.testing import Fault, ServerHandle
from kei_agent_async import KeiAgentClient
from kei_agent_async._backend import sleep
from tests.clients.conftest import TOKEN
from tests.support.pools import pool_view

pytestmark = pytest.mark.anyio

ONE_ATTEMPT = RetryConfig(max_attempts=1)


def make_config(url: str, **overrides: object) -> AgentClientConfig:
    settings: dict[str, object] = {"api_token": TOKEN, "agent_id": "config-agent", "retry": ONE_ATTEMPT}
    settings.update(overrides)
    return AgentClientConfig(base_url=url, **settings)  # type: ignore[arg-type]


async def test_user_agent_and_default_headers_are_sent(server: ServerHandle) -> None:
    config = make_config(server.base_url, user_agent="my-app/2.0", headers={"X-Team": "finance"})
    async with KeiAgentClient(config) as client:
        await client.plan_task(objective="x")
    headers = server.stats.last_headers("planTask")
    assert headers is not None
    assert headers["user-agent"] == "my-app/2.0"
    assert headers["x-team"] == "finance"


async def test_auth_type_none_sends_no_credentials(server: ServerHandle) -> None:
    config = make_config(server.base_url)
    async with KeiAgentClient(config, security_config=SecurityConfig(auth_type=AuthType.NONE)) as client:
        health = await client.health_check()
    assert health["status"]
    headers = server.stats.last_headers("getHealth")
    assert headers is not None
    assert "authorization" not in headers


async def test_connect_timeout_bounds_connecting(black_hole: str) -> None:
    connection = ConnectionConfig(timeout=30.0, connect_timeout=0.2)
    async with KeiAgentClient(make_config(black_hole, connection=connection)) as client:
        with pytest.raises(APITimeoutError) as caught:
            await client.health_check()
    assert isinstance(caught.value.__cause__, httpx.ConnectTimeout)


async def test_max_connections_bounds_the_pool(server: ServerHandle) -> None:
    server.faults.add(Fault.latency(0.2, route="getHealth"))
    connection = ConnectionConfig(max_connections=2, max_keepalive_connections=2)
    async with KeiAgentClient(make_config(server.base_url, connection=connection)) as client:
        assert pool_view(client._shared.http).max_connections == 2
        for _ in range(3):
            await client.health_check()
        assert len(pool_view(client._shared.http).connections) == 1


async def test_keepalive_expiry_retires_idle_connections(server: ServerHandle) -> None:
    connection = ConnectionConfig(keepalive_expiry=0.1)
    async with KeiAgentClient(make_config(server.base_url, connection=connection)) as client:
        await client.health_check()
        first = pool_view(client._shared.http).connections
        await sleep(0.3)
        await client.health_check()
        second = pool_view(client._shared.http).connections
    assert len(first) == len(second) == 1
    assert first[0] is not second[0]


async def test_http2_without_h2_is_a_configuration_error(server: ServerHandle) -> None:
    config = make_config(server.base_url, connection=ConnectionConfig(http2=True))
    with pytest.raises(ConfigurationError, match=r"connection\.http2"):
        KeiAgentClient(config)


async def test_verify_uses_the_given_ca_bundle(tls_server: tuple[ServerHandle, object]) -> None:
    server, ca_file = tls_server
    config = make_config(server.base_url, connection=ConnectionConfig(verify=str(ca_file)))
    async with KeiAgentClient(config) as client:
        health = await client.health_check()
    assert health["status"]


async def test_verification_is_on_by_default(tls_server: tuple[ServerHandle, object]) -> None:
    server, _ = tls_server
    async with KeiAgentClient(make_config(server.base_url)) as client:
        with pytest.raises(APIConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.health_check()
    assert server.stats.requests("getHealth") == 0


async def test_breaker_open_seconds_admits_a_probe_later(server: ServerHandle) -> None:
    server.faults.add(Fault.status(503, retry_after=0, route="getHealth", times=2))
    retry = RetryConfig(
        max_attempts=1, breaker_failure_threshold=2, breaker_minimum_calls=2, breaker_window=4, breaker_open_seconds=0.2
    )
    async with KeiAgentClient(make_config(server.base_url, retry=retry)) as client:
        for _ in range(2):
            with pytest.raises(InternalServerError):
                await client.health_check()
        assert client.circuit_state() is CircuitState.OPEN
        await sleep(0.3)
        assert client.circuit_state() is CircuitState.HALF_OPEN
        await client.health_check()
        assert client.circuit_state() is CircuitState.CLOSED


async def test_rpc_disabled_carries_plans_over_the_bus(server: ServerHandle) -> None:
    protocols = ProtocolConfig(rpc_enabled=False)
    async with KeiAgentClient(make_config(server.base_url), protocol_config=protocols) as client:
        plan = await client.plan_task(objective="bus only")
    assert isinstance(plan, models.PlanResponse)
    assert server.stats.requests("planTask") == 0
    assert server.stats.requests("busRequest") == 1


async def test_operations_without_an_enabled_protocol_raise_protocol_error(server: ServerHandle) -> None:
    protocols = ProtocolConfig(rpc_enabled=False)
    async with KeiAgentClient(make_config(server.base_url), protocol_config=protocols) as client:
        with pytest.raises(ProtocolError):
            await client.get_agent("anyone")
    assert server.stats.requests("getAgent") == 0


async def test_fallback_disabled_surfaces_the_rpc_failure(server: ServerHandle) -> None:
    server.faults.add(Fault.status(503, retry_after=0, route="planTask"))
    protocols = ProtocolConfig(protocol_fallback_enabled=False)
    async with KeiAgentClient(make_config(server.base_url), protocol_config=protocols) as client:
        with pytest.raises(InternalServerError):
            await client.plan_task(objective="x")
    assert server.stats.requests("busRequest") == 0


async def test_bus_disabled_means_no_fallback_target(server: ServerHandle) -> None:
    server.faults.add(Fault.status(503, retry_after=0, route="planTask"))
    protocols = ProtocolConfig(bus_enabled=False)
    async with KeiAgentClient(make_config(server.base_url), protocol_config=protocols) as client:
        with pytest.raises(InternalServerError):
            await client.plan_task(objective="x")
    assert server.stats.requests("busRequest") == 0


async def test_downgrade_is_sticky_for_the_cooldown_then_rpc_is_tried_again(server: ServerHandle) -> None:
    server.faults.add(Fault.status(503, retry_after=0, route="planTask", times=1))
    protocols = ProtocolConfig(fallback_cooldown_seconds=0.3)
    async with KeiAgentClient(make_config(server.base_url), protocol_config=protocols) as client:
        await client.plan_task(objective="first: falls back")
        await client.plan_task(objective="second: bus first during the cool-down")
        assert server.stats.requests("planTask") == 1
        assert server.stats.requests("busRequest") == 2
        await sleep(0.4)
        await client.plan_task(objective="third: rpc again")
    assert server.stats.requests("planTask") == 2
    assert server.stats.requests("busRequest") == 2


async def test_forced_protocol_is_honoured(server: ServerHandle) -> None:
    async with KeiAgentClient(make_config(server.base_url)) as client:
        plan = await client.plan_task(objective="forced", protocol="bus")
        with pytest.raises(ProtocolError):
            await client.plan_task(objective="x", protocol="smoke-signals")
    assert plan["objective"] == "forced"
    assert server.stats.requests("busRequest") == 1
    assert server.stats.requests("planTask") == 0
