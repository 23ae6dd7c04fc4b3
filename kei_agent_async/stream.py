"""Event streams: WebSocket, then Server-Sent Events, then polling - resumed without gap or duplicate.

:class:`EventStream` (from ``client.stream_events(...)``) iterates over the spec's ``StreamEvent``
models. It connects with the best transport the server offers (:class:`StreamTransport`):

* **WebSocket** on ``/api/v1/stream`` (subprotocol ``kei.stream.v1``, the frames of the spec's
  ``x-kei-websocket``). The upgrade request goes through the client's connection pool with the
  same auth, TLS settings and headers (``X-Agent-ID``, ``X-Correlation-ID``, ``X-Tenant-ID``,
  ``User-Agent``) as every HTTP call. Keep-alive: the server's ``ping`` frames are answered with
  ``pong``; after ``keepalive`` idle seconds the client sends a WebSocket ping and treats the
  connection as dead when nothing arrives for another ``keepalive`` seconds.
* **Server-Sent Events** on ``GET /api/v1/stream/events`` with ``Last-Event-ID`` when the upgrade
  is refused (a proxy answering without ``101``, the route disabled, 5xx, connection refused).
* **Polling** (``GET /api/v1/stream/poll``, long-poll) as the last resort.

A transport that is refused on connect moves the stream down the ladder (never up); the step is
visible in :attr:`EventStream.downgrades` and logged once per cool-down
(``ProtocolConfig.fallback_cooldown_seconds``). A connection lost after it worked is re-opened on
the same transport with exponential backoff, resuming after the last event id (the
:class:`~kei_agent.messaging.EventCursor`): replayed events are dropped, so the consumer sees
each event once and in order.

WebSocket needs the ``wsproto`` package and SSE the ``httpx-sse`` package - the ``stream`` extra
(``pip install "kei-agent-py-sdk[stream]"``). Without them the stream uses the transports that
remain (polling needs nothing); asking for a missing one explicitly raises ``ConfigurationError``.

Written once for both flavours: the blocking twin of this module is generated from it.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import importlib.util
import json
import os
import uuid
from collections import deque
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import httpcore
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
from kei_agent.messaging import EventCursor, backoff_delay, decode_frame, encode_frame, topics_param
from kei_agent.policies.transports import StreamTransport, TransportLadder

from ._backend import PolicyLock, Signal, abort_stream, interruptible
from ._protocols import protocol_state

if TYPE_CHECKING:
    from .client import KeiAgentClient

__all__ = ["STREAM_EXTRA", "EventStream", "missing_transports"]

_log = base_logger.bind(component="kei_agent.stream")

WEBSOCKET_PATH: Final = "/api/v1/stream"
SSE_PATH: Final = "/api/v1/stream/events"
SUBPROTOCOL: Final = "kei.stream.v1"
STREAM_EXTRA: Final = 'pip install "kei-agent-py-sdk[stream]"'
#: A topic no event has: a poll for it answers at once with the server's newest event id.
_POSITION_PROBE: Final = "kei-sdk.position-probe"
_FATAL_STATUSES: Final = frozenset({400, 401, 403, 422})
_TRANSIENT_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
_MAX_READ: Final = 65536


def missing_transports() -> frozenset[StreamTransport]:
    """Transports whose optional package (the ``stream`` extra) is not installed."""
    missing = set()
    if importlib.util.find_spec("wsproto") is None:
        missing.add(StreamTransport.WEBSOCKET)
    if importlib.util.find_spec("httpx_sse") is None:
        missing.add(StreamTransport.SSE)
    return frozenset(missing)


class _Unavailable(Exception):
    """The transport is not offered here (refused upgrade, not an event stream, refused connection)."""

    def __init__(self, reason: str, *, connection_refused: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.connection_refused = connection_refused


class _Disconnected(Exception):
    """An open connection was lost (or could not be re-opened for a transient reason)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def _problem(body: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


async def _refusal(response: httpx.Response, method: str, url: str) -> Exception:
    """What a non-successful answer to a stream request means: fatal, transient or unavailable."""
    try:
        body = await response.aread()
    except httpx.HTTPError:
        body = b""
    finally:
        await response.aclose()
    status = response.status_code
    retry_after = None
    raw = response.headers.get("Retry-After", "")
    if raw.isdigit():
        retry_after = float(raw)
    if status in _FATAL_STATUSES:
        return status_error(
            status,
            method=method,
            url=url,
            request_id=response.headers.get("X-Request-ID"),
            correlation_id=response.headers.get("X-Correlation-ID"),
            problem=_problem(body),
            body=body,
            retry_after=retry_after,
        )
    if status in (408, 429):
        return _Disconnected(f"{method} {url} answered {status}", retry_after)
    return _Unavailable(f"{method} {url} answered {status}")


class _WebSocket:
    """One upgraded connection speaking the spec's frames (wsproto over the pooled connection)."""

    def __init__(self, response: httpx.Response, keepalive: float) -> None:
        import wsproto
        import wsproto.connection

        self._response = response
        self._stream: Any = response.extensions["network_stream"]
        self._connection = wsproto.connection.Connection(wsproto.ConnectionType.CLIENT)
        self._keepalive = keepalive
        self._partial: list[str] = []
        self._pinged = False
        self._closing = False
        self._closed = False

    @classmethod
    async def open(cls, stream: EventStream, headers: dict[str, str], auth: Any, timeout: httpx.Timeout) -> _WebSocket:
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        headers.update(
            {
                "Connection": "Upgrade",
                "Upgrade": "websocket",
                "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Key": key,
                "Sec-WebSocket-Protocol": SUBPROTOCOL,
            }
        )
        http = stream.http
        request = http.build_request("GET", WEBSOCKET_PATH, headers=headers, timeout=timeout)
        try:
            response = await http.send(request, auth=auth, stream=True)
        except httpx.ConnectError as exc:
            raise _Unavailable(f"connection refused: {exc}", connection_refused=True) from exc
        except httpx.TransportError as exc:
            raise _Disconnected(f"upgrade failed: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 101:
            raise await _refusal(response, "GET", WEBSOCKET_PATH)
        from wsproto.utilities import generate_accept_token

        if response.headers.get("Sec-WebSocket-Accept", "").encode() != generate_accept_token(key.encode()):
            await response.aclose()
            raise _Unavailable("the upgrade answer has a wrong Sec-WebSocket-Accept")
        return cls(response, stream.keepalive)

    async def _write(self, data: bytes) -> None:
        try:
            await self._stream.write(data, timeout=self._keepalive)
        except (httpcore.NetworkError, httpcore.TimeoutException, OSError) as exc:
            raise _Disconnected(f"write failed: {type(exc).__name__}") from exc

    async def send(self, text: str) -> None:
        """Send one text frame."""
        from wsproto.events import TextMessage

        await self._write(self._connection.send(TextMessage(data=text)))

    async def receive(self) -> list[Mapping[str, Any]]:
        """The next frames (at least one); ``_Disconnected`` when the connection is gone."""
        from wsproto.events import CloseConnection, Ping, TextMessage

        while True:
            if self._closing:
                raise _Disconnected("closed by the server")
            try:
                data = await self._stream.read(_MAX_READ, timeout=self._keepalive)
            except httpcore.ReadTimeout:
                if self._pinged:
                    raise _Disconnected(f"no answer to a keep-alive ping within {self._keepalive:g} s") from None
                from wsproto.events import Ping as PingEvent

                await self._write(self._connection.send(PingEvent(payload=b"kei")))
                self._pinged = True
                continue
            except (httpcore.NetworkError, httpcore.TimeoutException, OSError) as exc:
                raise _Disconnected(f"read failed: {type(exc).__name__}") from exc
            if not data:
                raise _Disconnected("connection closed")
            self._pinged = False
            try:
                self._connection.receive_data(data)
            except Exception as exc:  # wsproto: a protocol violation by the peer
                raise _Disconnected(f"invalid WebSocket data: {exc}") from exc
            frames: list[Mapping[str, Any]] = []
            for event in self._connection.events():
                if isinstance(event, Ping):
                    await self._write(self._connection.send(event.response()))
                elif isinstance(event, TextMessage):
                    self._partial.append(event.data)
                    if event.message_finished:
                        text, self._partial = "".join(self._partial), []
                        frame = decode_frame(text)
                        if frame is None:
                            _log.debug("stream: ignoring a frame that is not a JSON object: {text!r}", text=text[:200])
                        else:
                            frames.append(frame)
                elif isinstance(event, CloseConnection):
                    self._closing = True
                    with contextlib.suppress(Exception):
                        await self._write(self._connection.send(event.response()))
            if frames:
                return frames

    async def close(self) -> None:
        """Close politely (close frame), then the connection."""
        if self._closed:
            return
        self._closed = True
        from wsproto.connection import ConnectionState
        from wsproto.events import CloseConnection

        if self._connection.state is ConnectionState.OPEN:
            with contextlib.suppress(Exception):
                await self._stream.write(self._connection.send(CloseConnection(code=1000)), timeout=1.0)
        await abort_stream(self._stream)
        with contextlib.suppress(Exception):
            await self._response.aclose()

    async def abort(self) -> None:
        """Cut the connection (from another task or thread); the reader sees it closed."""
        await abort_stream(self._stream)


async def _locate(stream: EventStream) -> None:
    """Give a stream without a resume point the server's position, so it starts live and a later
    reconnect resumes from there (a poll of a topic without events answers with the newest id)."""
    if stream.cursor.value is not None:
        return
    page = await stream.poll_page({"topics": _POSITION_PROBE, "limit": 1, "wait_seconds": 0.0})
    last = page.last_event_id if isinstance(page.last_event_id, str) else None
    stream.cursor.position(last or "0")


class _ServerSentEvents:
    """One open ``text/event-stream`` response."""

    def __init__(self, response: httpx.Response) -> None:
        from httpx_sse import EventSource

        self._response = response
        self._events: Any = EventSource(response).aiter_sse()  # a generator: closed by close()
        self._closed = False

    @classmethod
    async def open(
        cls, stream: EventStream, headers: dict[str, str], auth: Any, timeout: httpx.Timeout
    ) -> _ServerSentEvents:
        await _locate(stream)
        headers.update({"Accept": "text/event-stream", "Cache-Control": "no-cache"})
        if stream.cursor.value is not None:
            headers["Last-Event-ID"] = stream.cursor.value
        params = {}
        topics = topics_param(stream.topics)
        if topics is not None:
            params["topics"] = topics
        http = stream.http
        request = http.build_request("GET", SSE_PATH, headers=headers, params=params, timeout=timeout)
        try:
            response = await http.send(request, auth=auth, stream=True)
        except httpx.ConnectError as exc:
            raise _Unavailable(f"connection refused: {exc}", connection_refused=True) from exc
        except httpx.TransportError as exc:
            raise _Disconnected(f"request failed: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise await _refusal(response, "GET", SSE_PATH)
        content_type = response.headers.get("content-type", "").partition(";")[0].strip()
        if content_type != "text/event-stream":
            await response.aclose()
            raise _Unavailable(f"GET {SSE_PATH} answered {content_type or 'no content type'}, not an event stream")
        return cls(response)

    async def receive(self) -> list[Mapping[str, Any]]:
        """The next record as an ``event`` frame, or a position (an ``id:`` without data)."""
        from httpx_sse import SSEError

        try:
            record = await self._events.__anext__()
        except StopAsyncIteration:
            raise _Disconnected("the server ended the event stream") from None
        except (httpx.TransportError, SSEError) as exc:
            raise _Disconnected(f"read failed: {type(exc).__name__}") from exc
        if not record.data:
            return [{"type": "position", "last_event_id": record.id or None}]
        try:
            event = json.loads(record.data)
        except ValueError:
            _log.debug("stream: ignoring an SSE record that is not JSON: {data!r}", data=record.data[:200])
            return []
        return [{"type": "event", "event": event}]

    async def close(self) -> None:
        """Close the response (and the generator reading it)."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            await self._events.aclose()
        with contextlib.suppress(Exception):
            await self._response.aclose()

    async def abort(self) -> None:
        """Cut the connection (from another task or thread); the reader sees it closed."""
        stream = self._response.extensions.get("network_stream")
        if stream is not None:
            await abort_stream(stream)


class _Polling:
    """Long-polls ``GET /api/v1/stream/poll`` through the pipeline (retries, breaker, headers)."""

    def __init__(self, stream: EventStream) -> None:
        self._stream = stream

    @classmethod
    async def open(cls, stream: EventStream) -> _Polling:
        await _locate(stream)
        return cls(stream)

    async def receive(self) -> list[Mapping[str, Any]]:
        """The events of one long poll (possibly none)."""
        stream = self._stream
        arguments: dict[str, Any] = {"limit": 100, "wait_seconds": stream.poll_wait}
        topics = topics_param(stream.topics)
        if topics is not None:
            arguments["topics"] = topics
        if stream.cursor.value is not None:
            arguments["since"] = stream.cursor.value
        page = await stream.poll_page(arguments)
        frames: list[Mapping[str, Any]] = [{"type": "event", "event": event.to_dict()} for event in page.events]
        if isinstance(page.last_event_id, str):
            frames.append({"type": "position", "last_event_id": page.last_event_id})
        return frames

    async def close(self) -> None:
        """Nothing to close: each poll is one pipeline call."""

    async def abort(self) -> None:
        """Nothing to cut: the stop signal interrupts a poll in progress."""


_Connection = _WebSocket | _ServerSentEvents | _Polling


class EventStream:
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
        self._connection: _Connection | None = None
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
        self.reconnects = 0
        self.duplicates_dropped = 0

    # ------------------------------------------------------------------ state

    @property
    def http(self) -> Any:
        """The client's pooled HTTP client."""
        return self._shared.http

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
        except _Disconnected as exc:
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
        except _Disconnected as exc:  # answering a ping failed
            await self._lost(connection, exc)

    async def _handle(self, connection: _Connection, frame: Mapping[str, Any]) -> None:
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
        elif kind == "ping" and isinstance(connection, _WebSocket):
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

    async def _lost(self, connection: _Connection, exc: _Disconnected) -> None:
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

    async def _pause(self, exc: _Disconnected | KeiSDKError) -> None:
        """Back off before the next connection attempt; give up when the outage exceeds the deadline."""
        retry = self._client.config.retry
        now = self._shared.clock()
        if self._outage_started is None:
            self._outage_started = now
        elif now - self._outage_started > retry.deadline:
            reason = exc.reason if isinstance(exc, _Disconnected) else str(exc)
            raise APIConnectionError(
                f"event stream: no connection for {retry.deadline:g} s ({reason})",
                method="GET",
                url=WEBSOCKET_PATH if self._transport is StreamTransport.WEBSOCKET else SSE_PATH,
                correlation_id=get_correlation_id(),
            ) from exc
        self._failures += 1
        delay = backoff_delay(self._failures, retry.base_delay, retry.max_delay)
        retry_after = exc.retry_after if isinstance(exc, _Disconnected) else None
        if retry_after is not None:
            delay = max(delay, min(retry_after, retry.retry_after_max))
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
            except _Unavailable as exc:
                if exc.connection_refused and transport in self._established:
                    await self._pause(_Disconnected(exc.reason))  # it worked before: an outage
                    continue
                following = ladder.next_after(transport, self._candidates)
                if following is None:
                    if transport in self._established:
                        await self._pause(_Disconnected(exc.reason))
                        continue
                    raise ProtocolError(
                        f"event stream: {transport} is unavailable ({exc.reason}) and no fallback is left"
                    ) from exc
                self._downgrade(transport, following, exc.reason)
                continue
            except _Disconnected as exc:
                await self._pause(exc)
                continue
            except (APIConnectionError, APIStatusError, CircuitBreakerOpenError) as exc:
                # Polling goes through the pipeline: transport-level failures are retried here.
                if isinstance(exc, APIStatusError) and exc.status_code not in _TRANSIENT_STATUSES:
                    raise
                await self._pause(exc)
                continue
            if connection is None:
                return
            with self._lock.held():
                if self._stop.is_set():
                    stale: _Connection | None = connection
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

    async def _open(self, transport: StreamTransport) -> _Connection:
        if transport is StreamTransport.POLLING:
            return await _Polling.open(self)
        correlation_id = get_correlation_id() or new_correlation_id()
        headers = self._client._pipeline._headers(OPERATIONS["streamEvents"], correlation_id, None)
        pipeline_auth = self._client._pipeline._auth
        auth: Any = pipeline_auth if pipeline_auth is not None else httpx.USE_CLIENT_DEFAULT
        base = self._client._pipeline.options.timeout
        timeout = httpx.Timeout(connect=base.connect, read=2.0 * self.keepalive + 5.0, write=base.write, pool=base.pool)
        if transport is StreamTransport.SSE:
            return await _ServerSentEvents.open(self, headers, auth, timeout)
        websocket = await _WebSocket.open(self, headers, auth, timeout)
        try:
            await websocket.send(
                encode_frame("subscribe", id=uuid.uuid4().hex, topics=self.topics or [], since=self.cursor.value)
            )
        except _Disconnected:
            await websocket.close()
            raise
        return websocket

    async def poll_page(self, arguments: Mapping[str, Any]) -> models.EventPage:
        """One ``pollEvents`` call (the polling transport)."""
        page: models.EventPage = await self._client._pipeline.call("pollEvents", {"since": UNSET, **arguments})
        return page
