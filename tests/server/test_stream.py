"""Stream: SSE with Last-Event-ID resume, WebSocket frames, polling, events from every operation."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from kei_agent.testing import ServerHandle

from .conftest import AUTH, PLAN_ONLY

EVENTS = "/api/v1/stream/events"


def topic() -> str:
    return f"test.t{uuid.uuid4().hex[:8]}"


def emit(http: httpx.Client, name: str, n: int) -> list[str]:
    ids = []
    for i in range(n):
        response = http.post(EVENTS, json={"topic": name, "data": {"i": i}})
        assert response.status_code == 202
        ids.append(response.json()["event_id"])
    return ids


def emit_later(server: ServerHandle, name: str, n: int, delay: float) -> threading.Thread:
    """Emit ``n`` events after ``delay`` from another thread (with its own client)."""

    def run() -> None:
        time.sleep(delay)
        with httpx.Client(base_url=server.base_url, headers=AUTH) as other:
            emit(other, name, n)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def read_sse(response: httpx.Response, count: int) -> tuple[list[dict], list[str]]:
    """Parse ``count`` SSE events (and the comments seen meanwhile) from an open response."""
    events: list[dict] = []
    comments: list[str] = []
    record: dict[str, str] = {}
    for line in response.iter_lines():
        if line.startswith(":"):
            comments.append(line)
        elif line == "":
            if record:
                events.append(record)
                record = {}
                if len(events) == count:
                    break
        else:
            field, _, value = line.partition(": ")
            record[field] = value
    return events, comments


def test_sse_delivers_live_events_with_ids(http: httpx.Client, server: ServerHandle) -> None:
    name = topic()
    with http.stream("GET", EVENTS, params={"topics": name}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-request-id"]
        emitter = emit_later(server, name, 3, 0.2)
        events, _ = read_sse(response, 3)
    emitter.join(5)
    assert [json.loads(e["data"])["data"] for e in events] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert all(e["event"] == name for e in events)
    ids = [int(e["id"]) for e in events]
    assert ids == list(range(ids[0], ids[0] + 3))
    assert [json.loads(e["data"])["id"] for e in events] == [e["id"] for e in events]


def test_sse_resume_with_last_event_id_has_no_gap_or_duplicate(http: httpx.Client) -> None:
    name = topic()
    first_ids = emit(http, name, 3)
    with http.stream("GET", EVENTS, params={"topics": name, "since": str(int(first_ids[0]) - 1)}) as response:
        events, _ = read_sse(response, 3)
    seen = [e["id"] for e in events]
    assert seen == first_ids
    missed = emit(http, name, 4)
    headers = {"Last-Event-ID": seen[-1]}
    with http.stream("GET", EVENTS, params={"topics": name}, headers=headers) as response:
        resumed, _ = read_sse(response, 4)
    assert [e["id"] for e in resumed] == missed


def test_sse_sends_keep_alive_comments_when_idle(http: httpx.Client) -> None:
    with http.stream("GET", EVENTS, params={"topics": topic()}) as response:
        comments = []
        for line in response.iter_lines():
            if line.startswith(":"):
                comments.append(line)
            if len(comments) == 3:
                break
    assert comments[0] == ": connected"
    assert comments[1:] == [": keep-alive", ": keep-alive"]


def test_sse_closes_after_max_duration() -> None:
    from kei_agent.testing import run_server

    with run_server(sse_max_duration=0.3, sse_keepalive_seconds=0.1) as server:
        started = time.monotonic()
        response = httpx.get(f"{server.base_url}{EVENTS}", headers={"Authorization": "Bearer dev-token"}, timeout=5)
        assert response.status_code == 200
        assert 0.25 < time.monotonic() - started < 3
        assert ": keep-alive" in response.text


def test_operations_publish_events(http: httpx.Client, server: ServerHandle) -> None:
    since = server.state.events.last_id
    plan = http.post("/api/v1/rpc/plan", json={"objective": "x"}, headers={"X-Correlation-ID": "corr-1"}).json()
    http.post("/api/v1/rpc/act", json={"action": "echo", "plan_id": plan["plan_id"]})
    http.post("/api/v1/rpc/observe", json={"observation_type": "o"})
    http.post("/api/v1/bus/publish", json={"subject": "evt.check", "payload": {"a": 1}})
    page = http.get(
        "/api/v1/stream/poll", params={"since": str(since or 0), "topics": "plan.*,action.*,observation.*,bus.>"}
    )
    events = page.json()["events"]
    types = [event["type"] for event in events]
    assert types[-4:] == ["plan.created", "action.completed", "observation.recorded", "bus.message"]
    created = events[-4]
    assert created["data"]["plan_id"] == plan["plan_id"]
    assert created["correlation_id"] == "corr-1"
    assert events[-1]["topic"] == "bus.evt.check"
    assert events[-1]["data"]["payload"] == {"a": 1}


def test_polling_returns_events_after_since_and_waits(http: httpx.Client, server: ServerHandle) -> None:
    name = topic()
    ids = emit(http, name, 5)
    page = http.get("/api/v1/stream/poll", params={"topics": name, "since": str(int(ids[0]) - 1), "limit": 3}).json()
    assert [e["id"] for e in page["events"]] == ids[:3]
    assert page["last_event_id"] == ids[2]
    rest = http.get("/api/v1/stream/poll", params={"topics": name, "since": page["last_event_id"]}).json()
    assert [e["id"] for e in rest["events"]] == ids[3:]
    empty = http.get("/api/v1/stream/poll", params={"topics": name, "since": rest["last_event_id"]}).json()
    assert empty["events"] == []
    emitter = emit_later(server, name, 1, 0.3)
    started = time.monotonic()
    woken = http.get(
        "/api/v1/stream/poll", params={"topics": name, "since": rest["last_event_id"], "wait_seconds": 4}
    ).json()
    emitter.join(5)
    assert 0.25 < time.monotonic() - started < 3
    assert len(woken["events"]) == 1


# ------------------------------------------------------------------ WebSocket
@pytest.fixture
def ws(server: ServerHandle) -> Iterator[ClientConnection]:
    with connect(server.ws_url, additional_headers=AUTH, subprotocols=["kei.stream.v1"], open_timeout=5) as conn:  # type: ignore[list-item]
        yield conn


def recv(conn: ClientConnection, timeout: float = 3) -> dict:
    return dict(json.loads(conn.recv(timeout=timeout)))


def recv_type(conn: ClientConnection, kind: str, timeout: float = 3) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        frame = recv(conn, max(0.01, deadline - time.monotonic()))
        if frame["type"] == kind:
            return frame


def test_websocket_subscribe_then_live_events(ws: ClientConnection, http: httpx.Client) -> None:
    assert ws.subprotocol == "kei.stream.v1"
    name = topic()
    ws.send(json.dumps({"type": "subscribe", "id": "s1", "topics": [name]}))
    subscribed = recv(ws)
    assert subscribed["type"] == "subscribed"
    assert subscribed["id"] == "s1"
    assert subscribed["topics"] == [name]
    ids = emit(http, name, 2)
    frames = [recv_type(ws, "event"), recv_type(ws, "event")]
    assert [f["event"]["id"] for f in frames] == ids
    assert frames[0]["event"]["data"] == {"i": 0}


def test_websocket_subscribe_with_since_replays_then_continues(ws: ClientConnection, http: httpx.Client) -> None:
    name = topic()
    before = emit(http, name, 3)
    ws.send(json.dumps({"type": "subscribe", "topics": [name], "since": str(int(before[0]) - 1)}))
    assert recv(ws)["type"] == "subscribed"
    replayed = [recv_type(ws, "event")["event"]["id"] for _ in range(3)]
    assert replayed == before
    live = emit(http, name, 1)
    assert recv_type(ws, "event")["event"]["id"] == live[0]


def test_websocket_publish_is_deduplicated_by_frame_id(ws: ClientConnection, http: httpx.Client) -> None:
    name = topic()
    ws.send(json.dumps({"type": "subscribe", "topics": [name]}))
    recv_type(ws, "subscribed")
    frame = {"type": "publish", "id": f"p-{uuid.uuid4()}", "topic": name, "event_type": "custom", "data": {"x": 1}}
    ws.send(json.dumps(frame))
    published = recv_type(ws, "published")
    assert published["id"] == frame["id"]
    assert published["duplicate"] is False
    event = recv_type(ws, "event")["event"]
    assert event["id"] == published["event_id"]
    assert event["type"] == "custom"
    ws.send(json.dumps(frame))
    again = recv_type(ws, "published")
    assert again == {**published, "duplicate": True}
    ws.send(json.dumps({**frame, "data": {"x": 2}}))
    error = recv_type(ws, "error")
    assert error["id"] == frame["id"]
    assert error["problem"]["status"] == 409


def test_websocket_ping_pong_ack_and_errors(ws: ClientConnection) -> None:
    ws.send(json.dumps({"type": "ping", "ts": 1.5}))
    assert recv_type(ws, "pong") == {"type": "pong", "ts": 1.5}
    ws.send(json.dumps({"type": "ack", "event_id": "1"}))
    ws.send("not json")
    assert recv_type(ws, "error")["problem"]["status"] == 400
    ws.send(json.dumps({"type": "teleport"}))
    assert recv_type(ws, "error")["problem"]["status"] == 422
    ws.send(json.dumps({"type": "subscribe", "id": "bad", "topics": "not-a-list"}))
    bad = recv_type(ws, "error")
    assert bad["id"] == "bad"
    assert bad["problem"]["errors"][0]["path"] == "$.topics"


def test_websocket_server_pings_when_idle(ws: ClientConnection) -> None:
    ping = recv_type(ws, "ping", timeout=3)
    assert isinstance(ping["ts"], float)
    ws.send(json.dumps({"type": "pong", "ts": ping["ts"]}))


def test_websocket_query_parameters_subscribe(server: ServerHandle, http: httpx.Client) -> None:
    name = topic()
    before = emit(http, name, 2)
    url = f"{server.ws_url}?topics={name}&since={int(before[0]) - 1}"
    with connect(url, additional_headers=AUTH, open_timeout=5) as conn:
        assert conn.subprotocol is None
        assert recv(conn)["type"] == "subscribed"
        assert [recv_type(conn, "event")["event"]["id"] for _ in range(2)] == before


def test_websocket_requires_credentials_and_scope(server: ServerHandle) -> None:
    with pytest.raises(InvalidStatus) as missing:
        connect(server.ws_url, open_timeout=5)
    assert missing.value.response.status_code == 401
    body = json.loads(missing.value.response.body or b"{}")
    assert body["status"] == 401
    assert missing.value.response.headers["X-Request-ID"]
    with pytest.raises(InvalidStatus) as scoped:
        connect(server.ws_url, additional_headers={"Authorization": f"Bearer {PLAN_ONLY}"}, open_timeout=5)
    assert scoped.value.response.status_code == 403
    assert json.loads(scoped.value.response.body or b"{}")["required_scope"] == "kei:stream"


def test_since_beyond_any_event_id(http: httpx.Client) -> None:
    huge = "95260874898198603351"
    emit(http, topic(), 1)
    page = http.get("/api/v1/stream/poll", params={"since": huge}).json()
    assert page == {"events": [], "last_event_id": huge}
    with http.stream("GET", EVENTS, headers={"Last-Event-ID": huge}) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        assert [next(lines), next(lines), next(lines)] == [": connected", "", ": keep-alive"]
