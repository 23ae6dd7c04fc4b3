"""The aiohttp connection pool under the httpx API (the ``aiohttp`` extra; async flavour only).

``httpx-aiohttp``'s :class:`AiohttpTransport` sends httpx requests through an ``aiohttp``
session. This module configures that session the way the httpx transport is configured and
wraps the transport so errors have the httpx types (and meanings) the pipeline relies on:

* one ``ssl.SSLContext`` (CA bundle, client certificate) for the pool, built by ``_tls``;
* ``max_connections`` bounds the pool, ``keepalive_expiry`` closes idle connections,
  ``max_keepalive_connections=0`` or ``keepalive_expiry=0`` disables reuse (aiohttp has no cap on
  the number of idle connections: any other value keeps up to ``max_connections`` idle ones);
* cookies stay httpx's business (the session's cookie jar is a no-op) and environment proxies
  are resolved by ``_transport``, which gives each proxy its own transport (httpx ``mounts=``);
* aiohttp's exceptions become httpx's: a connect timeout is ``httpx.ConnectTimeout`` (the request
  was not sent), a read timeout ``httpx.ReadTimeout``, a refused connection or failed TLS
  handshake ``httpx.ConnectError``, a peer that hung up ``httpx.RemoteProtocolError`` — the
  httpx-aiohttp 0.2 mapping turns every ``ClientConnectionError`` into ``ConnectTimeout``, which
  would let a request that may have executed be re-sent without an idempotency key;
* WebSocket upgrades go through httpx's own transport (see :class:`_AiohttpTransport`).

This file is not rewritten into the sync flavour (``generator/sync_twin.py``): the sync client
always uses httpx's own transport.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Callable

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

__all__ = ["aiohttp_transport"]

#: (aiohttp exception, httpx exception, message when aiohttp's is empty); the first match wins.
_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError], str], ...] = (
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout, "timed out while connecting"),
    (aiohttp.SocketTimeoutError, httpx.ReadTimeout, "timed out while reading"),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout, "timed out"),
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError, "cannot connect to the proxy"),
    (aiohttp.ClientHttpProxyError, httpx.ProxyError, "the proxy refused the tunnel"),
    (aiohttp.ClientConnectorError, httpx.ConnectError, "cannot connect"),
    (aiohttp.ServerFingerprintMismatch, httpx.ConnectError, "certificate fingerprint mismatch"),
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError, "Server disconnected without sending a response."),
    (aiohttp.ClientPayloadError, httpx.RemoteProtocolError, "peer closed connection without sending complete body"),
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError, "malformed response"),
    (aiohttp.InvalidURL, httpx.UnsupportedProtocol, "invalid URL"),
    (aiohttp.NonHttpUrlClientError, httpx.UnsupportedProtocol, "not an http(s) URL"),
    (aiohttp.ClientOSError, httpx.ReadError, "connection error"),
    (aiohttp.ClientError, httpx.ReadError, "connection error"),
    (TimeoutError, httpx.ReadTimeout, "timed out"),
)


def _origin(exc: BaseException) -> BaseException:
    """The aiohttp exception behind ``exc`` (httpx-aiohttp raises its own mapping ``from`` it)."""
    cause = exc.__cause__
    if isinstance(exc, httpx.TransportError) and isinstance(cause, aiohttp.ClientError | TimeoutError):
        return cause
    return exc


def _translate(exc: BaseException, request: httpx.Request) -> httpx.TransportError | None:
    """``exc`` as the httpx error the httpcore transport raises in the same situation, or ``None``."""
    origin = _origin(exc)
    for source, target, fallback in _ERRORS:
        if isinstance(origin, source):
            if isinstance(origin, aiohttp.ServerDisconnectedError):
                message = fallback  # httpcore's words: TLSDiagnosticsTransport recognises them
            else:
                message = str(origin).strip() or fallback
            if isinstance(origin, aiohttp.ClientConnectorError) and isinstance(origin.os_error, ssl.SSLError):
                message = f"{message} ({origin.os_error})"
            return target(message, request=request)
    return None


class _Body(httpx.AsyncByteStream):
    """The response body, with errors translated while it is read."""

    def __init__(self, inner: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._inner = inner
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except (httpx.TransportError, aiohttp.ClientError, TimeoutError) as exc:
            translated = _translate(exc, self._request)
            if translated is None:
                raise
            raise translated from _origin(exc)

    async def aclose(self) -> None:
        # Releasing a connection that broke: it is discarded either way.
        with contextlib.suppress(httpx.TransportError, aiohttp.ClientError, TimeoutError, OSError):
            await self._inner.aclose()


def _is_upgrade(request: httpx.Request) -> bool:
    # A WebSocket upgrade is a GET; the method test spares the header lookup on every other call.
    return request.method == "GET" and str(request.headers.get("upgrade", "")).lower() == "websocket"


class _AiohttpTransport(httpx.AsyncBaseTransport):
    """httpx-aiohttp's transport with httpx's error types (see the module docstring).

    WebSocket upgrades go to httpx's own transport (same TLS context and proxy), created on the
    first upgrade: the event stream's WebSocket (wsproto, or httpx-ws) speaks over the upgraded
    connection that httpcore hands out as the ``network_stream`` response extension, which
    httpx-aiohttp does not offer. A WebSocket is one long-lived connection per stream, so the
    per-request pool cost that aiohttp saves does not arise there.
    """

    def __init__(self, inner: AiohttpTransport, upgrades: Callable[[], httpx.AsyncBaseTransport]) -> None:
        self._inner = inner
        self._new_upgrades = upgrades
        self._upgrades: httpx.AsyncBaseTransport | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` over the aiohttp pool (a WebSocket upgrade over httpx's own transport)."""
        if _is_upgrade(request):
            if self._upgrades is None:
                self._upgrades = self._new_upgrades()
            return await self._upgrades.handle_async_request(request)
        try:
            response = await self._inner.handle_async_request(request)
        except (httpx.TransportError, aiohttp.ClientError, TimeoutError) as exc:
            translated = _translate(exc, request)
            if translated is None:
                raise
            raise translated from _origin(exc)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Body(response.stream, request)
        return response

    async def aclose(self) -> None:
        """Close the aiohttp session and its connections (idempotent)."""
        try:
            await self._inner.aclose()
        finally:
            if self._upgrades is not None:
                await self._upgrades.aclose()


def _session_factory(ssl_context: ssl.SSLContext, limits: httpx.Limits) -> Callable[[], aiohttp.ClientSession]:
    def create() -> aiohttp.ClientSession:
        # Called on the first request: aiohttp binds the session to the running event loop.
        reuse = limits.max_keepalive_connections != 0 and limits.keepalive_expiry != 0
        connector = aiohttp.TCPConnector(
            ssl=ssl_context,
            limit=limits.max_connections or 0,
            keepalive_timeout=limits.keepalive_expiry if reuse else None,
            force_close=not reuse,
        )
        return aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,  # proxies come from _transport (per-proxy mounts), never .netrc credentials
            auto_decompress=False,
        )

    return create


def aiohttp_transport(
    *, ssl_context: ssl.SSLContext, limits: httpx.Limits, proxy: httpx.Proxy | None = None
) -> httpx.AsyncBaseTransport:
    """An httpx transport over an aiohttp pool with ``ssl_context`` and ``limits`` (via ``proxy``)."""
    inner = AiohttpTransport(
        verify=ssl_context, limits=limits, proxy=proxy, client=_session_factory(ssl_context, limits), trust_env=False
    )
    return _AiohttpTransport(
        inner, lambda: httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits, proxy=proxy, trust_env=False)
    )
