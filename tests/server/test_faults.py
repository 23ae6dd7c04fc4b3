"""Fault injection: the pure plan (seeded, fake clock) and what a client really sees on the wire."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from kei_agent.testing import Fault, FaultPlan, ServerHandle, run_server

from .conftest import AUTH, PLAN_ONLY, TOKEN

PLAN = "/api/v1/rpc/plan"
DEV = {"Authorization": "Bearer dev-token"}
BODY = {"objective": "x"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------ pure plan
def test_times_expire_the_rule() -> None:
    plan = FaultPlan()
    rule = plan.add(Fault.status(500, route="planTask", times=2))
    decisions = [plan.decide("planTask", "/api/v1/rpc/plan", "/api/v1/rpc/plan") for _ in range(3)]
    assert [d.status_code if d else None for d in decisions] == [500, 500, None]
    assert plan.rules() == []
    assert plan.applied(rule) == 0  # removed once expired
    assert plan.decide("getHealth", "/api/v1/health", "/api/v1/health") is None


def test_routes_match_operation_id_template_or_path() -> None:
    plan = FaultPlan()
    plan.add(Fault.status(503, route="/api/v1/registry/agents/{agent_id}"))
    plan.add(Fault.status(502, route="/api/v1/rpc/plan"))
    plan.add(Fault.status(504, route="listTools"))
    assert plan.decide("getAgent", "/api/v1/registry/agents/{agent_id}", "/api/v1/registry/agents/a") is not None
    assert plan.decide("planTask", "/api/v1/rpc/plan", "/api/v1/rpc/plan").status_code == 502  # type: ignore[union-attr]
    assert plan.decide("listTools", "/api/v1/mcp/tools", "/api/v1/mcp/tools").status_code == 504  # type: ignore[union-attr]
    assert plan.decide("listPrompts", "/api/v1/mcp/prompts", "/api/v1/mcp/prompts") is None


def test_status_defaults_retry_after_for_429_and_503() -> None:
    plan = FaultPlan()
    plan.add(Fault.status(503, times=1))
    plan.add(Fault.status(500, times=1))
    assert plan.decide(None, None, "/").retry_after == 1  # type: ignore[union-attr]
    assert plan.decide(None, None, "/").retry_after is None  # type: ignore[union-attr]


def test_latencies_add_up_and_first_terminal_rule_wins() -> None:
    plan = FaultPlan()
    plan.add(Fault.latency(0.1))
    plan.add(Fault.status(500))
    plan.add(Fault.latency(0.2))
    plan.add(Fault.status(502))
    decision = plan.decide("planTask", None, "/")
    assert decision is not None
    assert decision.delay == pytest.approx(0.3)
    assert decision.status_code == 500


def test_probability_is_deterministic_with_a_seed() -> None:
    def run(seed: int) -> list[bool]:
        plan = FaultPlan(seed=seed)
        plan.add(Fault.status(503, probability=0.3))
        return [plan.decide("planTask", None, "/") is not None for _ in range(200)]

    assert run(7) == run(7)
    assert run(7) != run(8)
    assert 30 < sum(run(7)) < 90


def test_token_bucket_with_fake_clock() -> None:
    clock = FakeClock()
    plan = FaultPlan(clock=clock)
    plan.add(Fault.rate_limit(2.0, burst=3, route="planTask"))
    outcomes = [plan.decide("planTask", None, "/") for _ in range(4)]
    assert [o is None for o in outcomes] == [True, True, True, False]
    assert outcomes[3] is not None
    assert outcomes[3].status_code == 429
    assert outcomes[3].retry_after == 1
    clock.now += 0.5  # one token refilled
    assert plan.decide("planTask", None, "/") is None
    assert plan.decide("planTask", None, "/") is not None
    clock.now += 10  # capped at the burst
    assert [plan.decide("planTask", None, "/") is None for _ in range(4)] == [True, True, True, False]


def test_down_for_n_requests_then_recovery() -> None:
    plan = FaultPlan()
    plan.add(Fault.down(3, retry_after=2))
    decisions = [plan.decide("x", None, "/") for _ in range(4)]
    assert [(d.status_code, d.retry_after) if d else None for d in decisions] == [(503, 2), (503, 2), (503, 2), None]


def test_fault_validation_and_round_trip() -> None:
    with pytest.raises(ValueError, match="times"):
        Fault.status(500, times=0)
    with pytest.raises(ValueError, match="probability"):
        Fault.latency(1, probability=2)
    with pytest.raises(ValueError, match="status_code"):
        Fault.status(700)
    with pytest.raises(ValueError, match="unknown fault fields"):
        Fault.from_dict({"kind": "status", "status_code": 500, "colour": "red"})
    fault = Fault.malformed(route="planTask", times=2)
    assert Fault.from_dict(fault.to_dict()) == fault
    assert Fault.from_dict({"kind": "down", "times": 2}) == Fault.down(2)


# ------------------------------------------------------------- on the wire
def test_status_fault_with_retry_after_then_recovery(server: ServerHandle, http: httpx.Client) -> None:
    server.faults.add(Fault.status(503, retry_after=2, route="planTask", times=2))
    before = server.stats.requests("planTask")
    answers = [http.post(PLAN, json=BODY) for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].headers["retry-after"] == "2"
    assert answers[0].headers["content-type"] == "application/problem+json"
    assert answers[0].json()["retry_after"] == 2
    assert answers[0].headers["x-request-id"] != answers[1].headers["x-request-id"]
    assert server.stats.requests("planTask") == before + 3


def test_latency_fault(server: ServerHandle, http: httpx.Client) -> None:
    server.faults.add(Fault.latency(0.3, route="getHealth", times=1))
    started = time.monotonic()
    assert http.get("/api/v1/health").status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    http.get("/api/v1/health")
    assert time.monotonic() - started < 0.3


@pytest.mark.parametrize("after", ["headers", "body"])
def test_dropped_connection_is_a_remote_protocol_error(server: ServerHandle, http: httpx.Client, after: str) -> None:
    server.faults.add(Fault.drop(after=after, route="planTask", times=1))  # type: ignore[arg-type]
    before = len(server.state.plans)
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(PLAN, json=BODY)
    assert len(server.state.plans) == before + 1  # the operation ran; the answer was lost
    assert http.post(PLAN, json=BODY).status_code == 200


def test_drop_on_an_operation_without_body(server: ServerHandle, http: httpx.Client) -> None:
    http.post("/api/v1/registry/agents", json={"agent_id": "drop-me", "name": "D"})
    server.faults.add(Fault.drop(route="deleteAgent", times=1))
    with pytest.raises(httpx.RemoteProtocolError):
        http.delete("/api/v1/registry/agents/drop-me")
    assert http.get("/api/v1/registry/agents/drop-me").status_code == 404


def test_malformed_body(server: ServerHandle, http: httpx.Client) -> None:
    server.faults.add(Fault.malformed(route="planTask", times=1))
    response = http.post(PLAN, json=BODY)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["x-request-id"]
    with pytest.raises(ValueError, match="Expecting"):
        response.json()


def test_rate_limit_answers_429_with_retry_after(server: ServerHandle, http: httpx.Client) -> None:
    server.faults.add(Fault.rate_limit(1.0, burst=2, route="listTools"))
    statuses = [http.get("/api/v1/mcp/tools") for _ in range(4)]
    assert [s.status_code for s in statuses] == [200, 200, 429, 429]
    assert int(statuses[2].headers["retry-after"]) >= 1
    assert statuses[2].json()["title"] == "Too many requests"
    time.sleep(1.05)
    assert http.get("/api/v1/mcp/tools").status_code == 200


def test_down_for_exactly_n_requests(server: ServerHandle, http: httpx.Client) -> None:
    server.faults.add(Fault.down(3))
    statuses = [http.get("/api/v1/ready").status_code for _ in range(3)]
    statuses += [http.get("/api/v1/health").status_code, http.post(PLAN, json=BODY).status_code]
    assert statuses == [503, 503, 503, 200, 200]


def test_seeded_probability_is_reproducible_over_http() -> None:
    def pattern() -> list[int]:
        fault = Fault.status(500, probability=0.5, route="listPrompts")
        with run_server(faults=[fault], seed=42) as server, httpx.Client(base_url=server.base_url) as http:
            return [http.get("/api/v1/mcp/prompts", headers=DEV).status_code for _ in range(20)]

    first = pattern()
    assert first == pattern()
    assert {200, 500} == set(first)


@pytest.fixture
def admin(server: ServerHandle) -> Iterator[httpx.Client]:
    """A client holding the server's dedicated admin token."""
    token = server.settings.admin_token
    assert token is not None
    with httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        yield client


