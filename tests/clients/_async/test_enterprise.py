"""The enterprise layer in the client pipeline: input validation before sending, the logging
context's correlation id on the wire, performance records, spans, ``traceparent`` and metrics.

Written once for the async client; tests/clients/_sync holds the generated twin.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from kei_agent import (
    AgentClientConfig,
    APIConnectionError,
    APIStatusError,
    NotFoundError,
    RetryConfig,
    SecurityError,
    ValidationError,
    get_correlation_id,
)
from kei_agent.logging import LogContext, clear_context, set_context
from kei_agent.testing import Fault, ServerHandle, run_server
from kei_agent_async import KeiAgentClient
from tests.support.enterprise import JsonLogs, OtelCapture

pytestmark = pytest.mark.anyio

TOKEN = "enterprise-token"
FAST_RETRY = RetryConfig(max_attempts=3, base_delay=0.01, max_delay=0.02)


@pytest.fixture
def kei_server() -> Iterator[ServerHandle]:
    with run_server(tokens=[TOKEN]) as handle:
        yield handle


@pytest.fixture(autouse=True)
def _no_context() -> Iterator[None]:
    clear_context()
    yield
    clear_context()


def make_client(server: ServerHandle, **overrides: Any) -> KeiAgentClient:
    settings: dict[str, Any] = {"api_token": TOKEN, "agent_id": "enterprise-agent", "retry": FAST_RETRY}
    settings.update(overrides)
    return KeiAgentClient(AgentClientConfig(base_url=server.base_url, **settings))


# ------------------------------------------------------------------------------- validation


async def test_invalid_input_is_rejected_before_sending_with_every_problem(kei_server: ServerHandle) -> None:
    async with make_client(kei_server) as client:
        with pytest.raises(ValidationError) as caught:
            await client.register_agent(name="", agent_id="bad id", capabilities=["plan", ""], version="v" * 65)
        with pytest.raises(ValidationError) as path_error:
            await client.get_agent("no spaces allowed")
    problems = {problem.path: problem.message for problem in caught.value.problems}
    assert sorted(problems) == ["$.agent_id", "$.capabilities[1]", "$.name", "$.version"]
    assert problems["$.name"] == "must not be empty"
    assert "registerAgent" in str(caught.value)
    assert path_error.value.problems[0].path == "path.agent_id"
    assert kei_server.stats.requests() == 0


async def test_hardening_violations_raise_security_error_and_log_a_security_event(
    kei_server: ServerHandle, json_logs: JsonLogs
) -> None:
    async with make_client(kei_server) as client:
        with pytest.raises(SecurityError):
            await client.plan_task(objective="Write the report\x00")
        with pytest.raises(SecurityError):
            await client.observe_environment("metrics", {"blob": "x" * (2 * 1024 * 1024)})
    assert kei_server.stats.requests() == 0
    events = [record for record in json_logs.records() if record.get("event") == "security"]
    assert [event["operation"] for event in events] == ["planTask", "observeEnvironment"]
    assert all(event["security_event"] == "input_rejected" for event in events)
    assert "xxxx" not in str(events)


async def test_ordinary_text_is_sent_unchanged(kei_server: ServerHandle) -> None:
    objective = "Summarize Bob's notes -- count #tags; SELECT the best option <b>now</b>"
    async with make_client(kei_server) as client:
        plan = await client.plan_task(objective=objective, context={"note": "It's O'Brien's", "q": "1=1"})
    assert plan["objective"] == objective


async def test_validation_can_be_turned_off(kei_server: ServerHandle) -> None:
    async with make_client(kei_server, validate_requests=False) as client:
        with pytest.raises(APIStatusError) as caught:
            await client.register_agent(name="", agent_id="bad id")
    assert caught.value.status_code in (400, 422)
    assert kei_server.stats.requests("registerAgent") == 1


# ------------------------------------------------------------------ correlation and log records


async def test_the_log_contexts_correlation_id_is_sent_and_logged(
    kei_server: ServerHandle, json_logs: JsonLogs
) -> None:
    set_context(LogContext(correlation_id="corr-ctx-1", user_id="user-7"))
    async with make_client(kei_server) as client:
        await client.plan_task(objective="Write a report")
    headers = kei_server.stats.last_headers("planTask")
    assert headers is not None
    assert headers["x-correlation-id"] == "corr-ctx-1"
    (record,) = json_logs.find(event="performance", operation="planTask")
    assert record["correlation_id"] == "corr-ctx-1"
    assert record["user_id"] == "user-7"
    assert record["level"] == "DEBUG"
    assert record["protocol"] == "rpc"
    assert record["outcome"] == "success"
    assert record["duration_ms"] > 0
    assert record["module"].endswith("._pipeline")


async def test_a_call_without_context_uses_one_new_id_for_all_its_attempts(
    kei_server: ServerHandle, json_logs: JsonLogs
) -> None:
    kei_server.faults.add(Fault.status(500, route="planTask", times=1))
    async with make_client(kei_server) as client:
        await client.plan_task(objective="first")
        await client.plan_task(objective="second")
    sent = [headers["x-correlation-id"] for headers in kei_server.stats.all_headers("planTask")]
    assert len(sent) == 3
    assert sent[0] == sent[1] != sent[2]
    logged = [record["correlation_id"] for record in json_logs.find(event="performance", operation="planTask")]
    assert logged == [sent[0], sent[2]]
    assert get_correlation_id() is None


async def test_failed_calls_are_logged_with_their_outcome(kei_server: ServerHandle, json_logs: JsonLogs) -> None:
    async with make_client(kei_server) as client:
        with pytest.raises(NotFoundError):
            await client.get_agent("missing-agent")
    (record,) = json_logs.find(event="performance", operation="getAgent")
    assert record["outcome"] == "error"


# ------------------------------------------------------------------------ tracing and metrics


def _attribute(span: Any, name: str) -> Any:
    return dict(span.attributes or {}).get(name)


async def test_one_span_per_operation_and_one_child_per_attempt(kei_server: ServerHandle, otel: OtelCapture) -> None:
    kei_server.faults.add(Fault.status(500, route="planTask", times=2))
    async with make_client(kei_server) as client:
        with otel.tracer.start_as_current_span("application") as app_span:
            await client.plan_task(objective="Write a report")
    spans = otel.spans()
    (operation,) = [span for span in spans if span.name == "kei_agent.planTask"]
    attempts = sorted(
        (span for span in spans if span.name == "POST /api/v1/rpc/plan"), key=lambda span: span.start_time
    )
    assert operation.parent.span_id == app_span.get_span_context().span_id
    assert _attribute(operation, "kei.operation_id") == "planTask"
    assert _attribute(operation, "kei.protocol") == "rpc"
    assert operation.status.status_code.name == "UNSET"
    assert [span.parent.span_id for span in attempts] == [operation.context.span_id] * 3
    assert [_attribute(span, "http.response.status_code") for span in attempts] == [500, 500, 200]
    assert [_attribute(span, "http.request.resend_count") for span in attempts] == [None, 1, 2]
    assert [_attribute(span, "kei.retry_count") for span in attempts] == [0, 1, 2]
    assert [span.status.status_code.name for span in attempts] == ["ERROR", "ERROR", "UNSET"]
    assert all(_attribute(span, "kei.protocol") == "rpc" for span in attempts)
    assert all(_attribute(span, "http.request.method") == "POST" for span in attempts)
    assert _attribute(attempts[0], "url.full") == f"{kei_server.base_url}/api/v1/rpc/plan"
    assert _attribute(attempts[0], "url.template") == "/api/v1/rpc/plan"
    # Each attempt carried its own span as W3C traceparent.
    sent = [headers["traceparent"] for headers in kei_server.stats.all_headers("planTask")]
    expected = [f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}" for span in attempts]
    assert [value[:52] for value in sent] == expected


async def test_errors_are_recorded_on_the_spans(kei_server: ServerHandle, otel: OtelCapture) -> None:
    async with make_client(kei_server) as client:
        with pytest.raises(NotFoundError):
            await client.get_agent("missing-agent")
    spans = {span.name: span for span in otel.spans()}
    operation = spans["kei_agent.getAgent"]
    attempt = spans["GET /api/v1/registry/agents/{agent_id}"]
    assert operation.status.status_code.name == "ERROR"
    assert _attribute(operation, "error.type") == "NotFoundError"
    (event,) = operation.events
    assert event.name == "exception"
    assert event.attributes["exception.type"].endswith("NotFoundError")
    assert _attribute(attempt, "http.response.status_code") == 404
    assert _attribute(attempt, "error.type") == "404"


async def test_transport_errors_are_recorded_on_the_attempt_span(otel: OtelCapture) -> None:
    from tests.support.peers import free_port

    config = AgentClientConfig(
        base_url=f"http://127.0.0.1:{free_port()}", api_token=TOKEN, retry=RetryConfig(max_attempts=1)
    )
    async with KeiAgentClient(config) as client:
        with pytest.raises(APIConnectionError, match="protocols tried: rpc: ConnectError after 1 attempt"):
            await client.plan_task(objective="x")
    (attempt,) = [span for span in otel.spans() if span.name == "POST /api/v1/rpc/plan"]
    assert _attribute(attempt, "error.type") == "ConnectError"
    assert attempt.status.status_code.name == "ERROR"
    assert attempt.events[0].name == "exception"


def _histogram_count(otel: OtelCapture, name: str, **attributes: Any) -> int:
    return sum(
        point.count
        for point in otel.metric_points(name)
        if all(point.attributes.get(key) == value for key, value in attributes.items())
    )


async def test_metrics_count_calls_attempts_retries_and_breaker_transitions(
    kei_server: ServerHandle, otel: OtelCapture
) -> None:
    labels = {"kei.operation_id": "explainReasoning", "kei.protocol": "rpc"}
    calls_before = _histogram_count(otel, "kei_agent.client.operation.duration", **labels)
    attempts_before = otel.counter_total("kei_agent.client.attempts", **labels)
    retries_before = otel.counter_total("kei_agent.client.retries", **labels)
    opened_before = otel.counter_total("kei_agent.client.breaker.transitions", **{"kei.state.to": "open"})
    kei_server.faults.add(Fault.status(500, route="explainReasoning", times=1))
    async with make_client(kei_server) as client:
        await client.explain_reasoning("Why?")
        await client.explain_reasoning("Why not?")
    assert _histogram_count(otel, "kei_agent.client.operation.duration", **labels) == calls_before + 2
    assert _histogram_count(otel, "http.client.request.duration", **labels) >= 3
    assert otel.counter_total("kei_agent.client.attempts", **labels) == attempts_before + 3
    assert otel.counter_total("kei_agent.client.retries", **labels) == retries_before + 1

    kei_server.faults.add(Fault.status(500, route="explainReasoning"))
    fragile = RetryConfig(max_attempts=1, breaker_failure_threshold=2, breaker_minimum_calls=2, breaker_window=2)
    async with make_client(kei_server, retry=fragile) as client:
        for _ in range(2):
            with pytest.raises(APIStatusError):
                await client.explain_reasoning("Why?")
    opened = otel.counter_total("kei_agent.client.breaker.transitions", **{"kei.state.to": "open"})
    assert opened == opened_before + 1


async def test_token_fetches_are_counted_as_token_refreshes(kei_server: ServerHandle, otel: OtelCapture) -> None:
    from kei_agent import AccessToken, SecurityConfig

    class Rotating:
        def __init__(self) -> None:
            self.values = ["revoked-token", TOKEN]

        def fetch_token(self) -> AccessToken:
            return AccessToken(self.values.pop(0), expires_in=300)

    labels = {"kei.outcome": "success", "kei.auth_type": "Rotating"}
    before = otel.counter_total("kei_agent.client.token.refreshes", **labels)
    config = AgentClientConfig(base_url=kei_server.base_url, agent_id="metrics-agent")
    async with KeiAgentClient(config, security_config=SecurityConfig(token_provider=Rotating())) as client:
        await client.plan_task(objective="a 401 makes the client fetch a new token")
    assert otel.counter_total("kei_agent.client.token.refreshes", **labels) == before + 2
