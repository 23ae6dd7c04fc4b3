"""What a user sees when printing client results and errors (notebooks show ``repr``; IPython
uses ``_repr_pretty_``): the data, never ``Unset`` objects, wrappers or ``object at 0x``; errors
start with one line that says what failed.

Written once for the async client; tests/clients/_sync holds the generated twin.
"""

from __future__ import annotations

import pytest
from IPython.lib.pretty import pretty

from kei_agent import AgentClientConfig, NotFoundError, RetryConfig, ValidationError
from kei_agent._generated import models
from kei_agent.testing import ServerHandle
from kei_agent_async import KeiAgentClient

pytestmark = pytest.mark.anyio

TOKEN = "scenario-token"


def make_client(server: ServerHandle) -> KeiAgentClient:
    config = AgentClientConfig(
        base_url=server.base_url, api_token=TOKEN, agent_id="repr-agent", retry=RetryConfig(max_attempts=1)
    )
    return KeiAgentClient(config)


def assert_plain(text: str) -> None:
    for noise in ("Unset", "UNSET", " object at 0x", "additional_properties", "PlanStatus.", "ActionStatus."):
        assert noise not in text, f"{noise!r} in {text}"


async def test_results_print_as_their_data(server: ServerHandle) -> None:
    async with make_client(server) as client:
        plan = await client.plan_task(objective="Write a quarterly report", context={"quarter": "Q3"})
        result = await client.execute_action("generate_report", {"title": "Q3"}, plan_id=plan["plan_id"])
    text = repr(plan)
    assert text.startswith(f"PlanResponse(plan_id={plan.plan_id!r}, objective='Write a quarterly report', ")
    assert "status='created'" in text
    assert "context=PlanResponseContext(quarter='Q3')" in text
    assert str(plan) == text
    assert_plain(text)
    assert repr(result).startswith("ActionResult(action_id=")
    assert "status='completed'" in repr(result)
    assert f"result=ActionResultResult(document_id={result['result']['document_id']!r}, title='Q3', " in repr(result)
    assert_plain(repr(result))


async def test_results_display_one_field_per_line_in_ipython(server: ServerHandle) -> None:
    async with make_client(server) as client:
        plan = await client.plan_task(objective="Write a quarterly report")
    lines = pretty(plan).splitlines()
    assert lines[0] == "PlanResponse("
    assert lines[1] == f"    plan_id={plan.plan_id!r},"
    assert "    status='created'," in lines
    assert lines[-1] == ")"
    assert_plain("\n".join(lines))


async def test_stream_event_data_prints_without_a_wrapper(server: ServerHandle) -> None:
    async with make_client(server) as client, client.stream_events(["reports.*"]) as stream:
        await client.publish_event("reports.ready", {"document_id": "doc-1"})
        received = []
        async for event in stream:
            received.append(event)
            break
    event = received[0]
    assert isinstance(event, models.StreamEvent)
    assert repr(event["data"]) == "StreamEventData(document_id='doc-1')"
    assert "data=StreamEventData(document_id='doc-1')" in repr(event)
    assert repr(event).startswith(f"StreamEvent(id={event.id!r}, topic='reports.ready', ")
    assert_plain(repr(event))


async def test_agent_pager_prints_its_query_and_progress(server: ServerHandle) -> None:
    async with make_client(server) as client:
        await client.register_agent(name="writer", agent_id="writer-1", capabilities=["plan"])
        pager = client.list_agents(page_size=50, capability="plan")
        assert repr(pager) == "AgentPager(limit=50, capability='plan', pages_fetched=0)"
        agents = []
        async for agent in pager:
            agents.append(agent)
        assert repr(pager) == "AgentPager(limit=50, capability='plan', pages_fetched=1)"
    assert len(agents) == 1
    assert repr(agents[0]).startswith("Agent(agent_id='writer-1', name='writer', capabilities=['plan'], ")
    assert_plain(repr(agents))


async def test_api_errors_print_one_line_naming_the_call_status_and_reason(server: ServerHandle) -> None:
    async with make_client(server) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.get_agent("nobody")
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith("GET /api/v1/registry/agents/nobody failed with 404 Not Found: ")
    assert "nobody" in text.split(": ", 1)[1]
    assert f"request_id={caught.value.request_id}" in text
    assert repr(caught.value).startswith("NotFoundError('GET /api/v1/registry/agents/nobody failed with 404")


async def test_validation_errors_print_one_line_first_then_every_problem(server: ServerHandle) -> None:
    async with make_client(server) as client:
        with pytest.raises(ValidationError) as caught:
            await client.register_agent(name="", agent_id="bad id", capabilities=["plan"])
    first, *problems = str(caught.value).splitlines()
    assert first == "Invalid input for registerAgent (2 problems):"
    assert len(problems) == 2
    assert any(line.startswith("  - $.agent_id: must match the pattern") for line in problems)
    assert "  - $.name: must not be empty" in problems
    assert server.stats.requests("registerAgent") == 0
