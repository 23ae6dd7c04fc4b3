from __future__ import annotations

import pytest

from kei_agent import CircuitBreakerOpenError, ProtocolConfig, ProtocolError
from kei_agent.errors import APIConnectionError, APITimeoutError, status_error
from kei_agent.policies import Protocol, ProtocolRouter, StatusFailure, Success, TransportFailure

from .fakes import FakeClock

RPC, BUS, STREAM, MCP = Protocol.RPC, Protocol.BUS, Protocol.STREAM, Protocol.MCP
TABLE = {
    "plan_task": ["rpc", "bus"],
    "get_agent": ["rpc"],
    "stream_events": ["stream", "rpc"],
    "use_tool": ["mcp", "rpc"],
    "publish": ["bus", "stream", "rpc"],
}
URL = "https://kei.example.com/api/v1/rpc/plan"


def make(**config):
    clock = FakeClock()
    downgrades: list[tuple[str, Protocol, Protocol]] = []
    router = ProtocolRouter(
        ProtocolConfig(**config),
        TABLE,
        clock=clock,
        on_downgrade=lambda operation, old, new: downgrades.append((operation, old, new)),
    )
    return router, clock, downgrades


@pytest.mark.parametrize(
    ("config", "operation", "expected"),
    [
        ({}, "plan_task", [RPC, BUS]),
        ({}, "get_agent", [RPC]),
        ({}, "stream_events", [STREAM, RPC]),
        ({}, "publish", [BUS, STREAM, RPC]),
        ({"rpc_enabled": False}, "plan_task", [BUS]),
        ({"bus_enabled": False}, "publish", [STREAM, RPC]),
        ({"stream_enabled": False}, "stream_events", [RPC]),
        ({"protocol_fallback_enabled": False}, "publish", [BUS]),
        ({"protocol_fallback_enabled": False, "bus_enabled": False}, "publish", [STREAM]),
        ({"auto_protocol_selection": False}, "publish", [BUS, STREAM, RPC]),
    ],
)
def test_candidates_in_preference_order(config, operation, expected):
    router, _, _ = make(**config)
    assert router.candidates(operation) == expected


def test_no_enabled_protocol_names_the_operation_and_the_switches():
    router, _, _ = make(rpc_enabled=False, bus_enabled=False)
    with pytest.raises(ProtocolError) as info:
        router.candidates("plan_task")
    assert info.value.operation_id == "plan_task"
    assert "'plan_task'" in str(info.value)
    assert "rpc (rpc_enabled=False)" in str(info.value)
    assert "bus (bus_enabled=False)" in str(info.value)


def test_without_auto_selection_the_first_listed_protocol_must_be_enabled():
    router, _, _ = make(auto_protocol_selection=False, mcp_enabled=False)
    with pytest.raises(ProtocolError, match="auto_protocol_selection is off") as info:
        router.candidates("use_tool")
    assert "rpc" in str(info.value)  # suggests what can be requested
    assert router.candidates("use_tool", requested=RPC) == [RPC]
    assert router.candidates("plan_task") == [RPC, BUS]


@pytest.mark.parametrize(
    ("config", "operation", "requested", "expected"),
    [
        ({}, "plan_task", BUS, [BUS]),
        ({}, "plan_task", "bus", [BUS]),
        ({}, "plan_task", RPC, [RPC]),
        ({"protocol_fallback_enabled": False}, "publish", RPC, [RPC]),
    ],
)
def test_requested_protocol_is_forced(config, operation, requested, expected):
    router, _, _ = make(**config)
    assert router.candidates(operation, requested=requested) == expected


