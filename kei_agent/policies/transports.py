"""Event-stream transports and their fallback ladder: WebSocket → Server-Sent Events → polling.

Pure: time comes from the injected monotonic ``clock``. The stream protocol (``x-kei-protocols:
[stream]``) has three transports of decreasing quality. A stream starts on the best one that is
neither unavailable (its optional package missing) nor recently downgraded; when a transport is
refused (an upgrade answered without ``101``, an SSE endpoint answering something else than an
event stream, a connection refused on connect) the stream moves down the ladder, never up.

* :meth:`TransportLadder.candidates` lists the transports to try, best first: a transport
  downgraded less than ``ProtocolConfig.fallback_cooldown_seconds`` ago is skipped (sticky, like
  :class:`~kei_agent.policies.routing.ProtocolRouter`), unless nothing else is left; with
  ``protocol_fallback_enabled`` off only the first one is returned; a requested transport is the
  only candidate (no fallback).
* :meth:`TransportLadder.record_downgrade` notes a step down; ``on_downgrade`` is called once per
  cool-down of the transport (the client logs the downgrade through it).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Collection
from typing import Final

from kei_agent.config import ProtocolConfig

__all__ = ["StreamTransport", "TransportLadder"]


class StreamTransport(enum.StrEnum):
    """How an event stream reaches the client, best first."""

    WEBSOCKET = "websocket"
    SSE = "sse"
    POLLING = "polling"


LADDER: Final = (StreamTransport.WEBSOCKET, StreamTransport.SSE, StreamTransport.POLLING)


class TransportLadder:
    """Choose stream transports and remember recent downgrades (see the module docstring)."""

    def __init__(
        self,
        config: ProtocolConfig,
        clock: Callable[[], float] = time.monotonic,
        on_downgrade: Callable[[StreamTransport, StreamTransport, str], None] | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._on_downgrade = on_downgrade
        self._downgraded_until: dict[StreamTransport, float] = {}

    def candidates(
        self, requested: StreamTransport | str | None = None, unavailable: Collection[StreamTransport] = ()
    ) -> list[StreamTransport]:
        """The transports to try for a new stream, best first (never empty).

        ``requested`` forces one transport (no fallback); ``unavailable`` transports (their
        optional package is missing) are left out unless requested.
        """
        if requested is not None:
            return [StreamTransport(requested)]
        usable = [transport for transport in LADDER if transport not in unavailable]
        downgrades = self.downgrades
        preferred = [transport for transport in usable if transport not in downgrades] or usable
        return preferred if self.config.protocol_fallback_enabled else preferred[:1]

    def next_after(self, current: StreamTransport, candidates: list[StreamTransport]) -> StreamTransport | None:
        """The transport after ``current`` in ``candidates`` (``None``: it was the last)."""
        if current not in candidates:
            return None
        index = candidates.index(current)
        return candidates[index + 1] if index + 1 < len(candidates) else None

    def record_downgrade(self, from_transport: StreamTransport, to_transport: StreamTransport, reason: str) -> bool:
        """Note a step down; ``True`` (and ``on_downgrade`` called) when it is the first in the cool-down."""
        now = self._clock()
        until = self._downgraded_until.get(from_transport)
        self._downgraded_until[from_transport] = now + self.config.fallback_cooldown_seconds
        if until is not None and now < until:
            return False
        if self._on_downgrade is not None:
            self._on_downgrade(from_transport, to_transport, reason)
        return True

    @property
    def downgrades(self) -> dict[StreamTransport, float]:
        """Transports currently downgraded → monotonic time when their cool-down ends."""
        now = self._clock()
        for transport, until in list(self._downgraded_until.items()):
            if now >= until:
                del self._downgraded_until[transport]
        return dict(self._downgraded_until)
