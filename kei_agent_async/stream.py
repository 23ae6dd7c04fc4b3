"""Event streams: WebSocket, then Server-Sent Events, then polling - resumed without gap or duplicate.

:class:`EventStream` (from ``client.stream_events(...)``) iterates over the spec's ``StreamEvent``
models. It connects with the best transport the server offers (:class:`StreamTransport`):

* **WebSocket** on ``/api/v1/stream`` (subprotocol ``kei.stream.v1``, the frames of the spec's
  ``x-kei-websocket``). The upgrade request goes through the client's connection pool with the
  same auth, TLS settings and headers (``X-Agent-ID``, ``X-Correlation-ID``, ``X-Tenant-ID``,
  ``User-Agent``) as every HTTP call; httpx-ws then speaks the WebSocket protocol on that
  connection. Keep-alive: the server's ``ping`` frames are answered with ``pong``; the client
  sends a WebSocket ping every ``keepalive`` seconds and treats the connection as dead when no
  pong arrives within another ``keepalive`` seconds.
* **Server-Sent Events** on ``GET /api/v1/stream/events`` with ``Last-Event-ID`` when the upgrade
  is refused (a proxy answering without ``101``, the route disabled, 5xx, connection refused).
* **Polling** (``GET /api/v1/stream/poll``, long-poll) as the last resort.

A transport that is refused on connect moves the stream down the ladder (never up); the step is
visible in :attr:`EventStream.downgrades` and logged once per cool-down
(``ProtocolConfig.fallback_cooldown_seconds``). A connection lost after it worked is re-opened on
the same transport with exponential backoff, resuming after the last event id (the
:class:`~kei_agent.messaging.EventCursor`): replayed events are dropped, so the consumer sees
each event once and in order.

WebSocket needs the ``httpx-ws`` package and SSE the ``httpx-sse`` package - the ``stream`` extra
(``pip install "kei-agent-py-sdk[stream]"``). Without them the stream uses the transports that
remain (polling needs nothing); asking for a missing one explicitly raises ``ConfigurationError``.

Written once for both flavours: the blocking twin of this module is generated from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

from kei_agent._generated import models
from kei_agent.policies.transports import StreamTransport

from ._stream_base import STREAM_EXTRA, missing_transports
from ._stream_reconnect import StreamMachine

__all__ = ["STREAM_EXTRA", "EventStream", "missing_transports"]


class EventStream(StreamMachine):
    """Events of the stream protocol, as ``StreamEvent`` models, each once and in order.

    Get one with ``client.stream_events(topics=None, since=None)`` and iterate over it (the first
    iteration connects; entering the async with block connects at once); closing it (``close()``,
    leaving the block, or closing the client) closes the connection::

        async with client.stream_events(["plan.*"]) as stream:
            async for event in stream:
                print(event.id, event.type, event["data"])

    :attr:`transport` is the transport in use, :attr:`downgrades` the fallback steps taken,
    :attr:`last_event_id` the resume point, :attr:`reconnects` how often a lost connection was
    re-opened and :attr:`duplicates_dropped` how many replayed events were filtered out.
    """

    # ------------------------------------------------------------------ state

    @property
    def transport(self) -> StreamTransport | None:
        """The transport in use (``None`` before the first connection)."""
        return self._transport

    @property
    def downgrades(self) -> list[tuple[StreamTransport, StreamTransport, str]]:
        """The fallback steps taken: (from, to, reason), oldest first."""
        return list(self._downgrades)

    @property
    def last_event_id(self) -> str | None:
        """The id after which the stream resumes (the last event delivered, or the server's position).

        Events received but not yet handed out by iteration are not counted: a consumer that stops
        early and resumes from here sees them again."""
        return self._delivered if self._buffer else self.cursor.value

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._stop.is_set()

    def __repr__(self) -> str:
        return f"EventStream(topics={self.topics!r}, transport={self._transport}, last_event_id={self.last_event_id!r})"

    # ---------------------------------------------------------------- iterate

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> models.StreamEvent:
        while not self._buffer:
            if self._stop.is_set():
                raise StopAsyncIteration
            await self._receive()
        event = self._buffer.popleft()
        self._delivered = event.id
        return event

    async def __aenter__(self) -> EventStream:
        """Connect now (iteration connects otherwise), so events published from here on are seen."""
        if self._connection is None and not self._stop.is_set():
            await self._connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def publish(
        self,
        topic: str,
        data: Mapping[str, Any],
        *,
        type: str | None = None,
        idempotency_key: str | None = None,
    ) -> models.EventPublishAck:
        """Publish an event to ``topic``; see ``KeiAgentClient.publish_event``."""
        return await self._client.publish_event(topic, data, type=type, idempotency_key=idempotency_key)
