from __future__ import annotations

import pytest

from kei_agent import CircuitBreakerOpenError, RetryConfig
from kei_agent.policies import CircuitBreaker, CircuitState

from .fakes import FakeClock

KEY = "https://kei.example.com|rpc"
# A config where only the consecutive-failure rule can fire, and one where only the rate rule can.
CONSECUTIVE = RetryConfig(breaker_failure_threshold=3, breaker_minimum_calls=20, breaker_window=20)
RATE = RetryConfig(breaker_failure_threshold=100, breaker_failure_rate=0.5, breaker_window=10, breaker_minimum_calls=6)


def make(config=None, **kwargs):
    clock = FakeClock()
    transitions: list[tuple[CircuitState, CircuitState]] = []
    breaker = CircuitBreaker(
        config or RetryConfig(),
        clock=clock,
        on_transition=lambda old, new: transitions.append((old, new)),
        key=KEY,
        **kwargs,
    )
    return breaker, clock, transitions


def call(breaker, outcome):
    """One call as the shells do it: admit, then record once."""
    breaker.before_call()
    {"ok": breaker.record_success, "fail": breaker.record_failure, "4xx": breaker.record_success}[outcome]()


def test_starts_closed_and_admits_calls():
    breaker, _, transitions = make()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.key == KEY
    assert breaker.retry_after == 0.0
    for _ in range(100):
        call(breaker, "ok")
    assert breaker.state is CircuitState.CLOSED
    assert transitions == []


def test_defaults_do_not_open_on_the_second_failure():
    breaker, _, _ = make()
    call(breaker, "fail")
    call(breaker, "fail")
    assert breaker.state is CircuitState.CLOSED
    assert breaker.consecutive_failures == 2


def test_defaults_open_on_five_consecutive_failures():
    breaker, _, transitions = make()
    for _ in range(4):
        call(breaker, "fail")
    assert breaker.state is CircuitState.CLOSED
    call(breaker, "fail")
    assert breaker.state is CircuitState.OPEN
    assert transitions == [(CircuitState.CLOSED, CircuitState.OPEN)]


@pytest.mark.parametrize(
    ("pattern", "opens"),
    [
        (["fail", "fail", "fail"], True),
        (["fail", "fail", "ok", "fail", "fail"], False),
        (["fail", "fail", "4xx", "fail", "fail"], False),  # 4xx proves the endpoint works
        (["ok", "fail", "fail", "fail"], True),
        (["4xx"] * 50, False),
    ],
)
def test_consecutive_failures(pattern, opens):
    breaker, _, _ = make(CONSECUTIVE)
    for outcome in pattern:
        call(breaker, outcome)
    assert (breaker.state is CircuitState.OPEN) is opens


@pytest.mark.parametrize(
    ("pattern", "opens"),
    [
        # 3 of 5 failed, but fewer than breaker_minimum_calls (6) calls
        (["fail", "ok", "fail", "ok", "fail"], False),
        # 3 of 6 failed: rate 0.5 with the minimum reached
        (["ok", "fail", "ok", "fail", "ok", "fail"], True),
        # the rules are evaluated when a failure is recorded: a success never opens the breaker
        (["fail", "ok", "fail", "ok", "fail", "ok"], False),
        # 2 of 6: rate below 0.5
        (["fail", "ok", "ok", "fail", "ok", "ok"], False),
        # old failures slide out of the 10-call window
        (["fail"] * 2 + ["ok"] * 10 + ["fail"] * 2, False),
        (["fail", "ok"] * 10, True),
        (["fail", "4xx"] * 2 + ["4xx"] * 8, False),
    ],
)
def test_failure_rate_over_the_sliding_window(pattern, opens):
    breaker, _, _ = make(RATE)
    for outcome in pattern:
        if breaker.state is CircuitState.OPEN:
            break
        call(breaker, outcome)
    assert (breaker.state is CircuitState.OPEN) is opens


def test_window_statistics():
    breaker, _, _ = make(RATE)
    for outcome in ["fail", "ok", "ok", "ok"]:
        call(breaker, outcome)
    assert breaker.window_calls == 4
    assert breaker.failure_rate == 0.25
    assert breaker.consecutive_failures == 0


