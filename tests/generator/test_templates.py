"""The template overrides remove the generated code's sharp edges (checked over real sockets)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from kei_agent._generated.api.health import get_health
from kei_agent._generated.api.rpc import plan_task
from kei_agent._generated.client import DEFAULT_TIMEOUT, AuthenticatedClient, Client
from kei_agent._generated.models import ActionResult, AgentPage, PlanRequest, PlanResponse

CANARY = "canary-secret-7d1f0b"


class _OddStatusHandler(BaseHTTPRequestHandler):
    """Answers with the status code given in the path (``/status/520/...``) and records headers."""

    seen_auth: list[str | None] = []  # noqa: RUF012

    def _answer(self) -> None:
        type(self).seen_auth.append(self.headers.get("Authorization"))
        status = int(self.path.split("/")[2]) if self.path.startswith("/status/") else 200
        body = json.dumps({"title": "odd", "status": status}).encode()
        self.send_response(status, "Odd")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _answer
    do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def odd_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OddStatusHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize("status", [499, 520, 599])
def test_non_standard_status_codes_do_not_raise(odd_server: str, status: int) -> None:
    with Client(base_url=f"{odd_server}/status/{status}") as client:
        response = get_health.sync_detailed(client=client)
    assert response.status_code == status
    assert response.parsed is None

    async def run() -> int:
        async with Client(base_url=f"{odd_server}/status/{status}") as aclient:
            return (await get_health.asyncio_detailed(client=aclient)).status_code

    assert asyncio.run(run()) == status


def test_status_code_compares_with_http_status(odd_server: str) -> None:
    with Client(base_url=f"{odd_server}/status/503") as client:
        assert get_health.sync_detailed(client=client).status_code == HTTPStatus.SERVICE_UNAVAILABLE


def test_default_timeout_is_finite() -> None:
    for client in (Client(base_url="http://x"), Client(base_url="http://x", timeout=None)):
        timeout = client.get_httpx_client().timeout
        assert timeout == DEFAULT_TIMEOUT
        assert None not in (timeout.connect, timeout.read, timeout.write, timeout.pool)
        client.get_httpx_client().close()
    assert Client(base_url="http://x").with_timeout(None).get_async_httpx_client().timeout == DEFAULT_TIMEOUT
    assert Client(base_url="http://x", timeout=5).get_httpx_client().timeout == httpx.Timeout(5.0)


def test_no_secret_in_any_repr() -> None:
    client = AuthenticatedClient(
        base_url="http://x",
        token=CANARY,
        headers={"X-Api-Key": CANARY},
        cookies={"session": CANARY},
        httpx_args={"auth": (CANARY, CANARY)},
    )
    assert CANARY not in repr(client)
    assert CANARY not in str(client)
    client.get_httpx_client()
    assert CANARY not in repr(client)
    assert CANARY not in repr(client.with_headers({"X-Other": CANARY}))
    client.get_httpx_client().close()


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_set_httpx_client_keeps_the_token(odd_server: str, flavour: str) -> None:
    _OddStatusHandler.seen_auth.clear()
    base_url = f"{odd_server}/status/418"  # an undocumented status: parsed is None
    client = AuthenticatedClient(base_url=base_url, token="tok-1")
    body = PlanRequest(objective="x")
    if flavour == "sync":
        with httpx.Client(base_url=base_url) as http:
            client.set_httpx_client(http)
            plan_task.sync_detailed(client=client, body=body)
    else:

        async def run() -> None:
            async with httpx.AsyncClient(base_url=base_url) as http:
                client.set_async_httpx_client(http)
                await plan_task.asyncio_detailed(client=client, body=body)

        asyncio.run(run())
    assert _OddStatusHandler.seen_auth == ["Bearer tok-1"]


PLAN = {
    "plan_id": "p-1",
    "objective": "o",
    "status": "created",
    "steps": [{"step_id": "p-1.1", "index": 1, "description": "first"}],
    "created_at": "2026-11-25T08:00:00Z",
    "server_extra": {"a": 1},
}


def test_models_read_like_mappings() -> None:
    plan = PlanResponse.from_dict(PLAN)
    assert plan["plan_id"] == "p-1"
    assert plan["steps"][0]["description"] == "first"
    assert plan["server_extra"] == {"a": 1}
    assert plan.get("context") is None
    assert plan.get("context", {}) == {}
    assert "context" not in plan
    assert "steps" in plan
    assert "server_extra" in plan
    assert 42 not in plan
    assert set(plan.keys()) == {"plan_id", "objective", "status", "steps", "created_at", "server_extra"}
    assert dict(plan)["objective"] == "o"
    assert len(plan) == 6
    with pytest.raises(KeyError):
        plan["context"]
    with pytest.raises(KeyError):
        plan["nope"]


def test_documented_reads_work_on_results() -> None:
    result = ActionResult.from_dict(
        {
            "action_id": "a",
            "action": "generate_report",
            "status": "completed",
            "result": {"file_size": 42},
            "started_at": "2026-11-25T08:00:00Z",
            "completed_at": "2026-11-25T08:00:00Z",
            "duration_ms": 1.5,
        }
    )
    assert result["result"].get("file_size", 0) == 42
    assert result.result.get("pages", 0) == 0


def test_empty_models_are_truthy_and_field_names_do_not_clash() -> None:
    page = AgentPage.from_dict({"items": [], "next_cursor": None})
    assert page
    assert page.items == []
    assert page["items"] == []
    assert page["next_cursor"] is None
    assert "next_cursor" in page


def test_declared_fields_cannot_be_shadowed_through_item_assignment() -> None:
    plan = PlanResponse.from_dict(PLAN)
    plan["note"] = "extra"
    assert plan["note"] == "extra"
    with pytest.raises(KeyError, match="declared field"):
        plan["plan_id"] = "other"
    assert plan.plan_id == "p-1"


@pytest.mark.parametrize("agent_id", [".", "..", "../..", "a/b"])
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_low_level_path_parameters_never_leave_their_segment(agent_id: str, flavour: str) -> None:
    from kei_agent._generated.api.registry import delete_agent
    from kei_agent.testing import run_server

    with run_server(tokens=["low-level-token"]) as server:
        with AuthenticatedClient(base_url=server.base_url, token="low-level-token") as client:
            if flavour == "sync":
                response = delete_agent.sync_detailed(agent_id, client=client)
            else:
                response = asyncio.run(_delete_async(agent_id, server.base_url))
        # The request targets one agent named agent_id (refused or unknown) - never the
        # collection or a parent path, which would be another operation.
        assert response.status_code in (404, 422)
        assert set(server.stats.counts()) <= {"deleteAgent"}


async def _delete_async(agent_id: str, base_url: str) -> Any:
    from kei_agent._generated.api.registry import delete_agent

    async with AuthenticatedClient(base_url=base_url, token="low-level-token") as client:
        return await delete_agent.asyncio_detailed(agent_id, client=client)
