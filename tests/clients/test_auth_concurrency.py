"""Token lifecycle under concurrency, per flavour: single-flight, a free event loop, cancellation.

The token requests are counted by the real OpenID provider (and by the strategy itself).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import kei_agent_async
import kei_agent_sync
from kei_agent import AccessToken, AgentClientConfig, AuthType, ConnectionConfig, RetryConfig, Secret, SecurityConfig
from kei_agent.testing import ServerHandle
from kei_agent_async.auth import TokenAuth as AsyncTokenAuth
from kei_agent_sync.auth import TokenAuth as SyncTokenAuth
from tests.clients.conftest import TOKEN
from tests.support.oidc import AUDIENCE, BASIC_CLIENT, OIDCProvider
from tests.support.pki import PKI


def oidc_clients(oidc: OIDCProvider, server: ServerHandle, pki: PKI) -> tuple[AgentClientConfig, SecurityConfig]:
    config = AgentClientConfig(
        server.base_url,
        retry=RetryConfig(max_attempts=3, base_delay=0.01, max_delay=0.05),
        connection=ConnectionConfig(verify=str(pki.ca_file), max_connections=20, max_keepalive_connections=20),
    )
    security = SecurityConfig(
        auth_type=AuthType.OIDC,
        oidc_issuer=oidc.issuer,
        oidc_client_id=BASIC_CLIENT,
        oidc_client_secret=oidc.secrets[BASIC_CLIENT],
        oidc_scope="kei:plan",
        oidc_audience=AUDIENCE,
    )
    return config, security


def test_one_hundred_concurrent_async_calls_cause_one_token_request(
    oidc: OIDCProvider, oidc_server: ServerHandle, pki: PKI
) -> None:
    oidc.control(delay=0.3)  # every call arrives while the token request is in flight
    config, security = oidc_clients(oidc, oidc_server, pki)

    async def main() -> tuple[int, int]:
        async with kei_agent_async.KeiAgentClient(config, security_config=security) as client:
            plans = await asyncio.gather(*(client.plan_task(objective=f"task {i}") for i in range(100)))
            auth = client._auth
            assert isinstance(auth, AsyncTokenAuth)
            return len({plan.plan_id for plan in plans}), auth.fetches

    plans, fetches = asyncio.run(main())
    assert plans == 100
    assert fetches == 1
    assert oidc.token_requests() == 1
    assert oidc_server.stats.requests("planTask") == 100


def test_eight_threads_cause_one_token_request(oidc: OIDCProvider, oidc_server: ServerHandle, pki: PKI) -> None:
    oidc.control(delay=0.3)
    config, security = oidc_clients(oidc, oidc_server, pki)
    barrier = threading.Barrier(8)
    with kei_agent_sync.KeiAgentClient(config, security_config=security) as client:

        def work(index: int) -> str:
            barrier.wait()
            return str(client.plan_task(objective=f"thread {index}").plan_id)

        with ThreadPoolExecutor(max_workers=8) as pool:
            plan_ids = list(pool.map(work, range(8)))
        auth = client._auth
        assert isinstance(auth, SyncTokenAuth)
        assert auth.fetches == 1
    assert len(set(plan_ids)) == 8
    assert oidc.token_requests() == 1


def test_the_event_loop_keeps_running_while_a_token_is_requested(
    oidc: OIDCProvider, oidc_server: ServerHandle, pki: PKI
) -> None:
    oidc.control(delay=0.5)
    config, security = oidc_clients(oidc, oidc_server, pki)

    async def main() -> float:
        gaps: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0.01)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        tick = asyncio.create_task(ticker())
        async with kei_agent_async.KeiAgentClient(config, security_config=security) as client:
            await client.plan_task(objective="while the loop ticks")
        done.set()
        await tick
        return max(gaps)

    assert asyncio.run(main()) < 0.25  # the 0.5 s token request ran in a worker thread


def test_a_call_waiting_for_a_token_can_be_cancelled(oidc: OIDCProvider, oidc_server: ServerHandle, pki: PKI) -> None:
    oidc.control(delay=0.6)
    config, security = oidc_clients(oidc, oidc_server, pki)

    async def main() -> tuple[float, int]:
        async with kei_agent_async.KeiAgentClient(config, security_config=security) as client:
            started = time.perf_counter()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(client.plan_task(objective="cancelled"), 0.1)
            cancelled_after = time.perf_counter() - started
            await client.plan_task(objective="after the cancellation")  # joins the same token request
            auth = client._auth
            assert isinstance(auth, AsyncTokenAuth)
            return cancelled_after, auth.fetches

    cancelled_after, fetches = asyncio.run(main())
    assert cancelled_after < 0.3
    assert fetches == 1
    assert oidc.token_requests() == 1
    assert oidc_server.stats.requests("planTask") == 1


def test_calls_during_a_proactive_refresh_keep_using_the_valid_token() -> None:
    """Past the refresh point but before expiry, one call renews the token; the others do not wait."""
    now = [0.0]
    release = asyncio.Event()

    class Slow:
        def __init__(self) -> None:
            self.fetches = 0

        async def fetch_token(self) -> AccessToken:
            self.fetches += 1
            if self.fetches > 1:
                await release.wait()
            return AccessToken(f"token-{self.fetches}", expires_in=10)

    async def main() -> list[Secret]:
        source = Slow()
        auth = AsyncTokenAuth(source, leeway=2.0, clock=lambda: now[0])
        await auth.token()
        now[0] = 8.5  # due for a refresh, still valid for 1.5 s
        refresh = asyncio.create_task(auth.token())
        await asyncio.sleep(0)
        others = [await auth.token() for _ in range(5)]  # answered at once with the old token
        release.set()
        renewed = await refresh
        assert source.fetches == 2
        return [token.value for token in [*others, renewed]]

    values = asyncio.run(main())
    assert values == [Secret("token-1")] * 5 + [Secret("token-2")]


def test_an_async_token_callable_in_the_async_client(server: ServerHandle) -> None:
    async def current_token() -> str:
        await asyncio.sleep(0)
        return TOKEN

    async def main() -> None:
        security = SecurityConfig(token_provider=current_token)
        async with kei_agent_async.KeiAgentClient(AgentClientConfig(server.base_url), security_config=security) as c:
            await c.plan_task(objective="x")

    asyncio.run(main())
    assert server.stats.requests("planTask") == 1


def test_a_blocking_token_source_runs_in_a_worker_thread_in_the_async_client(server: ServerHandle) -> None:
    threads: list[str] = []

    class Blocking:
        def fetch_token(self) -> str:
            threads.append(threading.current_thread().name)
            time.sleep(0.05)
            return TOKEN

    async def main() -> None:
        security = SecurityConfig(token_provider=Blocking())
        async with kei_agent_async.KeiAgentClient(AgentClientConfig(server.base_url), security_config=security) as c:
            await c.plan_task(objective="x")

    asyncio.run(main())
    assert threads
    assert threads[0] != threading.main_thread().name


def test_the_sync_client_refuses_an_async_token_callable(server: ServerHandle) -> None:
    async def current_token() -> str:
        return TOKEN

    provider: Callable[[], Awaitable[Any]] = current_token
    security = SecurityConfig(token_provider=provider)
    client = kei_agent_sync.KeiAgentClient(AgentClientConfig(server.base_url), security_config=security)
    with client, pytest.raises(TypeError, match="kei_agent_async"):
        client.plan_task(objective="x")
    assert server.stats.requests("planTask") == 0
