"""Per-task / per-thread request context (contextvars): the current correlation id.

The client sends the current correlation id as ``X-Correlation-ID`` (a new one per call when
none is set); the logging layer's ``LogContext`` sets it, and so can applications directly.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar, Token

_correlation_id: ContextVar[str | None] = ContextVar("kei_correlation_id", default=None)


def get_correlation_id() -> str | None:
    """The correlation id of the current context, if any."""
    return _correlation_id.get()


def set_correlation_id(value: str | None) -> Token[str | None]:
    """Make ``value`` the current correlation id (until reset with the returned token)."""
    return _correlation_id.set(value)


def reset_correlation_id(token: Token[str | None]) -> None:
    """Undo a :func:`set_correlation_id`."""
    _correlation_id.reset(token)


def new_correlation_id() -> str:
    """A fresh correlation id: 32 hex digits (128 random bits, the size of a UUID)."""
    return os.urandom(16).hex()


@contextlib.contextmanager
def correlation_scope(correlation_id: str | None = None) -> Iterator[str]:
    """Run the block with ``correlation_id`` (a new one if None) as the current correlation id."""
    value = correlation_id or new_correlation_id()
    token = _correlation_id.set(value)
    try:
        yield value
    finally:
        _correlation_id.reset(token)
