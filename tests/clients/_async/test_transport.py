"""Client scenarios about the connection pool's transport (``ConnectionConfig.transport``).

Like every scenario here, they run once per transport of the async client (``kei_transport``,
see ``tests/clients/conftest.py``) and once in the sync flavour (httpx's own transport): the
error types, proxies and TLS behave the same whatever carries the requests.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from kei_agent import (
    AgentClientConfig,
    APIConnectionError,
    APITimeoutError,
    ConnectionConfig,
    RetryConfig,
)
from kei_agent.testing import Fault, ServerHandle
from kei_agent_async import KeiAgentClient
from kei_agent_async._backend import AIOHTTP_FLAVOUR
from tests.clients.conftest import TOKEN
from tests.support.connections import count_connections
from tests.support.peers import free_port
from tests.support.proxy import ForwardProxy

pytestmark = pytest.mark.anyio


def make_config(url: str, **overrides: object) -> AgentClientConfig:
    settings: dict[str, object] = {"api_token": TOKEN, "agent_id": "transport-agent"}
    settings.update(overrides)
    return AgentClientConfig(base_url=url, **settings)  # type: ignore[arg-type]


async def test_the_scenarios_run_on_the_transport_they_name(server: ServerHandle, kei_transport: str | None) -> None:
    async with KeiAgentClient(make_config(server.base_url)) as client:
        await client.health_check()
        kind = client.transport
        derived = client.with_options(timeout=5.0).transport
    assert kind == (kei_transport if AIOHTTP_FLAVOUR else "httpx")
    assert derived == kind  # a derived client shares the pool


@pytest.mark.parametrize("setting", ["httpx", "aiohttp"])
async def test_an_explicit_transport_wins_over_kei_transport(
    server: ServerHandle, setting: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEI_TRANSPORT", "aiohttp" if setting == "httpx" else "httpx")
    config = make_config(server.base_url, connection=ConnectionConfig(transport=setting))
    async with KeiAgentClient(config) as client:
        plan = await client.plan_task(objective="on a chosen transport")
        kind = client.transport
    assert plan.objective == "on a chosen transport"
    assert kind == (setting if AIOHTTP_FLAVOUR else "httpx")  # the sync client always uses httpx


@pytest.mark.parametrize(
    ("settings", "opened"),
    [
        ({}, [1, 1, 1]),  # the control: keep-alive reuses the one connection
        ({"max_keepalive_connections": 0}, [1, 2, 3]),
        ({"keepalive_expiry": 0.0}, [1, 2, 3]),
    ],
)
async def test_no_keepalive_opens_a_new_connection_for_each_call(
    server: ServerHandle, settings: dict[str, float], opened: list[int]
) -> None:
    with count_connections(server.base_url) as counter:
        config = make_config(counter.url, connection=ConnectionConfig(**settings))  # type: ignore[arg-type]
        async with KeiAgentClient(config) as client:
            accepted = []
            for _ in range(3):
                await client.health_check()
                accepted.append(counter.accepted)
    assert accepted == opened  # counted where the connections arrive, on both transports
    assert server.stats.requests("getHealth") == 3


async def test_refused_connection_is_a_connection_error_not_a_timeout() -> None:
    config = make_config(f"http://127.0.0.1:{free_port()}", retry=RetryConfig(max_attempts=1))
    async with KeiAgentClient(config) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.health_check()
    assert not isinstance(caught.value, APITimeoutError)
    assert type(caught.value.__cause__) is httpx.ConnectError


async def test_untrusted_server_certificate_is_a_connect_error(tls_server: tuple[ServerHandle, Path]) -> None:
    server, _ca_file = tls_server  # the client does not trust this private CA
    async with KeiAgentClient(make_config(server.base_url, retry=RetryConfig(max_attempts=1))) as client:
        with pytest.raises(APIConnectionError, match="CERTIFICATE_VERIFY_FAILED") as caught:
            await client.health_check()
    assert type(caught.value.__cause__) is httpx.ConnectError
    assert server.stats.requests("getHealth") == 0


async def test_slow_answer_is_a_read_timeout(server: ServerHandle) -> None:
    server.faults.add(Fault.latency(2.0, route="getHealth"))
    config = make_config(server.base_url, connection=ConnectionConfig(timeout=0.2), retry=RetryConfig(max_attempts=1))
    async with KeiAgentClient(config) as client:
        with pytest.raises(APITimeoutError) as caught:
            await client.health_check()
    assert type(caught.value.__cause__) is httpx.ReadTimeout


@pytest.mark.parametrize("after", ["headers", "body"])
async def test_connection_dropped_mid_response_is_a_protocol_error_resent_under_one_key(
    server: ServerHandle, after: str
) -> None:
    server.faults.add(Fault.drop(after=after, route="planTask"))  # type: ignore[arg-type]
    async with KeiAgentClient(make_config(server.base_url)) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.plan_task(objective="may have run", protocol="rpc")
    assert type(caught.value.__cause__) is httpx.RemoteProtocolError
    keys = [headers.get("idempotency-key") for headers in server.stats.all_headers("planTask")]
    assert len(keys) == 3  # every attempt, each of which may have run ...
    assert keys[0]
    assert set(keys) == {keys[0]}  # ... under the same key: the effect happens once


async def test_proxy_from_the_environment_carries_http_calls(server: ServerHandle, env_proxy: ForwardProxy) -> None:
    async with KeiAgentClient(make_config(server.base_url)) as client:
        plan = await client.plan_task(objective="via the proxy")
    assert plan.objective == "via the proxy"
    assert server.base_url.removeprefix("http://") in env_proxy.targets()


async def test_proxy_from_the_environment_tunnels_https_with_the_clients_tls_settings(
    tls_server: tuple[ServerHandle, Path], env_proxy: ForwardProxy
) -> None:
    server, ca_file = tls_server
    config = make_config(server.base_url, connection=ConnectionConfig(verify=str(ca_file)))
    async with KeiAgentClient(config) as client:
        health = await client.health_check()
    assert health["status"]
    assert server.base_url.removeprefix("https://") in env_proxy.targets()


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", " example.org , 127.0.0.1", "*"])
async def test_no_proxy_hosts_bypass_the_environment_proxy(
    server: ServerHandle, env_proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    monkeypatch.setenv("NO_PROXY", no_proxy)
    async with KeiAgentClient(make_config(server.base_url)) as client:
        plan = await client.plan_task(objective="straight to the server")
    assert plan.objective == "straight to the server"
    assert server.base_url.removeprefix("http://") not in env_proxy.targets()


async def test_all_proxy_from_the_environment_carries_calls(
    server: ServerHandle, env_proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("ALL_PROXY", env_proxy.url)
    async with KeiAgentClient(make_config(server.base_url)) as client:
        await client.health_check()
    assert server.base_url.removeprefix("http://") in env_proxy.targets()


async def test_unreachable_proxy_from_the_environment_fails_the_call(
    server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "http_proxy", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    async with KeiAgentClient(make_config(server.base_url, retry=RetryConfig(max_attempts=1))) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.health_check()
    assert isinstance(caught.value.__cause__, httpx.ConnectError | httpx.ProxyError)
    assert server.stats.requests("getHealth") == 0
