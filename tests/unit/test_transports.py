"""The stream transport ladder and the pure helpers of the stream and bus clients."""

from __future__ import annotations

import random

import pytest

from kei_agent import ProtocolConfig
from kei_agent.config import RetryConfig
from kei_agent.messaging import (
    EventCursor,
    SeenIds,
    agent_inbox_subject,
    decode_frame,
    encode_frame,
    topics_param,
)
from kei_agent.policies.retry import RetryPolicy
from kei_agent.policies.transports import StreamTransport, TransportLadder

from .fakes import FakeClock

WS, SSE, POLL = StreamTransport.WEBSOCKET, StreamTransport.SSE, StreamTransport.POLLING


def make(**config):
    clock = FakeClock()
    logged: list[tuple[StreamTransport, StreamTransport, str]] = []
    ladder = TransportLadder(
        ProtocolConfig(**config), clock=clock, on_downgrade=lambda old, new, why: logged.append((old, new, why))
    )
    return ladder, clock, logged


@pytest.mark.parametrize(
    ("config", "requested", "unavailable", "expected"),
    [
        ({}, None, (), [WS, SSE, POLL]),
        ({}, "sse", (), [SSE]),
        ({}, WS, (WS,), [WS]),  # asked for explicitly: the caller reports the missing extra
        ({}, None, (WS,), [SSE, POLL]),
        ({}, None, (WS, SSE), [POLL]),
        ({"protocol_fallback_enabled": False}, None, (), [WS]),
    ],
)
def test_candidates(config, requested, unavailable, expected) -> None:
    ladder, _, _ = make(**config)
    assert ladder.candidates(requested, unavailable) == expected


def test_a_downgrade_is_sticky_for_the_cool_down_and_logged_once() -> None:
    ladder, clock, logged = make(fallback_cooldown_seconds=30)
    assert ladder.record_downgrade(WS, SSE, "answered 503") is True
    assert ladder.record_downgrade(WS, SSE, "answered 503") is False
    assert logged == [(WS, SSE, "answered 503")]
    assert ladder.candidates() == [SSE, POLL]
    clock.advance(31)
    assert ladder.candidates() == [WS, SSE, POLL]
    assert ladder.downgrades == {}
    assert ladder.record_downgrade(WS, SSE, "again") is True
    assert len(logged) == 2


def test_when_everything_is_downgraded_the_full_ladder_is_tried() -> None:
    ladder, _, _ = make()
    for old, new in ((WS, SSE), (SSE, POLL), (POLL, POLL)):
        ladder.record_downgrade(old, new, "x")
    assert ladder.candidates() == [WS, SSE, POLL]


def test_next_after() -> None:
    ladder, _, _ = make()
    assert ladder.next_after(WS, [WS, SSE, POLL]) is SSE
    assert ladder.next_after(POLL, [WS, SSE, POLL]) is None
    assert ladder.next_after(WS, [SSE, POLL]) is None


def test_event_cursor_drops_replays_and_compares_ids_as_integers() -> None:
    cursor = EventCursor()
    assert cursor.value is None
    assert cursor.advance("9")
    assert cursor.advance("10")  # not "10" < "9" as strings
    assert not cursor.advance("10")
    assert not cursor.advance("2")
    assert cursor.value == "10"


def test_event_cursor_position_never_moves_back() -> None:
    cursor = EventCursor()
    cursor.position("5")
    assert cursor.value == "5"
    cursor.position("3")
    cursor.position(None)
    assert cursor.value == "5"
    assert not cursor.advance("5")
    assert cursor.advance("6")


def test_seen_ids_forgets_the_oldest() -> None:
    seen = SeenIds(capacity=2)
    assert seen.add("a")
    assert not seen.add("a")
    seen.add("b")
    seen.add("c")
    assert "a" not in seen
    assert "b" in seen
    assert len(seen) == 2
    with pytest.raises(ValueError, match="capacity"):
        SeenIds(0)


@pytest.mark.parametrize(
    ("agent_id", "subject"),
    [
        ("report-writer", "agents.report-writer.inbox"),
        ("report.writer", "agents.report_2ewriter.inbox"),
        ("ns:agent_1", "agents.ns_3aagent_5f1.inbox"),
    ],
)
def test_agent_inbox_subjects_are_valid_and_distinct(agent_id: str, subject: str) -> None:
    assert agent_inbox_subject(agent_id) == subject
    assert agent_inbox_subject("a.b") != agent_inbox_subject("a_2eb")
    with pytest.raises(ValueError, match="empty"):
        agent_inbox_subject("")


def test_reconnect_backoff_is_full_jitter_capped_and_honours_retry_after() -> None:
    policy = RetryPolicy(RetryConfig(base_delay=0.5, max_delay=4.0, retry_after_max=10.0), rng=random.Random(1))
    delays = [policy.reconnect_delay(attempt) for attempt in range(1, 10)]
    assert all(0.0 <= delay <= 4.0 for delay in delays)
    assert len(set(delays)) > 1  # jittered
    assert RetryPolicy(RetryConfig(base_delay=0.5), rng=random.Random(2)).reconnect_delay(1) <= 0.5
    assert policy.reconnect_delay(1, retry_after=7.0) == 7.0  # the server's wait, when longer
    assert policy.reconnect_delay(1, retry_after=600.0) == 10.0  # capped at retry_after_max


def test_frames() -> None:
    text = encode_frame("subscribe", id="s1", topics=["a.*"], since=None)
    assert decode_frame(text) == {"type": "subscribe", "id": "s1", "topics": ["a.*"]}
    assert decode_frame("not json") is None
    assert decode_frame("[1]") is None
    assert decode_frame('{"no": "type"}') is None
    assert topics_param(None) is None
    assert topics_param(["a", "b.*"]) == "a,b.*"
