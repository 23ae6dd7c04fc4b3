"""The documented flow that ``kei-agent demo`` runs (written once; the blocking twin is generated).

plan → act → observe → explain, publish → consume, tool discovery and use, a few stream events and
a health summary. Each step is reported as (step, milliseconds, summary).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kei_agent import AgentClientConfig

from .client import KeiAgentClient

Report = Callable[[str, float, str], None]


class _Clock:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def lap(self) -> float:
        now = time.perf_counter()
        elapsed, self.started = (now - self.started) * 1000.0, now
        return elapsed


async def run_flow(base_url: str, token: str, agent_id: str, report: Report) -> None:
    """Run every step of the demo against ``base_url``; raises on the first failing step."""
    config = AgentClientConfig(base_url=base_url, api_token=token, agent_id=agent_id)
    async with KeiAgentClient(config) as client:
        clock = _Clock()
        plan = await client.plan_task(objective="Write a quarterly report", context={"quarter": "Q3"})
        report("plan_task", clock.lap(), f"plan {plan.plan_id} with {len(plan.steps)} steps")

        result = await client.execute_action(
            "generate_report", {"title": "Q3 report"}, plan_id=plan.plan_id, step_id=plan.steps[-1].step_id
        )
        report("execute_action", clock.lap(), f"report of {result['result'].get('file_size', 0)} bytes")

        observation = await client.observe_environment("system_metrics", {"cpu": 0.42, "memory": 0.61})
        report("observe_environment", clock.lap(), f"observation {observation.observation_id}")

        explanation = await client.explain_reasoning("Why this order of steps?", {"plan_id": plan.plan_id})
        report("explain_reasoning", clock.lap(), explanation.explanation[:70])

        subscription = await client.subscribe(f"demo.{agent_id}.reports", visibility_timeout=10.0, wait=1.0)
        for index in range(3):
            await client.publish(f"demo.{agent_id}.reports", {"report": index}, type="report.ready")
        report("publish", clock.lap(), "3 messages published")
        received = []
        for _ in range(10):
            messages = await subscription.poll(wait=1.0)
            if messages:
                await subscription.ack(*messages)
                received.extend(messages)
            if len(received) >= 3:
                break
        await subscription.close()
        report("subscribe → poll → ack", clock.lap(), f"{len(received)} messages consumed and acknowledged")

        tools = await client.discover_available_tools()
        report("discover_available_tools", clock.lap(), ", ".join(tool.name for tool in tools))
        answer = await client.use_tool("calculator", expression="6 * 7")
        report("use_tool", clock.lap(), f"calculator: 6 * 7 = {answer['result'].get('value')}")

        events = []
        stream = client.stream_events(since="0")
        async for event in stream:
            events.append(f"{event.id}:{event['type']}")
            if len(events) >= 3:
                break
        await stream.close()
        report("stream_events", clock.lap(), "  ".join(events))

        health = await client.health_check()
        checks = ", ".join(f"{name} {check.status}" for name, check in health.checks.additional_properties.items())
        report("health_check", clock.lap(), f"{health.status} ({checks})")
