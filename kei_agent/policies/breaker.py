"""The circuit breaker: stop calling a failing endpoint for a while, then probe it.

Pure: time comes from the injected monotonic ``clock``; there are no locks. The async shell uses
one breaker per (base URL, protocol) from one event loop; the sync shell holds its own lock around
every method call.

The breaker counts **calls, not attempts**: the caller calls :meth:`CircuitBreaker.before_call`
once before a call's first attempt and records the call's final outcome exactly once:

* :meth:`~CircuitBreaker.record_failure` for transport failures and 5xx;
* :meth:`~CircuitBreaker.record_success` for everything else, 4xx included (the endpoint works);
* :meth:`~CircuitBreaker.record_ignored` when the call ended without telling anything about the
  endpoint (e.g. it was cancelled): a half-open probe slot is released, nothing is counted.

States: CLOSED (calls pass) → OPEN when ``breaker_failure_threshold`` consecutive calls failed, or
when the sliding window of the last ``breaker_window`` calls holds at least
``breaker_minimum_calls`` calls with a failure rate ≥ ``breaker_failure_rate`` (both rules are
evaluated when a failure is recorded: a success never opens the breaker). OPEN rejects calls
with :class:`~kei_agent.errors.CircuitBreakerOpenError` for ``breaker_open_seconds``, then turns
HALF_OPEN and admits up to ``breaker_half_open_probes`` concurrent probe calls: a probe success
closes the breaker (counters reset), a probe failure opens it again for another period.
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable

from kei_agent.config import RetryConfig
from kei_agent.errors import CircuitBreakerOpenError

__all__ = ["CircuitBreaker", "CircuitState"]


class CircuitState(enum.StrEnum):
    """The breaker's state."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """A circuit breaker for one endpoint (see the module docstring for the protocol).

    ``on_transition(old, new)`` is called after every state change, in order (e.g. CLOSED→OPEN,
    OPEN→HALF_OPEN, HALF_OPEN→CLOSED); the client logs transitions through it.
    """

    def __init__(
        self,
        config: RetryConfig,
        clock: Callable[[], float] = time.monotonic,
        on_transition: Callable[[CircuitState, CircuitState], None] | None = None,
        *,
        key: str = "default",
    ) -> None:
        """Create a CLOSED breaker named ``key`` (shown in errors; must not contain credentials)."""
        self.config = config
        self._clock = clock
        self._on_transition = on_transition
        self._key = key
        self._state = CircuitState.CLOSED
        self._opened_at = 0.0
        self._consecutive_failures = 0
        self._window: deque[bool] = deque(maxlen=config.breaker_window)  # True = failed call
        self._probes = 0

    # ------------------------------------------------------------------------------ observing

    @property
    def key(self) -> str:
        """The breaker's name, e.g. ``https://kei.example.com|rpc``."""
        return self._key

    @property
    def state(self) -> CircuitState:
        """The current state (an OPEN breaker whose period is over reports HALF_OPEN)."""
        if self._state is CircuitState.OPEN and self._clock() >= self._reopen_at:
            self._transition(CircuitState.HALF_OPEN)
            self._probes = 0
        return self._state

    @property
    def retry_after(self) -> float:
        """Seconds until an OPEN breaker admits a probe; 0 in the other states."""
        if self.state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, self._reopen_at - self._clock())

    @property
    def consecutive_failures(self) -> int:
        """Failed calls in a row (CLOSED state)."""
        return self._consecutive_failures

    @property
    def failure_rate(self) -> float:
        """Failure rate over the sliding window (0.0 when empty)."""
        return sum(self._window) / len(self._window) if self._window else 0.0

    @property
    def window_calls(self) -> int:
        """Calls currently in the sliding window."""
        return len(self._window)

    @property
    def _reopen_at(self) -> float:
        return self._opened_at + self.config.breaker_open_seconds

    # ------------------------------------------------------------------------------- protocol

    def before_call(self) -> None:
        """Admit a call or raise :class:`CircuitBreakerOpenError` (with the seconds until a probe)."""
        state = self.state
        if state is CircuitState.CLOSED:
            return
        if state is CircuitState.OPEN:
            raise CircuitBreakerOpenError(self._key, self._reopen_at - self._clock())
        if self._probes >= self.config.breaker_half_open_probes:
            raise CircuitBreakerOpenError(
                self._key,
                0.0,
                message=(
                    f"Circuit breaker {self._key!r} is half-open and its "
                    f"{self.config.breaker_half_open_probes} probe call(s) are in flight; try again shortly"
                ),
            )
        self._probes += 1

    def record_success(self) -> None:
        """Record a call that reached a working endpoint (any non-5xx response)."""
        state = self.state
        if state is CircuitState.HALF_OPEN:
            self._release_probe()
            self._reset_counters()
            self._transition(CircuitState.CLOSED)
        elif state is CircuitState.CLOSED:
            self._consecutive_failures = 0
            self._window.append(False)
        # OPEN: a straggler admitted before the breaker opened; it does not change the decision.

    def record_failure(self) -> None:
        """Record a call that failed at transport level or with a 5xx."""
        state = self.state
        if state is CircuitState.HALF_OPEN:
            self._release_probe()
            self._open()
        elif state is CircuitState.CLOSED:
            self._consecutive_failures += 1
            self._window.append(True)
            if self._should_open():
                self._open()

    def record_ignored(self) -> None:
        """Release a half-open probe slot without counting the call (e.g. it was cancelled)."""
        if self.state is CircuitState.HALF_OPEN:
            self._release_probe()

    def reset(self) -> None:
        """Close the breaker and forget all counts."""
        self._reset_counters()
        self._probes = 0
        if self._state is not CircuitState.CLOSED:
            self._transition(CircuitState.CLOSED)

    # -------------------------------------------------------------------------------- helpers

    def _should_open(self) -> bool:
        config = self.config
        if self._consecutive_failures >= config.breaker_failure_threshold:
            return True
        return len(self._window) >= config.breaker_minimum_calls and self.failure_rate >= config.breaker_failure_rate

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._reset_counters()
        self._probes = 0
        self._transition(CircuitState.OPEN)

    def _reset_counters(self) -> None:
        self._consecutive_failures = 0
        self._window.clear()

    def _release_probe(self) -> None:
        self._probes = max(0, self._probes - 1)

    def _transition(self, new: CircuitState) -> None:
        old, self._state = self._state, new
        if old is not new and self._on_transition is not None:
            self._on_transition(old, new)
