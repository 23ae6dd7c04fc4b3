"""The engine: the generated operations surface, per-call options, raw responses, and the call
semantics under faults (one deadline, one Idempotency-Key across fallback, local failures fail
fast, bounded bodies, safe path parameters). Real sockets: the reference server and hostile peers.

Written once for the async client; tests/clients/_sync holds the generated twin.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from loguru import logger

from kei_agent import (
    AgentClientConfig,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    CircuitState,
    ConfigurationError,
    ConnectionConfig,
    InternalServerError,
    ProtocolError,
    ResponseValidationError,
    RetryConfig,
    ValidationError,
)
from kei_agent._contract.operations import OPERATIONS
from kei_agent._generated import models
from kei_agent.responses import RawResponse
from kei_agent.testing import Fault, ServerHandle
from kei_agent_async import KeiAgentClient
from kei_agent_async._stream_sse import MAX_SSE_LINE
from tests.clients.conftest import TOKEN
from tests.support.actions import counting_action
from tests.support.hostile import run_hostile

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryConfig(max_attempts=3, base_delay=0.01, max_delay=0.05)
STREAMING = {"streamEvents"}


@pytest.fixture
def sdk_logs() -> Iterator[list[str]]:
    """Every record the SDK logs while the test runs (INFO and up; the packages log nothing by default)."""
    records: list[str] = []
    packages = ("kei_agent", "kei_agent_async", "kei_agent_sync")
    for package in packages:
        logger.enable(package)
    sink = logger.add(lambda message: records.append(message.record["message"]), level="INFO")
    try:
        yield records
    finally:
        logger.remove(sink)
        for package in packages:
            logger.disable(package)


def make_client(base_url: str, **overrides: object) -> KeiAgentClient:
    settings: dict[str, object] = {"api_token": TOKEN, "agent_id": "engine-agent", "retry": FAST_RETRY}
    settings.update(overrides)
    return KeiAgentClient(AgentClientConfig(base_url=base_url, **settings))  # type: ignore[arg-type]


# ------------------------------------------------------------------ the generated operations surface


async def test_every_spec_operation_is_a_method_of_the_operations_surface(server: ServerHandle) -> None:
    async with make_client(server.base_url) as client:
        surface, raw = client.operations, client.operations.with_raw_response
        missing = [
            spec.python_name
            for op_id, spec in OPERATIONS.items()
            if op_id not in STREAMING and not (callable(getattr(surface, spec.python_name, None)))
        ]
        missing_raw = [
            spec.python_name
            for op_id, spec in OPERATIONS.items()
            if op_id not in STREAMING and not callable(getattr(raw, spec.python_name, None))
        ]
    assert missing == []
    assert missing_raw == []


async def test_operations_take_a_mapping_body_and_return_the_model(server: ServerHandle) -> None:
    async with make_client(server.base_url) as client:
        plan = await client.operations.plan_task(body={"objective": "Write a report", "context": {"q": 3}})
        agent = await client.operations.register_agent(body={"agent_id": "ops-agent", "name": "Ops"})
        fetched = await client.operations.get_agent("ops-agent")
    assert isinstance(plan, models.PlanResponse)
    assert plan.objective == "Write a report"
    assert agent.agent_id == fetched.agent_id == "ops-agent"


async def test_raw_response_reports_status_request_id_and_retries(server: ServerHandle, sdk_logs: list[str]) -> None:
    server.faults.add(Fault.status(503, retry_after=0, route="planTask", times=1))
    async with make_client(server.base_url) as client:
        raw = await client.operations.with_raw_response.plan_task(body={"objective": "retried once"})
    assert isinstance(raw, RawResponse)
    assert isinstance(raw.parsed, models.PlanResponse)
    assert raw.status_code == 200
    assert raw.retries == 1
    assert raw.protocol == "rpc"
    assert raw.request_id is not None
    assert raw.request_id == raw.headers["X-Request-ID"]
    sent = server.stats.all_headers("planTask")
    assert len(sent) == 2
    assert len({headers["idempotency-key"] for headers in sent}) == 1  # the same key on the retry
    assert [headers["x-kei-retry-count"] for headers in sent] == ["0", "1"]
    assert sent[0]["authorization"] == f"Bearer {TOKEN}"
    assert [record for record in sdk_logs if "planTask: attempt 1 failed (status 503)" in record]


async def test_extra_headers_and_idempotency_key_reach_the_server(server: ServerHandle) -> None:
    async with make_client(server.base_url) as client:
        await client.operations.execute_action(
            body={"action": "echo", "parameters": {"x": 1}},
            extra_headers={"X-Custom": "yes"},
            idempotency_key="key-123",
        )
    sent = server.stats.last_headers("executeAction")
    assert sent is not None
    assert sent["x-custom"] == "yes"
    assert sent["idempotency-key"] == "key-123"


async def test_per_call_timeout_bounds_the_attempt(server: ServerHandle) -> None:
    server.faults.add(Fault.latency(2.0, route="getHealth"))
    async with make_client(server.base_url, retry=RetryConfig(max_attempts=1)) as client:
        with pytest.raises(APITimeoutError, match="getHealth"):
            await client.operations.get_health(timeout=0.2)


async def test_execute_operation_falls_back_to_the_bus_as_the_spec_says(server: ServerHandle) -> None:
    server.faults.add(Fault.status(503, retry_after=0, route="executeOperation"))
    async with make_client(server.base_url, retry=RetryConfig(max_attempts=1)) as client:
        result = await client.execute_agent_operation("summarize", {"text": "one two three. four five."})
    assert isinstance(result, models.OperationResult)
    assert server.stats.requests("busRequest") == 1


async def test_an_operation_the_stream_cannot_carry_names_the_protocols_that_can(server: ServerHandle) -> None:
    async with make_client(server.base_url) as client:
        with pytest.raises(ProtocolError, match="rpc, bus"):
            await client.execute_agent_operation("plan", {"objective": "x"}, protocol="stream")


# ------------------------------------------------------------------ no duplicate effects


async def test_fallback_after_a_lost_answer_runs_the_action_once(server: ServerHandle) -> None:
    runs = counting_action(server)
    server.faults.add(Fault.drop(after="headers", route="executeAction"))
    async with make_client(server.base_url, retry=RetryConfig(max_attempts=1)) as client:
        result = await client.execute_action("count_me", {"n": 1}, idempotency_key="caller-key")
    assert result["result"]["runs"] == 1
    assert len(runs) == 1  # ran over RPC (answer lost); the bus replayed it under the same key
    rpc = server.stats.last_headers("executeAction")
    bus = server.stats.last_headers("busRequest")
    assert rpc is not None
    assert bus is not None
    assert rpc["idempotency-key"] == bus["idempotency-key"] == "caller-key"


async def test_fallback_without_a_caller_key_still_runs_the_action_once(server: ServerHandle) -> None:
    runs = counting_action(server)
    server.faults.add(Fault.drop(after="headers", route="executeAction"))
    async with make_client(server.base_url, retry=RetryConfig(max_attempts=2, base_delay=0.01)) as client:
        await client.execute_action("count_me", {"n": 2})
    assert len(runs) == 1
    keys = {h["idempotency-key"] for h in server.stats.all_headers("executeAction")}
    keys |= {h["idempotency-key"] for h in server.stats.all_headers("busRequest")}
    assert len(keys) == 1


# ------------------------------------------------------------------ one deadline


async def test_the_deadline_bounds_attempts_and_fallbacks_against_a_silent_server(black_hole: str) -> None:
    retry = RetryConfig(max_attempts=5, base_delay=0.05, deadline=1.5)
    async with make_client(black_hole, retry=retry, connection=ConnectionConfig(connect_timeout=5.0)) as client:
        started = time.monotonic()
        with pytest.raises(APIConnectionError) as caught:
            await client.plan_task("never answered")
        elapsed = time.monotonic() - started
    assert elapsed < 1.5 + 1.0  # not 5 s of connect timeout per protocol: one budget for the whole call
    message = str(caught.value)
    assert "planTask" in message
    assert "127.0.0.1" in message  # the host that was tried


async def test_the_deadline_bounds_a_trickling_body() -> None:
    retry = RetryConfig(max_attempts=3, base_delay=0.01, deadline=1.0)
    with run_hostile("trickle-body") as hostile:
        async with make_client(hostile.base_url, retry=retry) as client:
            started = time.monotonic()
            with pytest.raises(APITimeoutError):
                await client.health_check()
            elapsed = time.monotonic() - started
    assert elapsed < 1.0 + 1.0


async def test_the_deadline_bounds_trickling_headers() -> None:
    # Every header byte arrives within the read timeout: only a deadline over the whole wait ends
    # it (the sync client cannot cancel a blocking read, its transport bounds each socket wait).
    retry = RetryConfig(max_attempts=3, base_delay=0.01, deadline=1.0)
    with run_hostile("trickle-headers") as hostile:
        async with make_client(hostile.base_url, retry=retry) as client:
            started = time.monotonic()
            with pytest.raises(APITimeoutError, match="deadline"):
                await client.health_check()
            elapsed = time.monotonic() - started
    assert elapsed < 1.0 + 1.0


# ------------------------------------------------------------------ bounded responses


async def test_a_gzip_bomb_is_refused_at_the_size_limit() -> None:
    connection = ConnectionConfig(max_response_bytes=4 * 1024 * 1024)
    with run_hostile("gzip-bomb") as hostile:
        async with make_client(hostile.base_url, connection=connection, retry=RetryConfig(max_attempts=1)) as client:
            with pytest.raises(APIConnectionError, match="max_response_bytes"):
                await client.health_check()


async def test_an_endless_body_is_refused_at_the_size_limit() -> None:
    connection = ConnectionConfig(max_response_bytes=1024 * 1024)
    with run_hostile("endless-chunked") as hostile:
        async with make_client(hostile.base_url, connection=connection, retry=RetryConfig(max_attempts=1)) as client:
            with pytest.raises(APIConnectionError, match="max_response_bytes"):
                await client.health_check()


async def test_a_huge_error_body_is_cut_in_the_exception() -> None:
    with run_hostile("huge-error") as hostile:
        async with make_client(hostile.base_url, retry=RetryConfig(max_attempts=1)) as client:
            with pytest.raises(InternalServerError) as caught:
                await client.health_check()
    body = getattr(caught.value, "body", b"")
    assert getattr(caught.value, "status_code", None) == 500
    assert 0 < len(body) <= 64 * 1024


# ------------------------------------------------------------------ local failures fail fast


async def test_an_unsendable_header_fails_locally_without_retry_or_breaker_cost(server: ServerHandle) -> None:
    secret_value = "s3cr3t\r\nInjected: yes"
    async with make_client(server.base_url) as client:
        for _ in range(6):
            with pytest.raises(ValidationError) as caught:
                await client.operations.get_health(extra_headers={"X-Secret": secret_value})
            assert "s3cr3t" not in str(caught.value)
            assert "X-Secret" in str(caught.value)
        assert client.circuit_state("rpc") is CircuitState.CLOSED
        health = await client.health_check()
    assert health.status is not None
    assert server.stats.requests("getHealth") == 1


async def test_unsendable_with_options_headers_are_refused_when_derived(server: ServerHandle) -> None:
    async with make_client(server.base_url) as client:
        with pytest.raises(ValidationError, match="headers") as caught:
            client.with_options(headers={"X-Name": "caf\u00e9 secret"})
    assert "secret" not in str(caught.value)


async def test_a_token_with_a_newline_is_refused_at_construction_without_showing_it() -> None:
    with pytest.raises(ConfigurationError, match="api_token") as caught:
        KeiAgentClient(AgentClientConfig(base_url="http://127.0.0.1:9", api_token="abc\r\ndef"))
    assert "abc" not in str(caught.value)


@pytest.mark.parametrize("agent_id", [".", "..", ""])
async def test_dot_segments_and_empty_path_parameters_never_change_the_target(
    server: ServerHandle, agent_id: str
) -> None:
    async with make_client(server.base_url, validate_requests=False) as client:
        with pytest.raises(ValidationError, match="agent_id"):
            await client.delete_agent(agent_id)
        with pytest.raises(ValidationError, match="agent_id"):
            await client.heartbeat(agent_id)
    assert server.stats.requests("deleteAgent") == 0
    assert server.stats.requests("agentHeartbeat") == 0
    assert server.stats.requests("listAgents") == 0


async def test_a_slash_in_a_path_parameter_stays_inside_the_segment(server: ServerHandle) -> None:
    async with make_client(server.base_url, validate_requests=False) as client:
        with pytest.raises(APIStatusError) as caught:
            await client.get_agent("../registry/agents")
    assert getattr(caught.value, "status_code", None) in (404, 422)
    assert server.stats.requests("listAgents") == 0


async def test_a_tls_verification_failure_is_neither_retried_nor_carried_to_the_bus(
    tls_server: tuple[ServerHandle, object], sdk_logs: list[str]
) -> None:
    handle, _untrusted_ca = tls_server
    async with make_client(handle.base_url) as client:  # the system trust store does not know the test CA
        with pytest.raises(APIConnectionError, match="CERTIFICATE_VERIFY_FAILED") as caught:
            await client.plan_task("over TLS")
        downgrades = client.protocol_downgrades
        state = client.circuit_state("rpc")
    assert "not retried" in str(caught.value)
    assert "bus" not in str(caught.value)
    assert downgrades == {}
    assert state is CircuitState.CLOSED
    assert not [record for record in sdk_logs if "retrying" in record or "falling back" in record]


@pytest.mark.parametrize("mode", ["deep-json", "huge-int"])
async def test_a_hostile_json_body_is_a_response_validation_error(mode: str) -> None:
    with run_hostile(mode) as hostile:
        async with make_client(hostile.base_url, retry=RetryConfig(max_attempts=1)) as client:
            with pytest.raises(ResponseValidationError) as caught:
                await client.health_check()
    assert caught.value.status_code == 200
    assert len(caught.value.body) <= 64 * 1024  # the body kept in the error is bounded


async def test_an_endless_event_stream_line_is_cut_at_the_line_limit() -> None:
    retry = RetryConfig(max_attempts=1, base_delay=0.01, max_delay=0.02, deadline=1.0)
    with run_hostile("endless-sse-line") as hostile:
        async with make_client(hostile.base_url, retry=retry) as client:
            stream = client.stream_events(["demo"], transport="sse")
            with pytest.raises((APIConnectionError, ProtocolError)) as caught:
                await _first_event(stream)
            await stream.close()
    assert f"an event-stream line exceeds {MAX_SSE_LINE} bytes" in str(caught.value)


async def _first_event(stream: Any) -> Any:
    async for event in stream:
        return event
    return None
