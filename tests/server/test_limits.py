"""The reference server against hostile or careless peers: body size, media type, idle
connections, and stream event ids across a restart of the whole server (fresh state)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from kei_agent.messaging import EventCursor
from kei_agent.testing import ServerHandle, run_server

from .conftest import AUTH, TOKENS

PLAN = "/api/v1/rpc/plan"
POLL = "/api/v1/stream/poll"


@pytest.fixture
def small_server() -> Iterator[ServerHandle]:
    with run_server(tokens=TOKENS, max_body_bytes=4096, idle_timeout_seconds=0.5) as handle:
        yield handle


def test_a_body_over_the_limit_is_refused_with_413_declared_or_streamed(small_server: ServerHandle) -> None:
    big = b'{"objective": "' + b"x" * 10_000 + b'"}'

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts what arrives
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000]

    with httpx.Client(base_url=small_server.base_url, headers={**AUTH, "Content-Type": "application/json"}) as http:
        declared = http.post(PLAN, content=big)
        streamed = http.post(PLAN, content=chunks())
        small = http.post(PLAN, json={"objective": "fits"})
    for response in (declared, streamed):
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "https://kei.dev/problems/too-large"
        assert "4096" in response.json()["detail"]
    assert small.status_code == 200
    assert small_server.stats.requests("planTask") == 3


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_a_json_body_must_be_declared_as_json(small_server: ServerHandle, content_type: str | None) -> None:
    headers = dict(AUTH)
    if content_type is not None:
        headers["Content-Type"] = content_type
    with httpx.Client(base_url=small_server.base_url) as http:
        refused = http.post(PLAN, content=b'{"objective": "looks like JSON"}', headers=headers)
        accepted = http.post(
            PLAN, content=b'{"objective": "declared"}', headers={**AUTH, "Content-Type": "application/json"}
        )
        vendor = http.post(
            PLAN, content=b'{"objective": "vendor"}', headers={**AUTH, "Content-Type": "application/vnd.kei+json"}
        )
    assert refused.status_code == 415
    assert refused.json()["type"] == "https://kei.dev/problems/unsupported-media-type"
    assert (accepted.status_code, vendor.status_code) == (200, 200)


@pytest.mark.parametrize("sent", [b"", b"POST /api/v1/rpc/plan HTTP/1.1\r\nHost: x\r\n"], ids=["silent", "half-a-head"])
def test_idle_connections_are_closed(small_server: ServerHandle, sent: bytes) -> None:
    """A connection that sends nothing (or stops inside its request head) is closed after the idle timeout."""
    with socket.create_connection(("127.0.0.1", small_server.port), timeout=10) as sock:
        sock.sendall(sent)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            pytest.fail("the server kept an idle connection open for 10 s (idle timeout 0.5 s)")
    assert data == b""


def test_stream_event_ids_continue_above_the_old_ones_after_a_restart_with_fresh_state() -> None:
    """A new server process (fresh state, same port) hands out ids above every id of the old one,
    so a client resuming with its last id gets the new events instead of dropping them as replays."""
    with run_server(tokens=TOKENS) as before, httpx.Client(base_url=before.base_url, headers=AUTH) as http:
        port = before.port
        http.post(PLAN, json={"objective": "before the restart"})
        old_last = http.get(POLL, params={"since": "0"}).json()["events"][-1]["id"]
    with run_server(tokens=TOKENS, port=port) as after, httpx.Client(base_url=after.base_url, headers=AUTH) as http:
        http.post(PLAN, json={"objective": "after the restart"})
        resumed = http.get(POLL, params={"since": old_last}).json()["events"]
    assert [event["data"].get("objective") for event in resumed if event["type"] == "plan.created"] == [
        "after the restart"
    ]
    cursor = EventCursor(old_last)
    assert all(cursor.advance(event["id"]) for event in resumed)
    assert int(resumed[0]["id"]) > int(old_last)
