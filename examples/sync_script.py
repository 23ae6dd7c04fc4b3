"""A script with the blocking client: plan a task, act on every step, observe, explain.

Run against any KEI server, e.g. the reference server (``kei-agent serve --port 8080``)::

    KEI_API_URL=http://127.0.0.1:8080 KEI_API_TOKEN=dev-token python examples/sync_script.py "Write a report"
"""

from __future__ import annotations

import sys

from kei_agent import AgentClientConfig, KeiSDKError
from kei_agent_sync import KeiAgentClient


def main(objective: str) -> int:
    config = AgentClientConfig.from_env()  # KEI_API_URL, KEI_API_TOKEN, KEI_AGENT_ID, ...
    with KeiAgentClient(config) as client:
        plan = client.plan_task(objective=objective, context={"source": "sync_script"})
        print(f"plan {plan.plan_id}: {len(plan.steps)} steps")
        for step in plan.steps:
            # Optional fields read like a mapping: .get() instead of checking for UNSET.
            result = client.execute_action(step["action"], dict(step.get("parameters", {})), plan_id=plan.plan_id)
            print(f"  step {step.index} {step.action}: {result.status}")
        client.observe_environment("script", {"completed_steps": len(plan.steps)})
        explanation = client.explain_reasoning("Why these steps?", context={"plan_id": plan.plan_id})
        print("explanation:", explanation.explanation.split(";", 1)[0])
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(" ".join(sys.argv[1:]) or "Write a quarterly report"))
    except KeiSDKError as error:  # one line saying what failed, no traceback
        sys.exit(f"error: {error}")
