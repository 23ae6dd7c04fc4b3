"""The Server-Sent Events transport of event streams: ``GET /api/v1/stream/events``."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from kei_agent.logging._logger import base_logger
from kei_agent.messaging import topics_param

from ._backend import abort_stream
from ._stream_base import SSE_PATH, Disconnected, Unavailable, locate, refusal

if TYPE_CHECKING:
    from ._stream_reconnect import StreamMachine

__all__ = ["MAX_SSE_LINE", "ServerSentEventsConnection"]

#: The longest event-stream line accepted (bytes); a longer one ends the connection, so a peer
#: that never sends a newline cannot grow the client's memory without bound.
MAX_SSE_LINE = 1024 * 1024


class _LineBoundStream(httpx.AsyncByteStream):
    """The response body, failing once a line grows beyond ``limit`` bytes."""

    def __init__(self, inner: Any, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    async def __aiter__(self) -> Any:
        pending = 0
        async for chunk in self._inner:
            newline = chunk.rfind(b"\n")
            pending = len(chunk) - newline - 1 if newline >= 0 else pending + len(chunk)
            if pending > self._limit:
                raise httpx.RemoteProtocolError(f"an event-stream line exceeds {self._limit} bytes")
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


_log = base_logger.bind(component="kei_agent.stream")


class ServerSentEventsConnection:
    """One open ``text/event-stream`` response."""

    def __init__(self, response: httpx.Response) -> None:
        from httpx_sse import EventSource

        response.stream = _LineBoundStream(response.stream, MAX_SSE_LINE)
        self._response = response
        self._events: Any = EventSource(response).aiter_sse()  # a generator: closed by close()
        self._closed = False

    @classmethod
    async def open(
        cls, stream: StreamMachine, headers: dict[str, str], auth: Any, timeout: httpx.Timeout
    ) -> ServerSentEventsConnection:
        await locate(stream)
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
            raise Unavailable(f"connection refused: {exc}", connection_refused=True) from exc
        except httpx.TransportError as exc:
            raise Disconnected(f"request failed: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise await refusal(response, "GET", SSE_PATH)
        content_type = response.headers.get("content-type", "").partition(";")[0].strip()
        if content_type != "text/event-stream":
            await response.aclose()
            raise Unavailable(f"GET {SSE_PATH} answered {content_type or 'no content type'}, not an event stream")
        return cls(response)

    async def receive(self) -> list[Mapping[str, Any]]:
        """The next record as an ``event`` frame, or a position (an ``id:`` without data)."""
        from httpx_sse import SSEError

        try:
            record = await self._events.__anext__()
        except StopAsyncIteration:
            raise Disconnected("the server ended the event stream") from None
        except (httpx.TransportError, SSEError) as exc:
            raise Disconnected(f"read failed: {type(exc).__name__}: {exc}".rstrip(": ")) from exc
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