def test_admin_endpoint(server: ServerHandle, admin: httpx.Client, http: httpx.Client) -> None:
    created = admin.post(
        "/_admin/faults", json={"kind": "status", "status_code": 502, "route": "listPrompts", "times": 1}
    )
    assert created.status_code == 201
    assert admin.get("/_admin/faults").json()["faults"][0]["id"] == created.json()["id"]
    assert http.get("/api/v1/mcp/prompts").status_code == 502
    assert http.get("/api/v1/mcp/prompts").status_code == 200
    assert admin.get("/api/v1/mcp/prompts").status_code == 401  # the admin token is no API token
    rule = admin.post("/_admin/faults", json={"kind": "latency", "delay": 0.01}).json()["id"]
    assert admin.delete(f"/_admin/faults/{rule}").status_code == 204
    assert admin.delete(f"/_admin/faults/{rule}").status_code == 404
    admin.post("/_admin/faults", json={"kind": "down", "times": 5})
    assert admin.delete("/_admin/faults").status_code == 204
    assert admin.get("/_admin/faults").json()["faults"] == []
    assert admin.post("/_admin/faults", json={"kind": "explode"}).status_code == 422
    assert admin.post("/_admin/faults", json={"seed": 3}).json() == {"seed": 3}
    assert admin.get("/_admin/stats").json()["requests"]["listPrompts"] >= 2
    assert httpx.get(f"{server.base_url}/_admin/faults").status_code == 401


