"""Message bus: publish → poll → ack, redelivery, dedupe, queue groups, long polls, wildcards."""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest

from kei_agent.testing import ServerHandle
from kei_agent.testing.bus import subject_matches

BUS = "/api/v1/bus"


def subject() -> str:
    return f"t{uuid.uuid4().hex[:8]}.ready"


def subscribe(http: httpx.Client, pattern: str, **options: object) -> str:
    response = http.post(f"{BUS}/subscriptions", json={"subject": pattern, **options})
    assert response.status_code == 201, response.text
    return str(response.json()["subscription_id"])


def publish(http: httpx.Client, subj: str, payload: dict, **headers: str) -> httpx.Response:
    return http.post(f"{BUS}/publish", json={"subject": subj, "type": "t", "payload": payload}, headers=headers)


def poll(http: httpx.Client, sub: str, max_messages: int = 10, wait: float = 0) -> list[dict]:
    response = http.post(f"{BUS}/subscriptions/{sub}/poll", json={"max_messages": max_messages, "wait_seconds": wait})
    assert response.status_code == 200, response.text
    return list(response.json()["messages"])


def test_publish_poll_ack(http: httpx.Client) -> None:
    subj = subject()
    sub = subscribe(http, subj)
    ack = publish(http, subj, {"n": 1}, **{"X-Agent-ID": "sender"})
    assert ack.status_code == 202
    assert ack.json()["duplicate"] is False
    messages = poll(http, sub)
    assert len(messages) == 1
    message = messages[0]
    assert message["message_id"] == ack.json()["message_id"]
    assert message["payload"] == {"n": 1}
    assert message["sender_agent_id"] == "sender"
    assert message["delivery_count"] == 1
    assert poll(http, sub) == []  # leased: invisible to other polls
    acked = http.post(f"{BUS}/subscriptions/{sub}/ack", json={"delivery_ids": [message["delivery_id"], "dlv-x"]})
    assert acked.json() == {"acked": [message["delivery_id"]], "unknown": ["dlv-x"]}
    again = http.post(f"{BUS}/subscriptions/{sub}/ack", json={"delivery_ids": [message["delivery_id"]]})
    assert again.json() == {"acked": [], "unknown": [message["delivery_id"]]}


def test_redelivery_after_visibility_timeout(http: httpx.Client) -> None:
    subj = subject()
    sub = subscribe(http, subj, visibility_timeout_seconds=0.2)
    publish(http, subj, {"n": 1})
    first = poll(http, sub)[0]
    time.sleep(0.25)
    second = poll(http, sub)[0]
    assert second["message_id"] == first["message_id"]
    assert second["delivery_count"] == 2
    assert second["delivery_id"] != first["delivery_id"]
    late = http.post(f"{BUS}/subscriptions/{sub}/ack", json={"delivery_ids": [first["delivery_id"]]}).json()
    assert late["unknown"] == [first["delivery_id"]]
    assert http.post(f"{BUS}/subscriptions/{sub}/ack", json={"delivery_ids": [second["delivery_id"]]}).json()[
        "acked"
    ] == [second["delivery_id"]]
    time.sleep(0.25)
    assert poll(http, sub) == []


def test_long_poll_waits_for_redelivery(http: httpx.Client) -> None:
    subj = subject()
    sub = subscribe(http, subj, visibility_timeout_seconds=0.3)
    publish(http, subj, {})
    poll(http, sub)
    started = time.monotonic()
    redelivered = poll(http, sub, wait=3)
    assert 0.2 < time.monotonic() - started < 2.5
    assert redelivered[0]["delivery_count"] == 2


def test_publish_dedupe_by_idempotency_key(http: httpx.Client) -> None:
    subj = subject()
    sub = subscribe(http, subj)
    headers = {"Idempotency-Key": f"k-{uuid.uuid4()}", "X-Agent-ID": "pub"}
    first = publish(http, subj, {"n": 1}, **headers).json()
    second = publish(http, subj, {"n": 1}, **headers).json()
    assert second["message_id"] == first["message_id"]
    assert second["duplicate"] is True
    assert first["duplicate"] is False
    assert len(poll(http, sub)) == 1
    conflict = publish(http, subj, {"n": 2}, **headers)
    assert conflict.status_code == 409
    other_agent = publish(http, subj, {"n": 1}, **{**headers, "X-Agent-ID": "pub-2"}).json()
    assert other_agent["duplicate"] is False


