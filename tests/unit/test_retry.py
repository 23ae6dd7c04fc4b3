from __future__ import annotations

import random
import statistics

import pytest

from kei_agent import RetryConfig
from kei_agent.policies import (
    DEFAULT_RETRY_STATUSES,
    Done,
    Fail,
    OperationPolicy,
    Retry,
    RetryPolicy,
    StatusFailure,
    Success,
    TransportFailure,
)
from kei_agent.policies.retry import (
    FAIL_DEADLINE,
    FAIL_MAX_ATTEMPTS,
    FAIL_NEVER,
    FAIL_NOT_IDEMPOTENT,
    FAIL_NOT_RETRYABLE,
    FAIL_RETRY_AFTER_TOO_LONG,
)

DEFAULT_OP = frozenset(DEFAULT_RETRY_STATUSES)
NO_JITTER = RetryConfig(jitter=False)


def decide(outcome, *, idempotent=True, key=False, statuses=DEFAULT_OP, attempt=1, elapsed=0.0, config=NO_JITTER):
    policy = RetryPolicy(config, random.Random(0))
    return policy.decide(
        attempt=attempt,
        outcome=outcome,
        op=OperationPolicy(idempotent, statuses),
        idempotency_key_sent=key,
        elapsed=elapsed,
    )


# ----------------------------------------------------------------------------- classification

RETRYABLE = {408, 429, 500, 502, 503, 504}
STATUSES = [400, 401, 403, 404, 405, 408, 409, 410, 422, 425, 429, 500, 501, 502, 503, 504, 505, 507, 520]


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize(("idempotent", "key"), [(True, False), (True, True), (False, True), (False, False)])
def test_status_classification(status, idempotent, key):
    decision = decide(StatusFailure(status), idempotent=idempotent, key=key)
    if status not in RETRYABLE:
        assert decision == Fail(FAIL_NOT_RETRYABLE)
    elif not idempotent and not key:
        assert decision == Fail(FAIL_NOT_IDEMPOTENT)
    else:
        assert decision == Retry(0.5, f"status {status}")


KINDS = ["connect", "read", "write", "timeout", "protocol", "closed"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sent", [False, True])
@pytest.mark.parametrize(("idempotent", "key"), [(True, False), (False, True), (False, False)])
def test_transport_classification(kind, sent, idempotent, key):
    decision = decide(TransportFailure(kind, sent), idempotent=idempotent, key=key)
    if not sent or idempotent or key:
        assert isinstance(decision, Retry)
        assert kind in decision.reason
    else:
        assert decision == Fail(FAIL_NOT_IDEMPOTENT)


@pytest.mark.parametrize("status", [200, 201, 204, 304])
def test_success_is_done(status):
    assert decide(Success(status), attempt=3) == Done()


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (StatusFailure(503), Fail(FAIL_NEVER)),
        (StatusFailure(429, retry_after=1.0), Fail(FAIL_NEVER, 1.0)),
        (StatusFailure(404), Fail(FAIL_NEVER)),
        (TransportFailure("read", sent=True), Fail(FAIL_NEVER)),
        (TransportFailure("connect", sent=False), Retry(0.5, "connect error before sending")),
    ],
)
def test_never_disables_status_retries_and_replays(outcome, expected):
    assert decide(outcome, statuses=None) == expected


def test_spec_statuses_extend_the_defaults():
    statuses = frozenset({507, 425})
    assert isinstance(decide(StatusFailure(507), statuses=statuses), Retry)
    assert isinstance(decide(StatusFailure(425), statuses=statuses), Retry)
    assert isinstance(decide(StatusFailure(503), statuses=statuses), Retry)  # defaults still apply
    assert decide(StatusFailure(501), statuses=statuses) == Fail(FAIL_NOT_RETRYABLE)


@pytest.mark.parametrize(
    ("idempotent", "retry", "expected"),
    [
        (True, [500, 503], OperationPolicy(True, frozenset({500, 503}))),
        (False, "never", OperationPolicy(False, None)),
        (False, " Never ", OperationPolicy(False, None)),
        (True, None, OperationPolicy(True, frozenset())),
    ],
)
def test_operation_policy_from_spec(idempotent, retry, expected):
    assert OperationPolicy.from_spec(idempotent, retry) == expected


def test_operation_policy_from_spec_rejects_other_strings():
    with pytest.raises(ValueError, match="never"):
        OperationPolicy.from_spec(True, "always")


def test_operation_policy_accepts_lists():
    assert OperationPolicy(True, [500, 500, 502]).retry_statuses == frozenset({500, 502})  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------ backoff


