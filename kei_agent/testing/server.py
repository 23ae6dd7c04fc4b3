"""Run the reference server: ``run_server`` / ``run_server_async`` and the :class:`ServerHandle`.

uvicorn serves the app in a background thread on a real socket (``port=0``: a free one). The
handle's ``state``, ``faults`` and ``stats`` outlive :meth:`ServerHandle.restart`, which brings the
server back on the same port - what reliability tests need to simulate a platform restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import anyio.to_thread
import uvicorn

from .app import build_context, create_app
from .context import AppContext
from .faults import Fault, FaultPlan
from .security import PeerCertificates
from .settings import DEV_TOKEN, ServerSettings, TLSConfig, TokenSpec
from .state import ServerState
from .stats import ServerStats

logger = logging.getLogger("kei_agent.testing")

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
_INCOMPLETE = "ASGI callable returned without completing response."

FaultsArg = FaultPlan | Iterable[Fault] | Fault | None


class _DropFilter(logging.Filter):
    """uvicorn logs an error when a response is cut short - which injected drops do on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _INCOMPLETE


_filter_lock = threading.Lock()
_filter_installed = False


def _install_drop_filter() -> None:
    global _filter_installed
    with _filter_lock:
        if not _filter_installed:
            logging.getLogger("uvicorn.error").addFilter(_DropFilter())
            _filter_installed = True


