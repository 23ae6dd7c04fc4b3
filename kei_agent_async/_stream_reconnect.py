"""The reconnect state machine of event streams: connect down the transport ladder, resume.

A transport that is refused on connect moves the stream down the ladder (never up); a connection
lost after it worked is re-opened on the same transport with exponential backoff, resuming after
the last event id; replayed events are dropped. :class:`StreamMachine` holds that state; the
public :class:`~kei_agent_async.stream.EventStream` adds iteration and the user-facing API.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import httpx

from kei_agent._context import get_correlation_id, new_correlation_id
from kei_agent._contract.operations import OPERATIONS
from kei_agent._generated import models
from kei_agent._generated.types import UNSET
from kei_agent.errors import (
    APIConnectionError,
    APIStatusError,
    CircuitBreakerOpenError,
    ConfigurationError,
    FieldProblem,
    KeiSDKError,
    ProtocolError,
    status_error,
)
from kei_agent.logging._logger import base_logger
from kei_agent.messaging import EventCursor, encode_frame
from kei_agent.policies.transports import StreamTransport, TransportLadder

from ._backend import PolicyLock, Signal, interruptible
from ._protocols import protocol_state
from ._retrying import Retrying
from ._stream_base import (
    SSE_PATH,
    STREAM_EXTRA,
    WEBSOCKET_PATH,
    Connection,
    Disconnected,
    Unavailable,
    locate,
    missing_transports,
)
from ._stream_polling import PollingConnection
from ._stream_sse import ServerSentEventsConnection
from ._stream_websocket import WebSocketConnection

if TYPE_CHECKING:
    from .client import KeiAgentClient

__all__ = ["StreamMachine"]

_log = base_logger.bind(component="kei_agent.stream")
_TRANSIENT_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})


class StreamMachine:
    """Connection state of one event stream: transport choice, downgrades, reconnects, resume point."""

    def __init__(
        self,
        client: KeiAgentClient,
        topics: Sequence[str] | None = None,
        since: str | None = None,
        *,
        transport: StreamTransport | str | None = None,
        keepalive: float = 20.0,
        poll_wait: float = 10.0,
    ) -> None:
        """Prepare a stream (it connects on the first iteration); see ``KeiAgentClient.stream_events``."""
        if isinstance(topics, str):
            topics = [topics]
        self._client = client
        self._shared = client._shared
        self.topics: list[str] | None = list(topics) if topics else None
        self.cursor = EventCursor(since)
        self.keepalive = keepalive
        self.poll_wait = poll_wait
        self._requested = StreamTransport(transport) if transport is not None else None
        self._candidates: list[StreamTransport] | None = None
        self._transport: StreamTransport | None = None
        self._established: set[StreamTransport] = set()
        self._connection: Connection | None = None
        self._buffer: deque[models.StreamEvent] = deque()
        # The resume point as the user sees it: the last event handed out by iteration (the cursor
        # runs ahead of it while received events wait in the buffer).
        self._delivered: str | None = since
        self._downgrades: list[tuple[StreamTransport, StreamTransport, str]] = []
        self._stop = Signal()
        self._lock = PolicyLock()
        self._receiving = False
        self._failures = 0
        self._outage_started: float | None = None
        self._retrying = Retrying.of(client.config.retry, clock=self._shared.clock)  # reconnect backoff
        self.reconnects = 0
        self.duplicates_dropped = 0

    @property
    def http(self) -> Any:
        """The client's pooled HTTP client."""
        return self._shared.http

    async def close(self) -> None:
        """Close the stream and its connection; iteration ends. Idempotent, callable from any task."""
        with self._lock.held():
            first = not self._stop.is_set()
            self._stop.set()
            connection = self._connection
            receiving = self._receiving
            if not receiving:
                self._connection = None
        if first:
            protocol_state(self._shared).discard(self)
        if connection is None:
            return
        if receiving:
            await connection.abort()  # the reader closes it when it wakes up
        else:
            await connection.close()

    # --------------------------------------------------------------- internals

    async def _receive(self) -> None:
        if self._connection is None:
            await self._connect()
        with self._lock.held():
            connection = self._connection
            if connection is None or self._stop.is_set():
                return
            self._receiving = True
        try:
            frames = await interruptible(connection.receive, self._stop)
        except Disconnected as exc:
            await self._lost(connection, exc)
            return
        except (APIConnectionError, APIStatusError, CircuitBreakerOpenError) as exc:
            # A poll failed after the pipeline's retries: poll again after a pause (same cursor).
            if isinstance(exc, APIStatusError) and exc.status_code not in _TRANSIENT_STATUSES:
                raise
            await self._pause(exc)
            return
        finally:
            with self._lock.held():
                self._receiving = False
        if self._stop.is_set():
            with self._lock.held():
                self._connection = None
            await connection.close()
            return
        if frames is None:
            return
        self._failures = 0
        self._outage_started = None
        try:
            for frame in frames:
                await self._handle(connection, frame)
        except Disconnected as exc:  # answering a ping failed
            await self._lost(connection, exc)

    async def _handle(self, connection: Connection, frame: Mapping[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "event":
            raw = frame.get("event")
            event_id = str(raw.get("id", "")) if isinstance(raw, Mapping) else ""
            if not event_id:
                _log.debug("stream: ignoring an event without id")
                return
            before = self.cursor.value
            if not self.cursor.advance(event_id):
                self.duplicates_dropped += 1
                return
            try:
                event = models.StreamEvent.from_dict(dict(raw))  # type: ignore[arg-type]
                if not self._buffer:
                    self._delivered = before
                self._buffer.append(event)
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                _log.warning("stream: event {event_id} does not match the spec ({error})", event_id=event_id, error=exc)
        elif kind in ("subscribed", "position"):
            last = frame.get("last_event_id")
            self.cursor.position(str(last) if last is not None else "0")
        elif kind == "ping" and isinstance(connection, WebSocketConnection):
            await connection.send(encode_frame("pong", ts=frame.get("ts")))
        elif kind == "error":
            problem = frame.get("problem") if isinstance(frame.get("problem"), Mapping) else {}
            status = int(problem.get("status", 400)) if isinstance(problem, Mapping) else 400
            with self._lock.held():
                self._connection = None
            await connection.close()
            raise status_error(
                status,
                method="WEBSOCKET",
                url=WEBSOCKET_PATH,
                correlation_id=get_correlation_id(),
                problem=dict(problem) if isinstance(problem, Mapping) else None,
                body=json.dumps(dict(frame)).encode(),
            )

    async def _lost(self, connection: Connection, exc: Disconnected) -> None:
        with self._lock.held():
            self._connection = None
        await connection.close()
        if self._stop.is_set():
            return
        self.reconnects += 1
        _log.info(
            "stream: {transport} connection lost ({reason}); resuming after event {last}",
            transport=self._transport,
            reason=exc.reason,
            last=self.cursor.value,
        )
        await self._pause(exc)

    async def _pause(self, exc: Disconnected | KeiSDKError) -> None:
        """Back off before the next connection attempt; give up when the outage exceeds the deadline."""
        retry = self._client.config.retry
        now = self._shared.clock()
        if self._outage_started is None:
            self._outage_started = now
        elif now - self._outage_started > retry.deadline:
            reason = exc.reason if isinstance(exc, Disconnected) else str(exc)
            raise APIConnectionError(
                f"event stream: no connection for {retry.deadline:g} s ({reason})",
                method="GET",
                url=WEBSOCKET_PATH if self._transport is StreamTransport.WEBSOCKET else SSE_PATH,
                correlation_id=get_correlation_id(),
            ) from exc
        self._failures += 1
        retry_after = exc.retry_after if isinstance(exc, Disconnected) else None
        delay = self._retrying.reconnect_delay(self._failures, retry_after)
        await self._stop.wait(delay)

    def _ladder(self) -> TransportLadder:
        return protocol_state(self._shared).ladder

    async def _connect(self) -> None:
        ladder = self._ladder()
        if self._candidates is None:
            with self._shared.lock.held():
                self._shared.router.candidates("streamEvents")  # ProtocolError when stream is disabled
            missing = missing_transports()
            if self._requested is not None and self._requested in missing:
                raise ConfigurationError(
                    [
                        FieldProblem(
                            "transport", f"the {self._requested} transport needs the stream extra: {STREAM_EXTRA}"
                        )
                    ]
                )
            for absent in sorted(missing):
                _log.warning(
                    "stream: {transport} is not available without the stream extra ({extra})",
                    transport=absent,
                    extra=STREAM_EXTRA,
                )
            with self._shared.lock.held():
                self._candidates = ladder.candidates(self._requested, missing)
            self._transport = self._candidates[0]
            protocol_state(self._shared).add(self)
        while not self._stop.is_set():
            transport = self._transport
            assert transport is not None
            try:
                connection = await interruptible(functools.partial(self._open, transport), self._stop)
            except Unavailable as exc:
                if exc.connection_refused and transport in self._established:
                    await self._pause(Disconnected(exc.reason))  # it worked before: an outage
                    continue
                following = ladder.next_after(transport, self._candidates)
                if following is None:
                    if transport in self._established:
                        await self._pause(Disconnected(exc.reason))
                        continue
                    raise ProtocolError(
                        f"event stream: {transport} is unavailable ({exc.reason}) and no fallback is left"
                    ) from exc
                self._downgrade(transport, following, exc.reason)
                continue
            except Disconnected as exc:
                await self._pause(exc)
                continue
            except (APIConnectionError, APIStatusError, CircuitBreakerOpenError) as exc:
                # Polling goes through the pipeline: transport-level failures are retried here.
                if isinstance(exc, APIStatusError) and exc.status_code not in _TRANSIENT_STATUSES:
                    raise
                if isinstance(exc, APIConnectionError) and not exc.transient:
                    raise  # a TLS certificate that does not verify: waiting cannot help
                await self._pause(exc)
                continue
            if connection is None:
                return
            with self._lock.held():
                if self._stop.is_set():
                    stale: Connection | None = connection
                else:
                    stale = None
                    self._connection = connection
            if stale is not None:
                await stale.close()
                return
            self._established.add(transport)
            return

    def _downgrade(self, from_transport: StreamTransport, to_transport: StreamTransport, reason: str) -> None:
        self._downgrades.append((from_transport, to_transport, reason))
        self._transport = to_transport
        self._failures = 0
        with self._shared.lock.held():
            logged = self._ladder().record_downgrade(from_transport, to_transport, reason)
        if not logged:
            _log.debug(
                "stream: {old} unavailable ({reason}), using {new}", old=from_transport, new=to_transport, reason=reason
            )

    async def _open(self, transport: StreamTransport) -> Connection:
        if transport is StreamTransport.POLLING:
            return await PollingConnection.open(self)
        correlation_id = get_correlation_id() or new_correlation_id()
        headers = self._client._pipeline._headers(OPERATIONS["streamEvents"], correlation_id, None)
        pipeline_auth = self._client._pipeline._auth
        auth: Any = pipeline_auth if pipeline_auth is not None else httpx.USE_CLIENT_DEFAULT
        base = self._client._pipeline.options.timeout
        timeout = httpx.Timeout(connect=base.connect, read=2.0 * self.keepalive + 5.0, write=base.write, pool=base.pool)
        if transport is StreamTransport.SSE:
            return await ServerSentEventsConnection.open(self, headers, auth, timeout)
        # Pin "from now on" to the server's position first: the subscribe frame then resumes from it,
        # so an event published while the frame is on its way is not lost (as SSE and polling do).
        try:
            await locate(self)
        except APIConnectionError as exc:
            if exc.transient:
                raise
            raise Unavailable(str(exc)) from exc
        websocket = await WebSocketConnection.open(self, headers, auth, timeout)
        try:
            await websocket.send(
                encode_frame("subscribe", id=uuid.uuid4().hex, topics=self.topics or [], since=self.cursor.value)
            )
        except Disconnected:
            await websocket.close()
            raise
        return websocket

    async def poll_page(self, arguments: Mapping[str, Any]) -> models.EventPage:
        """One ``pollEvents`` call (the polling transport)."""
        page: models.EventPage = await self._client._pipeline.call("pollEvents", {"since": UNSET, **arguments})
        return page