def test_backoff_without_jitter_doubles_up_to_the_cap():
    policy = RetryPolicy(RetryConfig(jitter=False, base_delay=0.5, max_delay=8.0))
    assert [policy.backoff(attempt) for attempt in range(1, 9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    assert policy.backoff(10_000) == 8.0  # no overflow


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 6])
def test_full_jitter_stays_within_zero_and_the_cap(attempt):
    config = RetryConfig(base_delay=0.5, max_delay=8.0, jitter=True)
    cap = min(8.0, 0.5 * 2 ** (attempt - 1))
    delays = [RetryPolicy(config, random.Random(seed)).backoff(attempt) for seed in range(500)]
    assert min(delays) >= 0.0
    assert max(delays) <= cap
    assert min(delays) < 0.05 * cap  # the whole range is used ...
    assert max(delays) > 0.95 * cap
    assert statistics.mean(delays) == pytest.approx(cap / 2, rel=0.1)  # ... uniformly


def test_jittered_backoff_grows_until_the_cap():
    config = RetryConfig(base_delay=0.5, max_delay=8.0, jitter=True)
    means = [
        statistics.mean(RetryPolicy(config, random.Random(seed)).backoff(attempt) for seed in range(400))
        for attempt in range(1, 8)
    ]
    assert means[0] < means[1] < means[2] < means[3] < means[4]
    assert means[5] == pytest.approx(means[4], rel=0.15)
    assert means[6] == pytest.approx(means[4], rel=0.15)


def test_same_seed_same_delays():
    config = RetryConfig()
    first = RetryPolicy(config, random.Random(42))
    second = RetryPolicy(config, random.Random(42))
    assert [first.backoff(n) for n in range(1, 6)] == [second.backoff(n) for n in range(1, 6)]


def test_decide_uses_jittered_backoff():
    config = RetryConfig(max_attempts=5, base_delay=1.0, max_delay=8.0, jitter=True)
    expected = random.Random(7).uniform(0.0, 4.0)
    decision = RetryPolicy(config, random.Random(7)).decide(
        attempt=3,
        outcome=StatusFailure(503),
        op=OperationPolicy(True, DEFAULT_OP),
        idempotency_key_sent=False,
        elapsed=0,
    )
    assert decision == Retry(expected, "status 503")


# -------------------------------------------------------------------------------- Retry-After


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        (0.0, Retry(0.0, "status 429")),
        (2.5, Retry(2.5, "status 429")),
        (60.0, Retry(60.0, "status 429")),
        (60.001, Fail(FAIL_RETRY_AFTER_TOO_LONG, 60.001)),
        (3600.0, Fail(FAIL_RETRY_AFTER_TOO_LONG, 3600.0)),
    ],
)
def test_retry_after_is_used_exactly_up_to_the_ceiling(retry_after, expected):
    config = RetryConfig(jitter=True, retry_after_max=60.0, deadline=120.0)
    assert decide(StatusFailure(429, retry_after=retry_after), config=config) == expected


def test_retry_after_on_503():
    assert decide(StatusFailure(503, retry_after=4.0)) == Retry(4.0, "status 503")


# ------------------------------------------------------------------------ attempts and deadline


@pytest.mark.parametrize(
    ("max_attempts", "attempt", "retries"),
    [(1, 1, False), (3, 1, True), (3, 2, True), (3, 3, False), (3, 4, False), (5, 4, True)],
)
def test_max_attempts_counts_attempts(max_attempts, attempt, retries):
    decision = decide(StatusFailure(503), attempt=attempt, config=RetryConfig(max_attempts=max_attempts, jitter=False))
    assert isinstance(decision, Retry) is retries
    if not retries:
        assert decision == Fail(FAIL_MAX_ATTEMPTS)


def test_exhausted_attempts_keep_the_retry_after():
    assert decide(StatusFailure(429, retry_after=3.0), attempt=3) == Fail(FAIL_MAX_ATTEMPTS, 3.0)


@pytest.mark.parametrize(
    ("elapsed", "retry_after", "expected"),
    [
        (119.5, None, Retry(0.5, "status 503")),  # ends exactly at the deadline
        (119.6, None, Fail(FAIL_DEADLINE)),
        (100.0, 20.0, Retry(20.0, "status 503")),
        (100.0, 20.5, Fail(FAIL_DEADLINE, 20.5)),
        (121.0, None, Fail(FAIL_DEADLINE)),
    ],
)
def test_deadline_bounds_attempts_plus_sleeps(elapsed, retry_after, expected):
    config = RetryConfig(jitter=False, deadline=120.0)
    assert decide(StatusFailure(503, retry_after=retry_after), elapsed=elapsed, config=config) == expected


def test_attempt_is_one_based():
    with pytest.raises(ValueError, match="1-based"):
        decide(StatusFailure(503), attempt=0)


def test_a_whole_call_with_defaults():
    """503, 503, 503 with defaults: two retries (0.5 s, 1 s), then give up."""
    policy = RetryPolicy(RetryConfig(jitter=False))
    op = OperationPolicy(False, DEFAULT_OP)
    decisions = [
        policy.decide(attempt=n, outcome=StatusFailure(503), op=op, idempotency_key_sent=True, elapsed=elapsed)
        for n, elapsed in ((1, 0.1), (2, 0.7), (3, 1.8))
    ]
    assert decisions == [Retry(0.5, "status 503"), Retry(1.0, "status 503"), Fail(FAIL_MAX_ATTEMPTS)]
