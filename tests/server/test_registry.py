"""Agent registry: register/409, get, cursor pagination, update, delete, heartbeat readiness."""

from __future__ import annotations

import httpx

from kei_agent.testing import ServerHandle
from kei_agent.testing.registry import decode_cursor, encode_cursor

AGENTS = "/api/v1/registry/agents"


def register(http: httpx.Client, agent_id: str, **fields: object) -> httpx.Response:
    return http.post(AGENTS, json={"agent_id": agent_id, "name": agent_id.title(), **fields})


def test_register_get_and_duplicate(http: httpx.Client) -> None:
    created = register(http, "writer-1", capabilities=["plan"], metadata={"team": "finance"})
    assert created.status_code == 201
    agent = created.json()
    assert agent["status"] == "registered"
    assert agent["last_heartbeat_at"] is None
    assert agent["registered_at"].endswith("Z")
    assert http.get(f"{AGENTS}/writer-1").json() == agent
    duplicate = register(http, "writer-1")
    assert duplicate.status_code == 409
    assert duplicate.headers["content-type"] == "application/problem+json"


def test_tenant_header_is_recorded(http: httpx.Client) -> None:
    agent = register(http, "tenant-agent").json()
    assert agent["agent_id"] == "tenant-agent"
    assert "tenant_id" not in agent
    scoped = http.post(AGENTS, json={"agent_id": "tenant-agent-2", "name": "T"}, headers={"X-Tenant-ID": "acme"})
    assert scoped.json()["tenant_id"] == "acme"


def test_server_managed_fields_cannot_be_smuggled_in(http: httpx.Client) -> None:
    response = http.post(AGENTS, json={"agent_id": "sneaky", "name": "S", "status": "ready"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "$"
    assert "status" in response.json()["errors"][0]["message"]
    assert http.put(f"{AGENTS}/sneaky", json={"agent_id": "other"}).status_code == 422


def test_cursor_pagination_walks_every_agent_once(fresh_server: ServerHandle) -> None:
    with httpx.Client(base_url=fresh_server.base_url, headers={"Authorization": "Bearer test-token"}) as http:
        ids = [f"agent-{n:02d}" for n in range(23)]
        for agent_id in ids:
            assert register(http, agent_id, capabilities=["even" if int(agent_id[-2:]) % 2 == 0 else "odd"]).is_success
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params: dict[str, str | int] = {"limit": 5}
            if cursor:
                params["cursor"] = cursor
            page = http.get(AGENTS, params=params).json()
            pages += 1
            seen.extend(agent["agent_id"] for agent in page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ids
        assert pages == 5
        evens = http.get(AGENTS, params={"capability": "even", "limit": 200}).json()
        assert [a["agent_id"] for a in evens["items"]] == ids[::2]
        assert evens["next_cursor"] is None
        http.delete(f"{AGENTS}/agent-01")
        second_page = http.get(AGENTS, params={"limit": 2, "cursor": encode_cursor(0)}).json()
        assert [a["agent_id"] for a in second_page["items"]] == ["agent-00", "agent-02"]
        assert http.get(AGENTS, params={"cursor": "not-a-cursor"}).json() == {"items": [], "next_cursor": None}
        assert http.get(AGENTS, params={"limit": 0}).status_code == 422


def test_cursor_round_trip() -> None:
    assert decode_cursor(encode_cursor(17)) == 17
    assert decode_cursor("garbage!") is None


def test_update_keeps_fields_left_out(http: httpx.Client) -> None:
    register(http, "updatable", description="old", capabilities=["a"], version="1.0.0")
    before = http.get(f"{AGENTS}/updatable").json()
    updated = http.put(f"{AGENTS}/updatable", json={"description": "new", "capabilities": ["a", "b"]})
    assert updated.status_code == 200
    after = updated.json()
    assert after["description"] == "new"
    assert after["capabilities"] == ["a", "b"]
    assert after["version"] == "1.0.0"
    assert after["updated_at"] >= before["updated_at"]
    assert http.put(f"{AGENTS}/ghost", json={"name": "x"}).status_code == 404


def test_delete_then_404(http: httpx.Client) -> None:
    register(http, "deletable")
    deleted = http.delete(f"{AGENTS}/deletable")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert "x-request-id" in deleted.headers
    assert http.get(f"{AGENTS}/deletable").status_code == 404
    assert http.delete(f"{AGENTS}/deletable").status_code == 404


def test_heartbeat_drives_status_and_readiness(http: httpx.Client) -> None:
    register(http, "beating")
    ack = http.post(f"{AGENTS}/beating/heartbeat").json()
    assert ack == {**ack, "agent_id": "beating", "status": "ready", "ready": True}
    assert ack["next_heartbeat_due_seconds"] == 30
    busy = http.post(f"{AGENTS}/beating/heartbeat", json={"status": "busy", "load": 0.9}).json()
    assert busy["status"] == "busy"
    assert busy["ready"] is False
    agent = http.get(f"{AGENTS}/beating").json()
    assert agent["status"] == "busy"
    assert agent["last_heartbeat_at"] == busy["last_heartbeat_at"]
    listed = http.get(AGENTS, params={"status": "busy", "limit": 200}).json()["items"]
    assert "beating" in [a["agent_id"] for a in listed]
    assert http.post(f"{AGENTS}/ghost/heartbeat", json={}).status_code == 404
    assert http.post(f"{AGENTS}/beating/heartbeat", json={"status": "sleeping"}).status_code == 422


def test_path_parameters_are_validated(http: httpx.Client) -> None:
    response = http.get(f"{AGENTS}/-bad-start")
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "path:agent_id"
