"""The retry policy: classify the outcome of one attempt and decide Done / Retry(delay) / Fail.

Pure: no clock, no sleeping, no I/O. The shell measures ``elapsed`` on its monotonic clock, sleeps
``Retry.delay``, closes the failed response before sleeping, and sends the attempt number as
``X-Kei-Retry-Count``.

Rules (issue 4, item 7):

* a request that never left the client (``TransportFailure(sent=False)``, e.g. a connect error)
  is always retryable;
* a request that may have reached the server (a sent transport failure, or an error status) is
  retried only when the operation is idempotent or carries an ``Idempotency-Key``;
* statuses 408, 429, 500, 502, 503, 504 and the operation's ``x-kei-retry`` list are retryable,
  no other status is; ``x-kei-retry: never`` (``retry_statuses=None``) disables status retries
  and retries of sent requests;
* backoff is ``base_delay * 2**(attempt-1)`` capped at ``max_delay``, fully jittered (uniform in
  ``[0, cap]``) when ``jitter``; a server's Retry-After replaces it (exactly), but one above
  ``retry_after_max`` fails fast with ``Fail.retry_after`` set (the shell raises
  ``RateLimitError``/the status error carrying it);
* at most ``max_attempts`` attempts; a retry whose sleep would end after ``deadline`` seconds
  (measured from the start of the call) is not attempted.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Final, Literal, TypeAlias

import attrs

from kei_agent.config import RetryConfig

__all__ = [
    "DEFAULT_RETRY_STATUSES",
    "FAIL_DEADLINE",
    "FAIL_MAX_ATTEMPTS",
    "FAIL_NEVER",
    "FAIL_NOT_IDEMPOTENT",
    "FAIL_NOT_RETRYABLE",
    "FAIL_RETRY_AFTER_TOO_LONG",
    "Decision",
    "Done",
    "Fail",
    "OperationPolicy",
    "Outcome",
    "Retry",
    "RetryPolicy",
    "StatusFailure",
    "Success",
    "TransportFailure",
    "TransportKind",
]

DEFAULT_RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
"""Statuses retried for every operation (unless its spec says ``never``)."""

FAIL_NOT_RETRYABLE: Final = "not_retryable"
"""The status is not retryable (other 4xx, non-listed 5xx)."""
FAIL_NEVER: Final = "never"
"""The operation's spec says ``x-kei-retry: never``."""
FAIL_NOT_IDEMPOTENT: Final = "not_idempotent"
"""The request may have reached the server, and the operation is neither idempotent nor keyed."""
FAIL_MAX_ATTEMPTS: Final = "max_attempts"
"""``max_attempts`` attempts were made."""
FAIL_DEADLINE: Final = "deadline"
"""The next sleep would end after the call's deadline."""
FAIL_RETRY_AFTER_TOO_LONG: Final = "retry_after_too_long"
"""The server asked to wait longer than ``retry_after_max``."""

TransportKind: TypeAlias = Literal["connect", "read", "write", "timeout", "protocol", "closed"]


def _to_statuses(value: Iterable[int] | None) -> frozenset[int] | None:
    return None if value is None else frozenset(value)


@attrs.frozen
class OperationPolicy:
    """What the spec says about retrying one operation.

    Attributes:
        idempotent: ``x-kei-idempotent``: repeating the call has no further effect.
        retry_statuses: ``x-kei-retry`` statuses (added to the defaults), or ``None`` for ``never``.
    """

    idempotent: bool
    retry_statuses: frozenset[int] | None = attrs.field(converter=_to_statuses)

    @classmethod
    def from_spec(cls, idempotent: bool, retry: Iterable[int] | str | None) -> OperationPolicy:
        """Build from the spec's extensions: ``x-kei-retry`` is a list of statuses or ``"never"``.

        A missing ``x-kei-retry`` (``None``) means the defaults only.
        """
        if isinstance(retry, str):
            if retry.strip().lower() != "never":
                raise ValueError(f"x-kei-retry must be a list of statuses or 'never', got {retry!r}")
            return cls(idempotent, None)
        return cls(idempotent, frozenset() if retry is None else retry)


@attrs.frozen
class Success:
    """The attempt got a non-error response."""

    status: int


@attrs.frozen
class StatusFailure:
    """The attempt got an error status; ``retry_after`` is the server's wait hint in seconds."""

    status: int
    retry_after: float | None = None


