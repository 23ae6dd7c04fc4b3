"""The WebSocket transport of event streams: ``/api/v1/stream`` with the spec's frames, by httpx-ws.

The upgrade request is sent by the client's own pooled ``httpx`` client (same auth flow, TLS
settings, proxies and headers as every call), so a refusal (401, 404, a proxy without ``101``)
is judged like any other answer; the upgraded connection is then driven by httpx-ws
(``AsyncWebSocketSession``: framing, fragmentation, ping/pong, close handshake). Keep-alive:
httpx-ws pings every ``keepalive`` seconds and reports the connection lost when no pong comes
within another ``keepalive`` seconds. The session lives in a worker of its own (its background
tasks must be entered and left by one task), which :meth:`WebSocketConnection.close` stops.
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from kei_agent.logging._logger import base_logger
from kei_agent.messaging import decode_frame

from ._backend import Signal, Worker, abort_stream, receive_websocket_event, spawn
from ._stream_base import SUBPROTOCOL, WEBSOCKET_PATH, Disconnected, Unavailable, refusal

if TYPE_CHECKING:
    from ._stream_reconnect import StreamMachine

__all__ = ["WebSocketConnection"]

_log = base_logger.bind(component="kei_agent.stream")


class WebSocketConnection:
    """One upgraded connection speaking the spec's frames (an httpx-ws session on the pooled connection)."""

    def __init__(self, response: httpx.Response, session: Any, ping_timeout: float) -> None:
        self._response = response
        self._session = session
        self._ping_timeout = ping_timeout
        self._stream: Any = response.extensions["network_stream"]
        self._done = Signal()
        self._worker: Worker | None = None
        self._closed = False

    @classmethod
    async def open(
        cls, stream: StreamMachine, headers: dict[str, str], auth: Any, timeout: httpx.Timeout
    ) -> WebSocketConnection:
        from httpx_ws import AsyncWebSocketSession
        from wsproto.utilities import generate_accept_token

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
            raise Unavailable(f"connection refused: {exc}", connection_refused=True) from exc
        except httpx.TransportError as exc:
            raise Disconnected(f"upgrade failed: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 101:
            raise await refusal(response, "GET", WEBSOCKET_PATH)
        if response.headers.get("Sec-WebSocket-Accept", "").encode() != generate_accept_token(key.encode()):
            await response.aclose()
            raise Unavailable("the upgrade answer has a wrong Sec-WebSocket-Accept")
        session = AsyncWebSocketSession(
            response.extensions["network_stream"],
            keepalive_ping_interval_seconds=stream.keepalive,
            keepalive_ping_timeout_seconds=stream.keepalive,
            response=response,
        )
        connection = cls(response, session, stream.keepalive)
        await connection._start()
        return connection

    async def _start(self) -> None:
        entered = Signal()

        async def hold() -> None:
            try:
                async with self._session:
                    entered.set()
                    await self._done.wait()
            finally:
                entered.set()

        self._worker = spawn(hold, "kei-agent-websocket")
        await entered.wait()

    async def send(self, text: str) -> None:
        """Send one text frame."""
        try:
            await self._session.send_text(text)
        except Exception as exc:  # httpcore's network errors or a closing session: the connection is gone
            raise Disconnected(f"write failed: {type(exc).__name__}") from exc

    async def receive(self) -> list[Mapping[str, Any]]:
        """The next frame (binary messages are ignored); ``Disconnected`` when the connection is gone."""
        from httpx_ws import WebSocketDisconnect, WebSocketNetworkError
        from wsproto.events import TextMessage

        while True:
            try:
                event = await receive_websocket_event(self._session, self._done)
            except WebSocketDisconnect:
                raise Disconnected("closed by the server") from None
            except WebSocketNetworkError:
                raise Disconnected(
                    f"connection lost (or no answer to a keep-alive ping within {self._ping_timeout:g} s)"
                ) from None
            except Exception as exc:  # the session's queue closed under us: closed locally
                raise Disconnected(f"read failed: {type(exc).__name__}") from exc
            if not isinstance(event, TextMessage):
                continue
            frame = decode_frame(event.data)
            if frame is None:
                _log.debug("stream: ignoring a frame that is not a JSON object: {text!r}", text=event.data[:200])
                continue
            return [frame]

    async def close(self) -> None:
        """Close politely (a close frame), then cut the connection and stop the session.

        The connection is shut down before the session's reader is joined: a peer that is gone
        never answers the close frame, and a blocking read would wait for it forever.
        """
        if self._closed:
            return
        self._closed = True
        from wsproto.events import CloseConnection

        with contextlib.suppress(Exception):
            await self._session.send(CloseConnection(code=1000))
        await abort_stream(self._stream)
        self._done.set()
        if self._worker is not None:
            with contextlib.suppress(Exception):
                await self._worker.join()
        with contextlib.suppress(Exception):
            await self._response.aclose()

    async def abort(self) -> None:
        """Cut the connection (from another task or thread); the reader sees it closed."""
        await abort_stream(self._stream)
        self._done.set()
