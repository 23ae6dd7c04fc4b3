"""Behaviour that only one flavour has: asyncio concurrency, threads, notebooks, graceful close."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import kei_agent_async
import kei_agent_sync
from kei_agent import (
    AgentClientConfig,
    APIConnectionError,
    CircuitState,
    ConnectionConfig,
    InternalServerError,
    RetryConfig,
)
from kei_agent.testing import Fault, ServerHandle
from tests.clients.conftest import TOKEN
from tests.support.connections import count_connections


def config(server: ServerHandle | str, **overrides: object) -> AgentClientConfig:
    url = server if isinstance(server, str) else server.base_url
    return AgentClientConfig(base_url=url, api_token=TOKEN, **overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
def test_one_hundred_concurrent_async_calls_share_one_bounded_pool(server: ServerHandle, transport: str) -> None:
    server.faults.add(Fault.latency(0.05, route="planTask"))  # the calls overlap: the pool fills up
    limits = ConnectionConfig(max_connections=10, max_keepalive_connections=10, transport=transport)

    async def main() -> set[str]:
        async with kei_agent_async.KeiAgentClient(config(counter.url, connection=limits)) as client:
            plans = await asyncio.gather(*(client.plan_task(objective=f"task {i}") for i in range(100)))
            return {plan.plan_id for plan in plans}

    with count_connections(server.base_url) as counter:
        plan_ids = asyncio.run(main())
    assert len(plan_ids) == 100
    assert counter.peak == 10  # 100 calls in flight, at most (and here exactly) 10 connections at once
    assert counter.accepted == 10  # the pool's connections were reused, never replaced
    assert server.stats.requests("planTask") == 100


def test_threads_share_one_sync_client(server: ServerHandle) -> None:
    with kei_agent_sync.KeiAgentClient(config(server)) as client:

        def work(index: int) -> list[str]:
            return [client.plan_task(objective=f"thread {index} call {n}").plan_id for n in range(10)]

        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(work, range(8)))
    assert len({plan_id for batch in results for plan_id in batch}) == 80
    assert server.stats.requests("planTask") == 80


def test_sync_client_works_inside_a_running_event_loop(server: ServerHandle) -> None:
    """A Jupyter notebook runs an event loop in the main thread: the sync client must not care."""

    async def notebook_cell() -> str:
        assert asyncio.get_running_loop().is_running()
        with kei_agent_sync.KeiAgentClient(config(server)) as client:
            return client.plan_task(objective="from a notebook").objective

    assert asyncio.run(notebook_cell()) == "from a notebook"


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
def test_async_close_lets_calls_in_progress_finish(server: ServerHandle, transport: str) -> None:
    server.faults.add(Fault.latency(0.3, route="getHealth"))

    async def main() -> str:
        client = kei_agent_async.KeiAgentClient(config(server, connection=ConnectionConfig(transport=transport)))
        call = asyncio.create_task(client.health_check())
        await asyncio.sleep(0.05)
        await client.close(timeout=5.0)
        return (await call).status

    assert asyncio.run(main()) == "healthy"


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
def test_async_close_cuts_off_calls_after_its_timeout(server: ServerHandle, transport: str) -> None:
    server.faults.add(Fault.latency(3.0, route="getHealth"))
    retry = RetryConfig(max_attempts=1)

    async def main() -> BaseException | None:
        connection = ConnectionConfig(transport=transport)
        client = kei_agent_async.KeiAgentClient(config(server, retry=retry, connection=connection))
        call = asyncio.create_task(client.health_check())
        await asyncio.sleep(0.05)
        await client.close(timeout=0.1)
        results = await asyncio.gather(call, return_exceptions=True)
        return results[0] if isinstance(results[0], BaseException) else None

    error = asyncio.run(main())
    assert isinstance(error, APIConnectionError)


def test_sync_close_lets_threads_finish(server: ServerHandle) -> None:
    server.faults.add(Fault.latency(0.3, route="getHealth"))
    client = kei_agent_sync.KeiAgentClient(config(server))
    results: list[str] = []
    worker = threading.Thread(target=lambda: results.append(client.health_check().status))
    worker.start()
    for _ in range(500):
        if server.stats.requests("getHealth"):
            break
        threading.Event().wait(0.01)
    client.close(timeout=5.0)
    worker.join()
    assert results


def test_a_cancelled_half_open_probe_frees_its_slot(server: ServerHandle) -> None:
    retry = RetryConfig(
        max_attempts=1, breaker_failure_threshold=2, breaker_minimum_calls=2, breaker_window=4, breaker_open_seconds=0.2
    )
    server.faults.add(Fault.status(503, retry_after=0, route="getHealth", times=2))

    async def main() -> str:
        async with kei_agent_async.KeiAgentClient(config(server, retry=retry)) as client:
            for _ in range(2):
                with pytest.raises(InternalServerError):
                    await client.health_check()
            await asyncio.sleep(0.3)
            assert client.circuit_state() is CircuitState.HALF_OPEN
            rule = server.faults.add(Fault.latency(2.0, route="getHealth"))
            probe = asyncio.create_task(client.health_check())
            await asyncio.sleep(0.1)
            probe.cancel()
            with pytest.raises(asyncio.CancelledError):
                await probe
            server.faults.remove(rule)
            return (await client.health_check()).status

    assert asyncio.run(main()) == "healthy"


# ------------------------------------------------------------------ close() with calls in flight


def test_async_close_fails_calls_in_flight_with_api_connection_error(server: ServerHandle) -> None:
    server.faults.add(Fault.latency(3.0, route="planTask"))

    async def main() -> BaseException | None:
        client = kei_agent_async.KeiAgentClient(config(server))
        call = asyncio.create_task(client.plan_task("slow"))
        await asyncio.sleep(0.3)  # the request is on the wire
        await client.close(timeout=0.1)
        try:
            await call
        except BaseException as exc:
            return exc
        return None

    error = asyncio.run(main())
    assert isinstance(error, APIConnectionError), repr(error)
    assert "closed" in str(error)


def test_sync_close_fails_calls_in_flight_with_api_connection_error(server: ServerHandle) -> None:
    server.faults.add(Fault.latency(3.0, route="planTask"))
    client = kei_agent_sync.KeiAgentClient(config(server))
    errors: list[BaseException] = []

    def call() -> None:
        try:
            client.plan_task("slow")
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    threading.Event().wait(0.3)  # the request is on the wire
    client.close(timeout=0.1)
    thread.join(10)
    assert len(errors) == 1
    assert isinstance(errors[0], APIConnectionError), repr(errors[0])