@pytest.mark.parametrize("token", [TOKEN, PLAN_ONLY, "not-a-token"])
def test_api_tokens_cannot_inject_faults(server: ServerHandle, token: str) -> None:
    """Only the dedicated admin token may use /_admin: an API token - even one with every scope - is refused."""
    headers = {"Authorization": f"Bearer {token}"}
    fault = {"kind": "status", "status_code": 503, "route": "listPrompts"}
    refused = httpx.post(f"{server.base_url}/_admin/faults", json=fault, headers=headers)
    listed = httpx.get(f"{server.base_url}/_admin/faults", headers=headers)
    assert (refused.status_code, listed.status_code) == (403, 403)
    assert refused.headers["content-type"] == "application/problem+json"
    assert server.faults.rules() == []
    assert server.settings.admin_token not in refused.text


def test_admin_endpoint_is_off_by_default() -> None:
    with run_server() as server:
        response = httpx.get(f"{server.base_url}/_admin/faults", headers={"Authorization": "Bearer dev-token"})
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


def test_websocket_upgrade_faults(server: ServerHandle) -> None:
    server.faults.add(Fault.status(503, route="websocket", times=1))
    with pytest.raises(InvalidStatus) as refused:
        connect(server.ws_url, additional_headers=AUTH, open_timeout=5)
    assert refused.value.response.status_code == 503
    assert refused.value.response.headers["Retry-After"] == "1"
    with connect(server.ws_url, additional_headers=AUTH, open_timeout=5) as conn:
        conn.send('{"type": "ping"}')
        assert conn.recv(timeout=3) == '{"type":"pong"}'
    assert server.stats.requests("websocket") == 2


def test_websocket_drop_and_malformed_faults(server: ServerHandle) -> None:
    server.faults.add(Fault.drop(route="websocket", times=1))
    with pytest.raises(InvalidStatus):
        connect(server.ws_url, additional_headers=AUTH, open_timeout=5)
    server.faults.add(Fault.malformed(route="websocket", times=1))
    with connect(server.ws_url, additional_headers=AUTH, open_timeout=5) as conn:
        assert conn.recv(timeout=3) == '{"truncated": ['
        conn.send('{"type": "ping"}')
        assert conn.recv(timeout=3) == '{"type":"pong"}'
