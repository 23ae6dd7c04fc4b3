"""Every client operation against Prism, which validates each request against the spec.

Prism answers with the spec's examples, so results are asserted field by field. The sync twin of
this module (tests/clients/_sync) is generated: the same scenarios for the blocking client.
"""

from __future__ import annotations

import pytest

from kei_agent import AgentClientConfig
from kei_agent._generated import models
from kei_agent_async import KeiAgentClient

pytestmark = [pytest.mark.anyio, pytest.mark.prism]


def make_client(url: str) -> KeiAgentClient:
    return KeiAgentClient(AgentClientConfig(base_url=url, api_token="prism-token", agent_id="report-writer"))


async def test_plan_act_observe_explain(prism_url: str) -> None:
    async with make_client(prism_url) as client:
        plan = await client.plan_task(objective="Write a quarterly report", context={"quarter": "Q3"})
        result = await client.execute_action("generate_report", {"title": "Q3 report"}, plan_id=plan["plan_id"])
        observation = await client.observe_environment("system_metrics", {"cpu": 0.42})
        explanation = await client.explain_reasoning("Why?", {"plan_id": plan["plan_id"]})
    assert isinstance(plan, models.PlanResponse)
    assert plan["plan_id"] == "plan-7f3a"
    assert [step.index for step in plan.steps] == [1, 2]
    assert result.get("result").get("file_size", 0) == 48213
    assert observation["observation_type"] == "system_metrics"
    assert explanation.references[0].step_id == "plan-7f3a.1"


async def test_execute_agent_operation_routes_by_name(prism_url: str) -> None:
    async with make_client(prism_url) as client:
        plan = await client.execute_agent_operation("plan", {"objective": "Write a report"})
        custom = await client.execute_agent_operation("summarize", {"text": "Figures up 4 %."})
    assert isinstance(plan, models.PlanResponse)
    assert isinstance(custom, models.OperationResult)
    assert custom["result"]["summary"] == "Figures up 4 %."


async def test_registry_operations(prism_url: str) -> None:
    async with make_client(prism_url) as client:
        agent = await client.register_agent("Report writer", capabilities=["plan"], metadata={"team": "finance"})
        fetched = await client.get_agent("report-writer")
        updated = await client.update_agent("report-writer", description="Drafts and reviews reports.")
        beat = await client.heartbeat(status="ready", load=0.3)
        listed = []
        async for agent_entry in client.list_agents(capability="plan", page_size=10):
            listed.append(agent_entry)
        deleted = await client.delete_agent("report-writer")
    assert agent.agent_id == "report-writer"
    assert fetched["status"] == models.AgentStatus.REGISTERED
    assert updated["name"] == "Report writer"
    assert beat.ready is True
    assert [a.agent_id for a in listed] == ["report-writer"]
    assert deleted is None


async def test_health_and_readiness_need_no_token(prism_url: str) -> None:
    config = AgentClientConfig(base_url=prism_url, api_token="unused")
    async with KeiAgentClient(config) as client:
        health = await client.health_check()
        ready = await client.readiness_check()
    assert health["status"] == "healthy"
    assert ready.ready is True
