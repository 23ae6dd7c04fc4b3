"""The instrumentation interface the pipeline calls, and its no-op implementation.

The no-op costs an attribute lookup and an empty ``with`` per call; it is what the clients use
when OpenTelemetry is not installed (nothing of it is imported then).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from types import TracebackType

__all__ = ["AttemptScope", "Instrumentation", "OperationScope"]


class OperationScope:
    """One public operation call (a span ``kei_agent.<operationId>`` when tracing is active).

    The pipeline sets :attr:`protocol` once routed and :attr:`duration` (seconds) before leaving.
    """

    __slots__ = ("duration", "operation_id", "protocol")

    def __init__(self, operation_id: str) -> None:
        """Start describing a call of ``operation_id``."""
        self.operation_id = operation_id
        self.protocol: str | None = None
        self.duration: float | None = None

    def __enter__(self) -> OperationScope:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


class AttemptScope:
    """One HTTP attempt of a call (a child span when tracing is active)."""

    __slots__ = ()

    def __enter__(self) -> AttemptScope:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def response(self, status_code: int) -> None:
        """The attempt got a response with ``status_code``."""

    def transport_error(self, error: BaseException) -> None:
        """The attempt failed without a response."""


_NOOP_ATTEMPT = AttemptScope()


class Instrumentation:
    """Spans and metrics of the clients; this base class records nothing."""

    #: Whether spans and metrics are recorded (OpenTelemetry is installed).
    enabled = False

    def operation(self, operation_id: str) -> OperationScope:
        """Scope of one public operation call."""
        return OperationScope(operation_id)

    def attempt(
        self,
        *,
        operation_id: str,
        method: str,
        url_template: str,
        url: str,
        protocol: str,
        retry_count: int,
        headers: MutableMapping[str, str],
    ) -> AttemptScope:
        """Scope of one HTTP attempt; may add ``traceparent`` to ``headers``."""
        return _NOOP_ATTEMPT

    def breaker_transition(self, key: str, old: str, new: str) -> None:
        """A circuit breaker changed state (``closed``/``open``/``half_open``)."""

    def token_refresh(self, outcome: str = "success", *, auth_type: str | None = None) -> None:
        """A credential was fetched or refreshed (``outcome``: ``success`` or ``error``)."""
