"""What the stream, bus and MCP clients keep per connection pool: the transport ladder of event
streams, the streams and subscriptions still open (closed when the client closes) and the
discovered MCP tools.

Clients derived with ``with_options`` share the pool's :class:`ProtocolState`. It lives beside the
pipeline's shared state (keyed weakly by it), so the pipeline needs no knowledge of streams.

Written once for both flavours: the blocking twin of this module is generated from it.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Protocol

from kei_agent.logging._logger import base_logger
from kei_agent.policies.transports import StreamTransport, TransportLadder

from ._pipeline import SharedState
from .mcp import ToolCatalog

__all__ = ["Closeable", "ProtocolState", "protocol_state"]

_log = base_logger.bind(component="kei_agent.stream")


class Closeable(Protocol):
    """A stream or subscription the client closes when it closes."""

    async def close(self) -> Any:
        """Close it (idempotent)."""


def _log_downgrade(old: StreamTransport, new: StreamTransport, reason: str) -> None:
    _log.warning(
        "event stream: {old} unavailable ({reason}), falling back to {new}", old=old.value, new=new.value, reason=reason
    )


class ProtocolState:
    """The transport ladder and the open streams/subscriptions of one connection pool."""

    def __init__(self, shared: SharedState) -> None:
        self.ladder = TransportLadder(shared.protocol_config, clock=shared.clock, on_downgrade=_log_downgrade)
        self.open: weakref.WeakSet[Any] = weakref.WeakSet()
        self.tools = ToolCatalog()
        self.lock = threading.Lock()

    def add(self, resource: Closeable) -> None:
        """Track an open stream or subscription."""
        with self.lock:
            self.open.add(resource)

    def discard(self, resource: Closeable) -> None:
        """Forget a closed stream or subscription."""
        with self.lock:
            self.open.discard(resource)

    def take_all(self) -> list[Closeable]:
        """Every tracked resource (and forget them)."""
        with self.lock:
            resources = list(self.open)
            self.open.clear()
        return resources


_STATES: weakref.WeakKeyDictionary[SharedState, ProtocolState] = weakref.WeakKeyDictionary()
_STATES_LOCK = threading.Lock()


def protocol_state(shared: SharedState) -> ProtocolState:
    """The :class:`ProtocolState` of a connection pool (created on first use)."""
    with _STATES_LOCK:
        state = _STATES.get(shared)
        if state is None:
            state = _STATES[shared] = ProtocolState(shared)
        return state