def open_breaker(config=CONSECUTIVE, **kwargs):
    breaker, clock, transitions = make(config, **kwargs)
    while breaker.state is not CircuitState.OPEN:
        call(breaker, "fail")
    return breaker, clock, transitions


def test_open_rejects_with_the_time_until_the_probe():
    breaker, clock, _ = open_breaker()
    with pytest.raises(CircuitBreakerOpenError) as info:
        breaker.before_call()
    assert info.value.key == KEY
    assert info.value.retry_after == pytest.approx(30.0)
    assert "in 30.0s" in str(info.value)
    clock.advance(12.5)
    with pytest.raises(CircuitBreakerOpenError) as later:
        breaker.before_call()
    assert later.value.retry_after == pytest.approx(17.5)
    assert breaker.retry_after == pytest.approx(17.5)


def test_half_open_after_the_open_period_admits_one_probe():
    breaker, clock, _ = open_breaker()
    clock.advance(29.999)
    assert breaker.state is CircuitState.OPEN
    clock.advance(0.001)
    assert breaker.state is CircuitState.HALF_OPEN
    breaker.before_call()  # the probe
    with pytest.raises(CircuitBreakerOpenError, match="half-open") as info:
        breaker.before_call()
    assert info.value.retry_after == 0.0


def test_half_open_probe_limit_is_configurable():
    config = RetryConfig(breaker_failure_threshold=1, breaker_half_open_probes=3)
    breaker, clock, _ = open_breaker(config)
    clock.advance(30)
    for _ in range(3):
        breaker.before_call()
    with pytest.raises(CircuitBreakerOpenError):
        breaker.before_call()


def test_probe_success_closes_and_resets():
    breaker, clock, transitions = open_breaker()
    clock.advance(30)
    breaker.before_call()
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.consecutive_failures == 0
    assert breaker.window_calls == 0
    assert transitions == [
        (CircuitState.CLOSED, CircuitState.OPEN),
        (CircuitState.OPEN, CircuitState.HALF_OPEN),
        (CircuitState.HALF_OPEN, CircuitState.CLOSED),
    ]
    call(breaker, "fail")
    call(breaker, "fail")
    assert breaker.state is CircuitState.CLOSED  # counting starts over


def test_probe_failure_reopens_for_another_period():
    breaker, clock, transitions = open_breaker()
    clock.advance(30)
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert breaker.retry_after == pytest.approx(30.0)
    clock.advance(29)
    assert breaker.state is CircuitState.OPEN
    clock.advance(1)
    assert breaker.state is CircuitState.HALF_OPEN
    assert transitions == [
        (CircuitState.CLOSED, CircuitState.OPEN),
        (CircuitState.OPEN, CircuitState.HALF_OPEN),
        (CircuitState.HALF_OPEN, CircuitState.OPEN),
        (CircuitState.OPEN, CircuitState.HALF_OPEN),
    ]


def test_ignored_probe_releases_its_slot_without_counting():
    breaker, clock, _ = open_breaker()
    clock.advance(30)
    breaker.before_call()
    breaker.record_ignored()
    assert breaker.state is CircuitState.HALF_OPEN
    breaker.before_call()  # the slot is free again
    with pytest.raises(CircuitBreakerOpenError):
        breaker.before_call()


def test_ignored_calls_do_not_count_when_closed():
    breaker, _, _ = make(CONSECUTIVE)
    call(breaker, "fail")
    call(breaker, "fail")
    breaker.before_call()
    breaker.record_ignored()
    assert breaker.consecutive_failures == 2
    assert breaker.window_calls == 2


def test_stragglers_do_not_change_an_open_breaker():
    breaker, _, transitions = open_breaker()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert breaker.retry_after == pytest.approx(30.0)
    assert len(transitions) == 1


def test_reset_closes():
    breaker, _, transitions = open_breaker()
    breaker.reset()
    assert breaker.state is CircuitState.CLOSED
    assert transitions[-1] == (CircuitState.OPEN, CircuitState.CLOSED)
    breaker.before_call()


def test_without_callback():
    breaker = CircuitBreaker(RetryConfig(breaker_failure_threshold=1), clock=FakeClock())
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert breaker.key == "default"


def test_circuit_state_values():
    assert [state.value for state in CircuitState] == ["closed", "open", "half_open"]
    assert CircuitState("open") is CircuitState.OPEN
