"""The WebSocket transport of event streams: ``/api/v1/stream`` with the spec's frames."""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import httpcore
import httpx

from kei_agent.logging._logger import base_logger
from kei_agent.messaging import decode_frame

from ._backend import abort_stream
from ._stream_base import SUBPROTOCOL, WEBSOCKET_PATH, Disconnected, Unavailable, refusal

if TYPE_CHECKING:
    from ._stream_reconnect import StreamMachine

__all__ = ["WebSocketConnection"]

_log = base_logger.bind(component="kei_agent.stream")
_MAX_READ: Final = 65536


class WebSocketConnection:
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
    async def open(
        cls, stream: StreamMachine, headers: dict[str, str], auth: Any, timeout: httpx.Timeout
    ) -> WebSocketConnection:
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
        from wsproto.utilities import generate_accept_token

        if response.headers.get("Sec-WebSocket-Accept", "").encode() != generate_accept_token(key.encode()):
            await response.aclose()
            raise Unavailable("the upgrade answer has a wrong Sec-WebSocket-Accept")
        return cls(response, stream.keepalive)

    async def _write(self, data: bytes) -> None:
        try:
            await self._stream.write(data, timeout=self._keepalive)
        except (httpcore.NetworkError, httpcore.TimeoutException, OSError) as exc:
            raise Disconnected(f"write failed: {type(exc).__name__}") from exc

    async def send(self, text: str) -> None:
        """Send one text frame."""
        from wsproto.events import TextMessage

        await self._write(self._connection.send(TextMessage(data=text)))

    async def receive(self) -> list[Mapping[str, Any]]:
        """The next frames (at least one); ``Disconnected`` when the connection is gone."""
        from wsproto.events import CloseConnection, Ping, TextMessage

        while True:
            if self._closing:
                raise Disconnected("closed by the server")
            try:
                data = await self._stream.read(_MAX_READ, timeout=self._keepalive)
            except httpcore.ReadTimeout:
                if self._pinged:
                    raise Disconnected(f"no answer to a keep-alive ping within {self._keepalive:g} s") from None
                from wsproto.events import Ping as PingEvent

                await self._write(self._connection.send(PingEvent(payload=b"kei")))
                self._pinged = True
                continue
            except (httpcore.NetworkError, httpcore.TimeoutException, OSError) as exc:
                raise Disconnected(f"read failed: {type(exc).__name__}") from exc
            if not data:
                raise Disconnected("connection closed")
            self._pinged = False
            try:
                self._connection.receive_data(data)
            except Exception as exc:  # wsproto: a protocol violation by the peer
                raise Disconnected(f"invalid WebSocket data: {exc}") from exc
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
