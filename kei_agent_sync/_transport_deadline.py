"""The sync client's transport: httpx's httpcore pool, with every socket wait bounded by the deadline.

httpx bounds each socket operation by its timeout, never a whole response: a peer that trickles
one header byte per second never trips a 30 s read timeout, and the call would run for as long
as the peer likes. The other flavour cancels such an attempt when the call's deadline passes
(an event-loop timeout); a blocking read cannot be cancelled, so this transport hands httpcore a
network backend whose connects, TLS handshakes, reads and writes each wait at most until the
deadline of the request in progress: the ``kei_deadline`` extension the engine puts on every
request (absolute, ``time.monotonic()`` based). Past it the wait ends with httpcore's own timeout
error, which the client reports as ``APITimeoutError``.

Apart from that it is ``httpx.HTTPTransport``: the same httpcore pool (HTTP/1.1 and HTTP/2), TLS
context, limits, HTTP and SOCKS proxies and httpx error types, built from httpx's and httpcore's
public API. Requests without the extension (streams, the low-level client) are not bounded.
"""

from __future__ import annotations

import contextvars
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, NoReturn

import httpcore
import httpx

__all__ = ["DeadlineTransport"]

#: The deadline of the request the current thread is sending or reading (``None``: unbounded).
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("kei_agent_deadline", default=None)

#: httpcore's errors and the httpx errors the client sees instead (most specific wins).
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def _mapped(exc: Exception) -> Exception:
    """The httpx error for one of httpcore's (``exc`` itself for anything else)."""
    for source, target in _ERRORS:
        if isinstance(exc, source):
            return target(str(exc))
    return exc


def _raise_mapped(exc: Exception) -> NoReturn:
    """Raise ``exc`` as httpx's error (from it), or as it is when it is not one of httpcore's."""
    mapped = _mapped(exc)
    if mapped is exc:
        raise exc
    raise mapped from exc


_PASSED = "the call's deadline passed while waiting for the network"


def _cap(timeout: float | None, deadline: float, error: type[httpcore.TimeoutException]) -> float:
    """``timeout`` capped at what is left until ``deadline``; ``error`` once it passed."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise error(_PASSED)
    return remaining if timeout is None or remaining < timeout else timeout


def _connecting(
    timeout: float | None, connect: Callable[[float | None], httpcore.NetworkStream]
) -> httpcore.NetworkStream:
    """``connect(timeout)`` (a connect or TLS handshake) within the current deadline, as a bounded stream."""
    deadline = _DEADLINE.get()
    bounded = timeout if deadline is None else _cap(timeout, deadline, httpcore.ConnectTimeout)
    try:
        return _DeadlineStream(connect(bounded))
    except httpcore.TimeoutException as exc:
        if bounded == timeout:
            raise
        raise type(exc)(_PASSED) from exc


# Reads and writes are written out (no helper, no context manager): they run for every request.


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every wait ends at the current request's deadline."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        deadline = _DEADLINE.get()
        if deadline is None:
            return self._stream.read(max_bytes, timeout)
        bounded = _cap(timeout, deadline, httpcore.ReadTimeout)
        try:
            return self._stream.read(max_bytes, bounded)
        except httpcore.TimeoutException as exc:
            if bounded == timeout:
                raise
            raise type(exc)(_PASSED) from exc

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        deadline = _DEADLINE.get()
        if deadline is None:
            self._stream.write(buffer, timeout)
            return
        bounded = _cap(timeout, deadline, httpcore.WriteTimeout)
        try:
            self._stream.write(buffer, bounded)
        except httpcore.TimeoutException as exc:
            if bounded == timeout:
                raise
            raise type(exc)(_PASSED) from exc

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _connecting(timeout, lambda bounded: self._stream.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's blocking sockets, with connects bounded by the current request's deadline."""

    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        return _connecting(
            timeout, lambda bounded: self._backend.connect_tcp(host, port, bounded, local_address, socket_options)
        )

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        return _connecting(timeout, lambda bounded: self._backend.connect_unix_socket(path, bounded, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _core_url(url: httpx.URL) -> httpcore.URL:
    return httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path)


def _pool(
    ssl_context: ssl.SSLContext, limits: httpx.Limits, http2: bool, proxy: httpx.Proxy | None
) -> httpcore.ConnectionPool:
    common: dict[str, Any] = {
        "ssl_context": ssl_context,
        "max_connections": limits.max_connections,
        "max_keepalive_connections": limits.max_keepalive_connections,
        "keepalive_expiry": limits.keepalive_expiry,
        "http1": True,
        "http2": http2,
        "network_backend": _DeadlineBackend(),
    }
    if proxy is None:
        return httpcore.ConnectionPool(**common)
    if proxy.url.scheme in ("http", "https"):
        return httpcore.HTTPProxy(
            proxy_url=_core_url(proxy.url),
            proxy_auth=proxy.raw_auth,
            proxy_headers=proxy.headers.raw,
            proxy_ssl_context=proxy.ssl_context,
            **common,
        )
    if proxy.url.scheme in ("socks5", "socks5h"):
        return httpcore.SOCKSProxy(proxy_url=_core_url(proxy.url), proxy_auth=proxy.raw_auth, **common)
    raise httpx.UnsupportedProtocol(f"proxy {proxy.url.scheme!r}: use an http, https, socks5 or socks5h proxy")


class _Body(httpx.SyncByteStream):
    """A response body whose reads are bounded by the deadline of the request it answers."""

    def __init__(self, stream: Iterable[bytes], deadline: float | None) -> None:
        self._stream = stream
        self._deadline = deadline

    def __iter__(self) -> Iterator[bytes]:
        iterator = iter(self._stream)
        while True:
            token = _DEADLINE.set(self._deadline)
            try:
                chunk = next(iterator, None)
            except Exception as exc:
                _raise_mapped(exc)
            finally:
                _DEADLINE.reset(token)
            if chunk is None:
                return
            yield chunk

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            try:
                close()
            except Exception as exc:
                _raise_mapped(exc)


class DeadlineTransport(httpx.BaseTransport):
    """``httpx.HTTPTransport`` whose socket waits end at each request's ``kei_deadline`` (module docstring)."""

    def __init__(
        self,
        *,
        verify: ssl.SSLContext,
        http2: bool = False,
        limits: httpx.Limits,
        proxy: httpx.Proxy | None = None,
    ) -> None:
        """A pool with ``verify``'s TLS context and ``limits``; through ``proxy`` when given."""
        self._pool = _pool(verify, limits, http2, proxy)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the pool; waits end at its ``kei_deadline`` extension (if any)."""
        assert isinstance(request.stream, httpx.SyncByteStream)
        deadline = request.extensions.get("kei_deadline")
        if not isinstance(deadline, int | float) or isinstance(deadline, bool):
            deadline = None
        core = httpcore.Request(
            method=request.method,
            url=_core_url(request.url),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        token = _DEADLINE.set(deadline)
        try:
            response = self._pool.handle_request(core)
        except Exception as exc:
            _raise_mapped(exc)
        finally:
            _DEADLINE.reset(token)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream, deadline),
            extensions=response.extensions,
        )

    def close(self) -> None:
        """Close every pooled connection."""
        self._pool.close()

    def __enter__(self) -> DeadlineTransport:
        self._pool.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        try:
            self._pool.__exit__(exc_type, exc_value, traceback)
        except Exception as exc:
            _raise_mapped(exc)
