"""``LogContext``: the per-task / per-thread logging context (contextvars).

The correlation id is not stored here but in :mod:`kei_agent._context`, the variable the client
reads for ``X-Correlation-ID``: the id in the logs is always the id on the wire. The other fields
live in their own context variable, so they follow asyncio tasks (each task starts with a copy of
its creator's context) and threads started with ``contextvars.copy_context().run``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any

import attrs

from kei_agent._context import get_correlation_id, new_correlation_id, reset_correlation_id, set_correlation_id

__all__ = [
    "CONTEXT_FIELDS",
    "LogContext",
    "clear_context",
    "context_fields",
    "create_correlation_id",
    "get_context",
    "log_context",
    "set_context",
]

#: The named fields of a :class:`LogContext`, in the order they appear in JSON records.
CONTEXT_FIELDS = ("correlation_id", "trace_id", "user_id", "agent_id", "operation", "component", "environment")


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value or {})


@attrs.frozen(kw_only=True)
class LogContext:
    """Who and what the current log records are about; every field is optional.

    ``correlation_id`` is the id the client sends as ``X-Correlation-ID``; ``custom_fields`` are
    added to every record as they are (e.g. ``{"tenant": "acme"}``).
    """

    correlation_id: str | None = None
    trace_id: str | None = None
    user_id: str | None = None
    agent_id: str | None = None
    operation: str | None = None
    component: str | None = None
    environment: str | None = None
    custom_fields: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping, hash=False)

    def to_fields(self) -> dict[str, Any]:
        """The fields that are set, as they appear in a log record (custom fields included)."""
        fields: dict[str, Any] = {}
        for name in CONTEXT_FIELDS:
            value = getattr(self, name)
            if value is not None:
                fields[name] = value
        for key, value in self.custom_fields.items():
            fields.setdefault(key, value)
        return fields


_EMPTY = LogContext()
_context: ContextVar[LogContext] = ContextVar("kei_log_context", default=_EMPTY)


def get_context() -> LogContext:
    """The current context; its ``correlation_id`` is the one the client sends right now."""
    return attrs.evolve(_context.get(), correlation_id=get_correlation_id())


def set_context(context: LogContext) -> None:
    """Make ``context`` current for this task/thread (and the tasks and threads it starts with context).

    A context without ``correlation_id`` keeps the current correlation id.
    """
    _context.set(attrs.evolve(context, correlation_id=None))
    if context.correlation_id is not None:
        set_correlation_id(context.correlation_id)


def clear_context() -> None:
    """Forget the current context and correlation id."""
    _context.set(_EMPTY)
    set_correlation_id(None)


def create_correlation_id() -> str:
    """Start a new correlation id in the current context and return it."""
    value = new_correlation_id()
    set_correlation_id(value)
    return value


@contextlib.contextmanager
def log_context(context: LogContext | None = None, /, **fields: Any) -> Iterator[LogContext]:
    """Run the block with ``context`` (or the current one) updated by ``fields``; restored afterwards.

    ``with log_context(user_id="u-1", operation="nightly-report"):`` adds fields for the block only;
    unknown keyword names go to ``custom_fields``.
    """
    base = context if context is not None else get_context()
    named = {key: value for key, value in fields.items() if key in CONTEXT_FIELDS}
    custom = {key: value for key, value in fields.items() if key not in CONTEXT_FIELDS}
    merged = attrs.evolve(base, **named, custom_fields={**base.custom_fields, **custom})
    token = _context.set(attrs.evolve(merged, correlation_id=None))
    cid_token = set_correlation_id(merged.correlation_id or get_correlation_id())
    try:
        yield merged
    finally:
        reset_correlation_id(cid_token)
        _context.reset(token)


def context_fields() -> dict[str, Any]:
    """The current context as record fields (correlation id included when set)."""
    fields = _context.get().to_fields() if _context.get() is not _EMPTY else {}
    correlation_id = get_correlation_id()
    if correlation_id is not None:
        fields["correlation_id"] = correlation_id
    return fields
