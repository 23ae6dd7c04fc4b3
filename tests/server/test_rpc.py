"""RPC operations: plan, act, observe, explain, custom operations and bus request/reply."""

from __future__ import annotations

import httpx
import pytest

from kei_agent.testing import ServerHandle
from kei_agent.testing.planner import clauses, make_steps

OBJECTIVE = "Gather the Q3 figures, then sum 1200 and 800; write the quarterly report"


def plan(http: httpx.Client, objective: str = OBJECTIVE, **context: object) -> dict:
    body: dict = {"objective": objective}
    if context:
        body["context"] = context
    response = http.post("/api/v1/rpc/plan", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_plan_is_deterministic_with_numbered_step_ids(http: httpx.Client) -> None:
    first = plan(http, quarter="Q3", audience="board")
    second = plan(http, quarter="Q3", audience="board")
    assert first["plan_id"] != second["plan_id"]
    assert first["status"] == "created"
    assert first["created_at"].endswith("Z")
    strip = [{k: v for k, v in s.items() if k not in ("step_id", "depends_on")} for s in first["steps"]]
    assert strip == [{k: v for k, v in s.items() if k not in ("step_id", "depends_on")} for s in second["steps"]]
    ids = [step["step_id"] for step in first["steps"]]
    assert ids == [f"{first['plan_id']}.{n}" for n in range(1, len(ids) + 1)]
    assert [step["index"] for step in first["steps"]] == list(range(1, len(ids) + 1))
    assert first["steps"][1]["depends_on"] == [ids[0]]
    actions = [step["action"] for step in first["steps"]]
    assert actions == ["echo", "echo", "sum", "generate_report", "echo"]
    assert first["steps"][2]["parameters"] == {"values": [1200, 800]}
    assert first["steps"][3]["parameters"]["audience"] == "board"
    assert first["context"] == {"quarter": "Q3", "audience": "board"}


def test_planner_is_a_pure_function() -> None:
    assert clauses("a then b; c") == ["a", "b", "c"]
    assert make_steps("p", "Wait 2 seconds", None) == make_steps("p", "Wait 2 seconds", None)
    steps = make_steps("p", "Wait 2 seconds", None)
    assert steps[0]["action"] == "sleep"
    assert steps[0]["parameters"] == {"seconds": 1.0}
    assert len(make_steps("p", " then ".join(f"step {i}" for i in range(20)), None)) == 9


@pytest.mark.parametrize(
    ("action", "parameters", "expected"),
    [
        ("echo", {"message": "hello"}, {"message": "hello"}),
        ("sum", {"values": [1, 2, 3.5]}, {"sum": 6.5, "count": 3}),
        ("sleep", {"seconds": 0.01}, {"slept_seconds": 0.01}),
    ],
)
def test_builtin_actions(http: httpx.Client, action: str, parameters: dict, expected: dict) -> None:
    response = http.post("/api/v1/rpc/act", json={"action": action, "parameters": parameters})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "completed"
    assert result["result"] == expected
    assert result["action_id"].startswith("act-")
    assert result["duration_ms"] >= 0


def test_generate_report_returns_a_document_with_file_size(http: httpx.Client) -> None:
    body = {"action": "generate_report", "parameters": {"title": "Q3 report", "format": "pdf"}}
    first = http.post("/api/v1/rpc/act", json=body).json()
    second = http.post("/api/v1/rpc/act", json=body).json()
    assert first["result"]["file_size"] > 1024
    assert first["result"]["document_id"] == second["result"]["document_id"]
    assert first["result"]["title"] == "Q3 report"


def test_action_failure_is_reported_not_rejected(http: httpx.Client) -> None:
    response = http.post("/api/v1/rpc/act", json={"action": "sum", "parameters": {"values": [1, "x"]}})
    assert response.status_code == 200
    assert response.json()["status"] == "failed"
    assert "values[1]" in response.json()["error"]


def test_unknown_action_is_404_problem(http: httpx.Client) -> None:
    response = http.post("/api/v1/rpc/act", json={"action": "launch_rockets"})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 404
    assert "launch_rockets" in problem["detail"]
    assert problem["request_id"] == response.headers["x-request-id"]


def test_actions_on_plan_steps_drive_the_plan_status(http: httpx.Client, server: ServerHandle) -> None:
    created = plan(http, "Write the report")
    plan_id = created["plan_id"]
    for step in created["steps"]:
        body = {
            "action": step["action"],
            "parameters": step["parameters"],
            "plan_id": plan_id,
            "step_id": step["step_id"],
        }
        result = http.post("/api/v1/rpc/act", json=body).json()
        assert result["plan_id"] == plan_id
        assert result["step_id"] == step["step_id"]
    stored = server.state.plans.get(plan_id)
    assert stored is not None
    assert stored["status"] == "completed"
    missing_step = {"action": "echo", "plan_id": plan_id, "step_id": f"{plan_id}.99"}
    assert http.post("/api/v1/rpc/act", json=missing_step).status_code == 404
    assert http.post("/api/v1/rpc/act", json={"action": "echo", "plan_id": "plan-nope"}).status_code == 404


def test_observe_stores_the_observation(http: httpx.Client, server: ServerHandle) -> None:
    response = http.post("/api/v1/rpc/observe", json={"observation_type": "system_metrics", "data": {"cpu": 0.4}})
    assert response.status_code == 200
    observation = response.json()
    assert observation["data"] == {"cpu": 0.4}
    assert server.state.observations.get(observation["observation_id"]) == observation


def test_explain_references_the_plan_and_its_steps(http: httpx.Client) -> None:
    created = plan(http, "Write the report")
    observation = http.post("/api/v1/rpc/observe", json={"observation_type": "note"}).json()
    body = {
        "query": "Why this order?",
        "context": {"plan_id": created["plan_id"], "observation_id": observation["observation_id"]},
    }
    explanation = http.post("/api/v1/rpc/explain", json=body).json()
    step_ids = [step["step_id"] for step in created["steps"]]
    referenced = [ref.get("step_id") for ref in explanation["references"] if "step_id" in ref]
    assert referenced == step_ids
    assert {"observation_id": observation["observation_id"]} in explanation["references"]
    assert created["plan_id"] in explanation["explanation"]
    assert step_ids[0] in explanation["explanation"]
    assert explanation["confidence"] == 0.9
    unknown = http.post("/api/v1/rpc/explain", json={"query": "?", "context": {"plan_id": "plan-x"}}).json()
    assert unknown["references"] == []
    assert unknown["confidence"] < 0.5


@pytest.mark.parametrize(
    ("operation", "data", "expected"),
    [
        ("summarize", {"text": "Figures are up 4 %. Costs are flat."}, {"summary": "Figures are up 4 %."}),
        ("word_count", {"text": "a b a"}, {"words": 3, "unique_words": 2}),
        ("echo", {"x": 1}, {"x": 1}),
    ],
)
def test_custom_operations(http: httpx.Client, operation: str, data: dict, expected: dict) -> None:
    response = http.post(f"/api/v1/rpc/{operation}", json={"data": data})
    assert response.status_code == 200
    result = response.json()
    assert result["operation"] == operation
    assert expected.items() <= result["result"].items()


def test_custom_operation_registered_by_the_user(http: httpx.Client, server: ServerHandle) -> None:
    server.state.actions.register_operation("double", lambda data: {"value": 2 * data["value"]})
    assert http.post("/api/v1/rpc/double", json={"data": {"value": 21}}).json()["result"] == {"value": 42}
    failing = http.post("/api/v1/rpc/double", json={"data": {}}).json()
    assert failing["status"] == "failed"
    assert "KeyError" in failing["error"]
    assert http.post("/api/v1/rpc/teleport", json={}).status_code == 404


def test_bus_request_carries_rpc_operations(http: httpx.Client) -> None:
    body = {"operation": "plan", "payload": {"objective": "Write a report"}}
    reply = http.post("/api/v1/bus/request", json=body)
    assert reply.status_code == 200
    assert reply.json()["operation"] == "plan"
    assert reply.json()["result"]["plan_id"].startswith("plan-")
    custom = http.post("/api/v1/bus/request", json={"operation": "word_count", "payload": {"text": "a b"}}).json()
    assert custom["result"]["result"]["words"] == 2
    invalid = http.post("/api/v1/bus/request", json={"operation": "plan", "payload": {}})
    assert invalid.status_code == 422
    assert invalid.json()["errors"] == [{"path": "$.payload.objective", "message": "is required"}]
    assert http.post("/api/v1/bus/request", json={"operation": "nope", "payload": {}}).status_code == 404
    slow = {"operation": "act", "payload": {"action": "sleep", "parameters": {"seconds": 2}}, "timeout_seconds": 0.05}
    timed_out = http.post("/api/v1/bus/request", json=slow)
    assert timed_out.status_code == 503
    assert timed_out.headers["retry-after"] == "1"


def test_idempotency_key_replays_the_first_answer(http: httpx.Client) -> None:
    headers = {"Idempotency-Key": "plan-key-1", "X-Agent-ID": "agent-a"}
    first = http.post("/api/v1/rpc/plan", json={"objective": "x"}, headers=headers)
    again = http.post("/api/v1/rpc/plan", json={"objective": "x"}, headers=headers)
    assert first.json() == again.json()
    other_agent = http.post("/api/v1/rpc/plan", json={"objective": "x"}, headers={**headers, "X-Agent-ID": "agent-b"})
    assert other_agent.json()["plan_id"] != first.json()["plan_id"]
    conflict = http.post("/api/v1/rpc/plan", json={"objective": "y"}, headers=headers)
    assert conflict.status_code == 409
    assert "Idempotency-Key" in conflict.json()["detail"]