def test_queue_group_shares_messages(http: httpx.Client) -> None:
    subj = subject()
    group = f"g{uuid.uuid4().hex[:6]}"
    first = subscribe(http, subj, queue=group)
    second = subscribe(http, subj, queue=group)
    plain = subscribe(http, subj)
    for n in range(6):
        publish(http, subj, {"n": n})
    got_first = poll(http, first, max_messages=4)
    got_second = poll(http, second, max_messages=10)
    assert len(got_first) == 4
    assert len(got_second) == 2
    numbers = sorted(m["payload"]["n"] for m in got_first + got_second)
    assert numbers == list(range(6))
    assert sorted(m["payload"]["n"] for m in poll(http, plain)) == list(range(6))
    # Deleting a member hands its unacknowledged leases back to the group.
    assert http.delete(f"{BUS}/subscriptions/{first}").status_code == 204
    returned = poll(http, second)
    assert sorted(m["payload"]["n"] for m in returned) == sorted(m["payload"]["n"] for m in got_first)
    assert all(m["delivery_count"] == 2 for m in returned)


def test_wildcard_subscriptions(http: httpx.Client) -> None:
    prefix = f"w{uuid.uuid4().hex[:6]}"
    one = subscribe(http, f"{prefix}.*")
    rest = subscribe(http, f"{prefix}.>")
    publish(http, f"{prefix}.a", {})
    publish(http, f"{prefix}.a.b", {})
    publish(http, "elsewhere.a", {})
    assert [m["subject"] for m in poll(http, one)] == [f"{prefix}.a"]
    assert [m["subject"] for m in poll(http, rest)] == [f"{prefix}.a", f"{prefix}.a.b"]


@pytest.mark.parametrize(
    ("pattern", "subj", "matches"),
    [
        ("a.b", "a.b", True),
        ("a.*", "a.b", True),
        ("a.*", "a.b.c", False),
        ("a.>", "a.b.c", True),
        ("a.>", "a", False),
        ("*.b", "a.b", True),
        (">", "x.y", True),
        ("a.*.c", "a.b.c", True),
        ("a.*.c", "a.b.d", False),
    ],
)
def test_subject_matching(pattern: str, subj: str, matches: bool) -> None:
    assert subject_matches(pattern, subj) is matches


def test_long_poll_wakes_on_publish(http: httpx.Client, server: ServerHandle) -> None:
    subj = subject()
    sub = subscribe(http, subj)
    result: dict[str, object] = {}

    def waiter() -> None:
        with httpx.Client(base_url=server.base_url, headers=http.headers) as other:
            result["started"] = time.monotonic()
            result["messages"] = poll(other, sub, wait=4)
            result["ended"] = time.monotonic()

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.3)
    published_at = time.monotonic()
    publish(http, subj, {"wake": True})
    thread.join(5)
    assert result["messages"][0]["payload"] == {"wake": True}  # type: ignore[index]
    assert result["started"] < published_at  # type: ignore[operator]  # the poll was already waiting
    assert result["ended"] - published_at < 3.0  # type: ignore[operator]  # woken by the publish, not the 4 s wait


def test_long_poll_times_out_empty(http: httpx.Client) -> None:
    sub = subscribe(http, subject())
    started = time.monotonic()
    assert poll(http, sub, wait=0.3) == []
    assert time.monotonic() - started >= 0.3


def test_unknown_subscription_is_404(http: httpx.Client) -> None:
    assert http.post(f"{BUS}/subscriptions/sub-none/poll", json={}).status_code == 404
    assert http.post(f"{BUS}/subscriptions/sub-none/ack", json={"delivery_ids": ["d"]}).status_code == 404
    assert http.delete(f"{BUS}/subscriptions/sub-none").status_code == 404


def test_poll_without_body_uses_defaults(http: httpx.Client) -> None:
    subj = subject()
    sub = subscribe(http, subj)
    publish(http, subj, {})
    response = http.post(f"{BUS}/subscriptions/{sub}/poll")
    assert response.status_code == 200
    assert len(response.json()["messages"]) == 1
