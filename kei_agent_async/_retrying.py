"""The one retry helper: the engine, the token fetch, the bus consumer and stream reconnects ask it
what follows a failure and wait as it says, never past the deadline.

The decisions come from the pure :class:`~kei_agent.policies.retry.RetryPolicy` (which statuses
and errors are retryable, backoff with jitter, Retry-After, max attempts, deadline); this module
adds the clock, the wait and the log line, written once for both flavours (the blocking twin is
generated from it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kei_agent.config import RetryConfig
from kei_agent.logging._logger import base_logger
from kei_agent.policies.retry import Decision, OperationPolicy, Outcome, Retry, RetryPolicy

from ._backend import sleep

_log = base_logger.bind(component="kei_agent.retry")

#: What a reconnect loop retries: any failure, as often as the deadline allows.
RECONNECT = OperationPolicy(idempotent=True, retry_statuses=frozenset())


class Retrying:
    """One call's retry state: attempts so far, the deadline, the decision after each failure.

    ``deadline`` is absolute (``clock()`` time); it defaults to now + ``config.deadline``.
    """

    __slots__ = ("_budget", "_clock", "_op", "_policy", "attempt", "deadline", "idempotency_key_sent")

    def __init__(
        self,
        policy: RetryPolicy,
        op: OperationPolicy,
        *,
        deadline: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        idempotency_key_sent: bool = True,
    ) -> None:
        self._policy = policy
        self._op = op
        self._clock = clock
        self._budget = policy.config.deadline
        self.deadline = clock() + self._budget if deadline is None else deadline
        self.idempotency_key_sent = idempotency_key_sent
        self.attempt = 0

    @classmethod
    def of(cls, config: RetryConfig, op: OperationPolicy = RECONNECT, **kwargs: Any) -> Retrying:
        """A helper for ``config`` (a fresh :class:`RetryPolicy`)."""
        return cls(RetryPolicy(config), op, **kwargs)

    def remaining(self) -> float:
        """Seconds left before the deadline (negative once passed)."""
        return self.deadline - self._clock()

    def next_attempt(self) -> int:
        """Count one more attempt; returns its number (1-based)."""
        self.attempt += 1
        return self.attempt

    def decide(self, outcome: Outcome) -> Decision:
        """What follows the current attempt's ``outcome`` (``Done``, ``Retry`` or ``Fail``)."""
        return self._policy.decide(
            attempt=max(self.attempt, 1),
            outcome=outcome,
            op=self._op,
            idempotency_key_sent=self.idempotency_key_sent,
            elapsed=self._budget - self.remaining(),
        )

    async def wait(self, decision: Retry, what: str, *, level: str = "INFO", **context: Any) -> None:
        """Log the retry (``what``, attempt, reason, delay; INFO unless ``level``) and sleep its delay."""
        _log.bind(**context).log(
            level,
            "{what}: attempt {attempt} failed ({reason}); retrying in {delay:.3f}s",
            what=what,
            attempt=self.attempt,
            reason=decision.reason,
            delay=decision.delay,
        )
        await sleep(decision.delay)

    def reconnect_delay(self, failures: int, retry_after: float | None = None) -> float:
        """The wait before reconnect number ``failures`` of a long-lived stream or consumer."""
        return self._policy.reconnect_delay(failures, retry_after)