def _tls_protocol(peers: PeerCertificates) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol, recording each connection's verified client certificate."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    base: Any = AutoHTTPProtocol

    class ClientCertProtocol(base):  # type: ignore[misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            peer = transport.get_extra_info("peername")
            cert = transport.get_extra_info("peercert")
            if isinstance(peer, tuple) and len(peer) >= 2:
                address = (str(peer[0]), int(peer[1]))
                self._kei_peer = address
                if cert:
                    peers.add(address, cert)
                else:
                    peers.discard(address)
            super().connection_made(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            address = getattr(self, "_kei_peer", None)
            if address is not None:
                peers.discard(address)
            super().connection_lost(exc)

    protocol: type[asyncio.Protocol] = ClientCertProtocol
    return protocol


def _idle_protocol(base: Any, idle: float) -> type[asyncio.Protocol]:
    """``base`` (a uvicorn HTTP protocol) closing connections that send nothing for ``idle`` seconds.

    uvicorn times out idle keep-alive connections only after a first request; a connection that
    never sends one (or stops in the middle of its head or body) would stay forever. A request the
    app is working on (a long poll, an SSE stream) is not idle; an upgraded connection (WebSocket)
    is left to its own protocol.
    """

    class IdleLimitedProtocol(base):  # type: ignore[misc]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self._kei_loop = asyncio.get_running_loop()
            self._kei_last = self._kei_loop.time()
            self._kei_timer: asyncio.TimerHandle | None = self._kei_loop.call_later(idle, self._kei_check)

        def data_received(self, data: bytes) -> None:
            self._kei_last = self._kei_loop.time()
            super().data_received(data)

        def _kei_check(self) -> None:
            self._kei_timer = None
            transport = self.transport
            if transport.is_closing() or transport.get_protocol() is not self:
                return
            cycle = getattr(self, "cycle", None)
            working = cycle is not None and not cycle.response_complete and not cycle.more_body
            now = self._kei_loop.time()
            if working or now - self._kei_last < idle:
                self._kei_timer = self._kei_loop.call_later(max(0.1, self._kei_last + idle - now), self._kei_check)
                return
            transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            timer = getattr(self, "_kei_timer", None)
            if timer is not None:
                timer.cancel()
            super().connection_lost(exc)

    protocol: type[asyncio.Protocol] = IdleLimitedProtocol
    return protocol


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only for it, and
    # without TCP_NODELAY every keep-alive response waits ~40 ms (Nagle + delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class ServerHandle:
    """A running (or stopped) reference server.

    ``base_url``; ``faults`` (:class:`FaultPlan`), ``stats`` (:class:`ServerStats`) and ``state``
    (:class:`ServerState`) are live objects shared with the server thread; ``settings`` is fixed.
    """

    def __init__(
        self,
        settings: ServerSettings,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
        state: ServerState | None = None,
        stats: ServerStats | None = None,
    ) -> None:
        self.settings = settings
        self.host = host
        self.port = port
        self.faults = faults if faults is not None else FaultPlan(seed=settings.seed)
        self.state = state if state is not None else ServerState(settings)
        self.stats = stats if stats is not None else ServerStats()
        self.peers = PeerCertificates()
        self.context: AppContext | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------- accessors
    @property
    def scheme(self) -> str:
        return "https" if self.settings.tls is not None else "http"

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """The WebSocket stream's URL (``ws://`` or ``wss://``)."""
        return self.base_url.replace("http", "ws", 1) + "/api/v1/stream"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __repr__(self) -> str:
        return f"<ServerHandle {self.base_url} {'running' if self.running else 'stopped'}>"

    # ------------------------------------------------------------- lifecycle
    def _config(self, app: Any, *, foreground: bool = False) -> uvicorn.Config:
        """uvicorn's configuration; in the foreground with uvicorn's own logging (and access log)."""
        options: dict[str, Any] = {}
        if foreground:
            options.update(log_level="info", access_log=True)
        else:
            options.update(log_config=None, log_level="warning", access_log=False)
        tls = self.settings.tls
        if tls is not None:
            options.update(ssl_certfile=str(tls.certfile), ssl_keyfile=str(tls.keyfile))
            if tls.ca_certs is not None:
                options["ssl_ca_certs"] = str(tls.ca_certs)
                options["ssl_cert_reqs"] = ssl.CERT_REQUIRED if tls.require_client_cert else ssl.CERT_OPTIONAL
                options["http"] = _tls_protocol(self.peers)
        from uvicorn.protocols.http.auto import AutoHTTPProtocol

        options["http"] = _idle_protocol(options.get("http", AutoHTTPProtocol), self.settings.idle_timeout_seconds)
        return uvicorn.Config(
            app,
            lifespan="off",
            timeout_graceful_shutdown=2,
            **options,
        )

    def serve_forever(self, on_ready: Callable[[ServerHandle], None] | None = None) -> None:
        """Serve in the calling (main) thread until SIGINT/SIGTERM - ``kei-agent serve``.

        ``on_ready`` is called once the socket is bound (``base_url`` is final)."""
        sock = _bind(self.host, self.port)
        self.port = int(sock.getsockname()[1])
        if on_ready is not None:
            on_ready(self)
        self.context = build_context(
            self.settings, state=self.state, faults=self.faults, stats=self.stats, peers=self.peers
        )
        config = self._config(create_app(context=self.context), foreground=True)
        try:
            uvicorn.Server(config).run(sockets=[sock])
        finally:
            self.context.shutdown.close()
            sock.close()

    def start(self) -> None:
        """Start serving (on ``port``, or a free port when it is 0). No-op when running."""
        with self._lock:
            if self.running:
                return
            _install_drop_filter()
            sock = _bind(self.host, self.port)
            self.port = int(sock.getsockname()[1])
            self.context = build_context(
                self.settings, state=self.state, faults=self.faults, stats=self.stats, peers=self.peers
            )
            server = uvicorn.Server(self._config(create_app(context=self.context)))
            self._server, self._error = server, None
            thread = threading.Thread(
                target=self._run, args=(server, sock), name=f"kei-server-{self.port}", daemon=True
            )
            self._thread = thread
            thread.start()
            deadline = time.monotonic() + START_TIMEOUT
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    server.should_exit = True
                    thread.join(STOP_TIMEOUT)
                    sock.close()
                    self._thread = None
                    raise RuntimeError(f"the KEI server did not start on {self.base_url}: {self._error!r}")
                time.sleep(0.005)
            if self.settings.dev_mode:
                logger.warning("KEI server on %s accepts the development token %r", self.base_url, DEV_TOKEN)

    def _run(self, server: uvicorn.Server, sock: socket.socket) -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported by start()/stop(), never as a thread exception
            self._error = exc
        finally:
            sock.close()

    def stop(self) -> None:
        """Stop serving and wait for the thread; open streams and long polls end. Idempotent."""
        with self._lock:
            server, thread = self._server, self._thread
            if server is None or thread is None:
                return
            if self.context is not None:
                self.context.shutdown.close()
            server.should_exit = True
            thread.join(STOP_TIMEOUT)
            if thread.is_alive():  # pragma: no cover - a stuck connection
                server.force_exit = True
                thread.join(STOP_TIMEOUT)
            self._server = self._thread = None

    def restart(self) -> None:
        """Stop and start again on the same port, keeping state, faults and stats."""
        self.stop()
        self.start()

    def __enter__(self) -> ServerHandle:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _settings(
    settings: ServerSettings | None, tokens: TokenSpec | None, tls: TLSConfig | None, overrides: dict[str, Any]
) -> ServerSettings:
    settings = settings or ServerSettings()
    changes = dict(overrides)
    if tokens is not None:
        changes["tokens"] = tokens
    if tls is not None:
        changes["tls"] = tls
    return dataclasses.replace(settings, **changes) if changes else settings


def _handle(
    tokens: TokenSpec | None,
    faults: FaultsArg,
    tls: TLSConfig | None,
    port: int,
    host: str,
    settings: ServerSettings | None,
    state: ServerState | None,
    overrides: dict[str, Any],
) -> ServerHandle:
    resolved = _settings(settings, tokens, tls, overrides)
    plan = FaultPlan.of(faults, seed=resolved.seed)
    return ServerHandle(resolved, host=host, port=port, faults=plan, state=state)


def serve_forever(
    settings: ServerSettings,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    on_ready: Callable[[ServerHandle], None] | None = None,
) -> None:
    """Run the server in the foreground (blocking; Ctrl+C stops it)."""
    ServerHandle(settings, host=host, port=port).serve_forever(on_ready)


@contextlib.contextmanager
def run_server(
    tokens: TokenSpec | None = None,
    faults: FaultsArg = None,
    tls: TLSConfig | None = None,
    port: int = 0,
    host: str = "127.0.0.1",
    settings: ServerSettings | None = None,
    *,
    state: ServerState | None = None,
    **overrides: Any,
) -> Iterator[ServerHandle]:
    """Run the reference server in a background thread for the ``with`` block.

    ``tokens``: accepted bearer tokens (list, or mapping token → scopes); ``faults``: initial
    fault rules; ``tls``: serve HTTPS (and mTLS); further keyword arguments override
    :class:`ServerSettings` fields (``admin_enabled=True``, ``seed=7``, ...).
    """
    handle = _handle(tokens, faults, tls, port, host, settings, state, overrides)
    handle.start()
    try:
        yield handle
    finally:
        handle.stop()


@contextlib.asynccontextmanager
async def run_server_async(
    tokens: TokenSpec | None = None,
    faults: FaultsArg = None,
    tls: TLSConfig | None = None,
    port: int = 0,
    host: str = "127.0.0.1",
    settings: ServerSettings | None = None,
    *,
    state: ServerState | None = None,
    **overrides: Any,
) -> AsyncIterator[ServerHandle]:
    """``async with run_server_async(...) as server:`` - the same server, started and stopped
    without blocking the event loop (it still runs in its own thread and loop)."""
    handle = _handle(tokens, faults, tls, port, host, settings, state, overrides)
    await anyio.to_thread.run_sync(handle.start)
    try:
        yield handle
    finally:
        await anyio.to_thread.run_sync(handle.stop)