@pytest.mark.parametrize(
    ("config", "operation", "requested", "fragment"),
    [
        ({}, "get_agent", BUS, "cannot be carried by bus (allowed: rpc)"),
        ({}, "plan_task", MCP, "cannot be carried by mcp"),
        ({"bus_enabled": False}, "plan_task", BUS, "bus_enabled=False"),
    ],
)
def test_requested_protocol_must_be_allowed_and_enabled(config, operation, requested, fragment):
    router, _, _ = make(**config)
    with pytest.raises(ProtocolError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        router.candidates(operation, requested=requested)


def test_unknown_operation():
    router, _, _ = make()
    with pytest.raises(ProtocolError, match="unknown operation 'nope'"):
        router.candidates("nope")


@pytest.mark.parametrize(
    ("table", "fragment"), [({"op": ["rpc", "carrier-pigeon"]}, "unknown protocol"), ({"op": []}, "no protocol")]
)
def test_invalid_tables_are_rejected(table, fragment):
    with pytest.raises(ProtocolError, match=fragment):
        ProtocolRouter(ProtocolConfig(), table)


def test_table_entries_are_normalised():
    router = ProtocolRouter(ProtocolConfig(), {"op": ["RPC", "bus", "rpc"]})
    assert router.allowed("op") == (RPC, BUS)


@pytest.mark.parametrize(
    ("failure", "falls_back"),
    [
        (TransportFailure("connect", sent=False), True),
        (TransportFailure("read", sent=True), True),
        (TransportFailure("timeout", sent=True), True),
        (TransportFailure("closed", sent=True), True),
        (StatusFailure(502), True),
        (StatusFailure(503, retry_after=1.0), True),
        (StatusFailure(504), True),
        (StatusFailure(500), False),
        (StatusFailure(501), False),
        (StatusFailure(400), False),
        (StatusFailure(401), False),
        (StatusFailure(403), False),
        (StatusFailure(404), False),
        (StatusFailure(422), False),
        (StatusFailure(429), False),
        (Success(200), False),
        (CircuitBreakerOpenError("k", 3.0), True),
        (APIConnectionError(method="POST", url=URL), True),
        (APITimeoutError(method="POST", url=URL), True),
        (status_error(503, method="POST", url=URL), True),
        (status_error(502, method="POST", url=URL), True),
        (status_error(500, method="POST", url=URL), False),
        (status_error(404, method="POST", url=URL), False),
        (ProtocolError("x"), False),
        (ValueError("x"), False),
    ],
)
def test_fallback_only_on_transport_level_failures(failure, falls_back):
    router, _, _ = make()
    assert router.should_fall_back(failure) is falls_back
    disabled, _, _ = make(protocol_fallback_enabled=False)
    assert disabled.should_fall_back(failure) is False


def test_downgrade_is_sticky_for_the_cooldown_then_the_preferred_protocol_returns():
    router, clock, _ = make(fallback_cooldown_seconds=30.0)
    router.record_downgrade("plan_task", RPC, BUS)
    assert router.candidates("plan_task") == [BUS, RPC]
    assert router.candidates("stream_events") == [STREAM, RPC]
    assert router.candidates("get_agent") == [RPC]  # still the only way
    assert router.downgrades == {RPC: clock.now + 30.0}
    clock.advance(29.9)
    assert router.candidates("plan_task") == [BUS, RPC]
    clock.advance(0.1)
    assert router.candidates("plan_task") == [RPC, BUS]
    assert router.downgrades == {}


def test_downgrades_keep_their_relative_order():
    router, _, _ = make()
    router.record_downgrade("publish", BUS, STREAM)
    router.record_downgrade("publish", STREAM, RPC)
    assert router.candidates("publish") == [RPC, BUS, STREAM]


def test_downgrade_callback_once_per_cooldown():
    router, clock, downgrades = make(fallback_cooldown_seconds=10.0)
    router.record_downgrade("plan_task", RPC, BUS)
    clock.advance(5)
    router.record_downgrade("plan_task", RPC, BUS)
    router.record_downgrade("explain", RPC, BUS)
    assert downgrades == [("plan_task", RPC, BUS)]
    assert router.downgrades == {RPC: clock.now + 5.0}  # not extended by repeats
    clock.advance(5)
    router.record_downgrade("plan_task", RPC, BUS)
    assert downgrades == [("plan_task", RPC, BUS), ("plan_task", RPC, BUS)]
    router.record_downgrade("publish", BUS, STREAM)
    assert downgrades[-1] == ("publish", BUS, STREAM)


def test_zero_cooldown_is_never_sticky():
    router, _, downgrades = make(fallback_cooldown_seconds=0.0)
    router.record_downgrade("plan_task", RPC, BUS)
    router.record_downgrade("plan_task", RPC, BUS)
    assert router.candidates("plan_task") == [RPC, BUS]
    assert len(downgrades) == 2


def test_downgrade_without_callback():
    router = ProtocolRouter(ProtocolConfig(), TABLE, clock=FakeClock())
    router.record_downgrade("plan_task", RPC, BUS)
    assert router.candidates("plan_task") == [BUS, RPC]


def test_enabled():
    router, _, _ = make(mcp_enabled=False)
    assert [router.enabled(protocol) for protocol in Protocol] == [True, True, True, False]


def test_protocol_values_match_the_spec():
    assert [protocol.value for protocol in Protocol] == ["rpc", "bus", "stream", "mcp"]