@attrs.frozen
class TransportFailure:
    """The attempt got no usable response.

    ``sent=False`` when no byte of the request can have reached the server (connect errors,
    connect timeouts, pool timeouts); otherwise the server may have processed it.
    """

    kind: TransportKind
    sent: bool


Outcome: TypeAlias = Success | StatusFailure | TransportFailure


@attrs.frozen
class Done:
    """The call succeeded: return the response."""


@attrs.frozen
class Retry:
    """Sleep ``delay`` seconds, then send the next attempt."""

    delay: float
    reason: str


@attrs.frozen
class Fail:
    """Stop and raise the attempt's error; ``reason`` is one of the ``FAIL_*`` codes.

    ``retry_after`` carries the server's wait hint (set with ``FAIL_RETRY_AFTER_TOO_LONG`` and
    whenever the failed attempt had one).
    """

    reason: str
    retry_after: float | None = None


Decision: TypeAlias = Done | Retry | Fail

# 2**64 * base_delay exceeds any sensible max_delay; the cap avoids float overflow.
_MAX_EXPONENT: Final = 64


class RetryPolicy:
    """Decide after each attempt whether and when to retry (see the module docstring for the rules)."""

    def __init__(self, config: RetryConfig, rng: random.Random | None = None) -> None:
        """Use ``config``'s attempts, backoff, Retry-After ceiling and deadline; ``rng`` draws the jitter."""
        self.config = config
        self._rng = rng if rng is not None else random.Random()

    def backoff(self, attempt: int) -> float:
        """The delay after failed attempt ``attempt`` (1-based) when the server gave no Retry-After."""
        exponent = min(max(attempt, 1) - 1, _MAX_EXPONENT)
        cap = min(self.config.max_delay, self.config.base_delay * 2.0**exponent)
        return self._rng.uniform(0.0, cap) if self.config.jitter else cap

    def reconnect_delay(self, failures: int, retry_after: float | None = None) -> float:
        """The wait before reconnect ``failures`` (1-based) of a long-lived stream or consumer: the
        backoff, or the server's ``Retry-After`` when longer (capped at ``retry_after_max``)."""
        delay = self.backoff(failures)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.config.retry_after_max))
        return delay

    def classify(self, outcome: Outcome, op: OperationPolicy, *, idempotency_key_sent: bool) -> tuple[bool, str]:
        """Whether ``outcome`` may be retried at all, and why (a ``FAIL_*`` code when not)."""
        if isinstance(outcome, Success):
            return False, "success"
        replay_safe = op.idempotent or idempotency_key_sent
        if isinstance(outcome, TransportFailure):
            if not outcome.sent:
                return True, f"{outcome.kind} error before sending"
            if op.retry_statuses is None:
                return False, FAIL_NEVER
            if not replay_safe:
                return False, FAIL_NOT_IDEMPOTENT
            return True, f"{outcome.kind} error"
        if op.retry_statuses is None:
            return False, FAIL_NEVER
        if outcome.status not in DEFAULT_RETRY_STATUSES and outcome.status not in op.retry_statuses:
            return False, FAIL_NOT_RETRYABLE
        if not replay_safe:
            return False, FAIL_NOT_IDEMPOTENT
        return True, f"status {outcome.status}"

    def decide(
        self,
        *,
        attempt: int,
        outcome: Outcome,
        op: OperationPolicy,
        idempotency_key_sent: bool,
        elapsed: float,
    ) -> Decision:
        """Decide what follows attempt ``attempt`` (1-based), ``elapsed`` seconds after the call began."""
        if attempt < 1:
            raise ValueError(f"attempt is 1-based, got {attempt}")
        if isinstance(outcome, Success):
            return Done()
        retry_after = outcome.retry_after if isinstance(outcome, StatusFailure) else None
        retryable, reason = self.classify(outcome, op, idempotency_key_sent=idempotency_key_sent)
        if not retryable:
            return Fail(reason, retry_after)
        if attempt >= self.config.max_attempts:
            return Fail(FAIL_MAX_ATTEMPTS, retry_after)
        if retry_after is not None:
            if retry_after > self.config.retry_after_max:
                return Fail(FAIL_RETRY_AFTER_TOO_LONG, retry_after)
            delay = retry_after
        else:
            delay = self.backoff(attempt)
        if elapsed + delay > self.config.deadline:
            return Fail(FAIL_DEADLINE, retry_after)
        return Retry(delay, reason)
