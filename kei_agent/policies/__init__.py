"""Pure resilience policies: retry, Retry-After parsing, circuit breaker, protocol routing,
stream transport fallback.

No I/O, no sleeping, no locks: time comes from an injectable monotonic clock and randomness from
an injectable :class:`random.Random`, so each policy is unit-tested without sockets. The client
shells send, sleep and lock around them.
"""

from __future__ import annotations

from .breaker import CircuitBreaker, CircuitState
from .retry import (
    DEFAULT_RETRY_STATUSES,
    Decision,
    Done,
    Fail,
    OperationPolicy,
    Outcome,
    Retry,
    RetryPolicy,
    StatusFailure,
    Success,
    TransportFailure,
    TransportKind,
)
from .retry_after import parse_retry_after
from .routing import FALLBACK_STATUSES, Protocol, ProtocolRouter
from .transports import StreamTransport, TransportLadder

__all__ = [
    "DEFAULT_RETRY_STATUSES",
    "FALLBACK_STATUSES",
    "CircuitBreaker",
    "CircuitState",
    "Decision",
    "Done",
    "Fail",
    "OperationPolicy",
    "Outcome",
    "Protocol",
    "ProtocolRouter",
    "Retry",
    "RetryPolicy",
    "StatusFailure",
    "StreamTransport",
    "Success",
    "TransportFailure",
    "TransportKind",
    "TransportLadder",
    "parse_retry_after",
]
