"""Blocking primitives of the sync flavour (hand-written; the rest of the package is generated).

Offers the same names as ``kei_agent_async/_backend.py`` with thread-based implementations.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import http.server
import inspect
import queue
import socket
import ssl
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Sequence
from types import TracebackType
from typing import Any, Generic, NoReturn, TypeAlias, TypeVar

import httpx

__all__ = [
    "AIOHTTP_FLAVOUR",
    "AuthFlow",
    "BlockingPool",
    "InFlight",
    "PolicyLock",
    "ProbeServer",
    "Signal",
    "SingleFlight",
    "WorkQueue",
    "Worker",
    "abort_stream",
    "aiohttp_transport",
    "call_handler",
    "call_maybe_async",
    "gather_with_timeouts",
    "httpcore_transport",
    "interruptible",
    "offload",
    "run_in_thread",
    "sleep",
    "spawn",
    "start_probe_server",
]

T = TypeVar("T")

AuthFlow: TypeAlias = Generator[httpx.Request, httpx.Response, None]
"""What an ``httpx.Auth`` flow of this flavour returns."""


#: The sync client always uses httpx's own transport: ``ConnectionConfig.transport`` is ignored
#: (aiohttp is asyncio-only), so one configuration serves both flavours.
AIOHTTP_FLAVOUR = False


def aiohttp_transport(*, ssl_context: ssl.SSLContext, limits: httpx.Limits, proxy: httpx.Proxy | None) -> NoReturn:
    """Not available in the sync flavour (never called: ``AIOHTTP_FLAVOUR`` is false)."""
    raise AssertionError("the sync client has no aiohttp transport")


def httpcore_transport(
    *, ssl_context: ssl.SSLContext, http2: bool, limits: httpx.Limits, proxy: httpx.Proxy | None
) -> httpx.BaseTransport:
    """httpx's httpcore pool, with every socket wait bounded by the deadline of the request in
    progress: a blocking read cannot be cancelled from outside (see ``_transport_deadline``)."""
    from ._transport_deadline import DeadlineTransport

    return DeadlineTransport(verify=ssl_context, http2=http2, limits=limits, proxy=proxy)


def sleep(seconds: float) -> None:
    """Block the calling thread for ``seconds``."""
    time.sleep(seconds)


def deadline_scope(seconds: float) -> contextlib.AbstractContextManager[None]:
    """Nothing to do in the blocking flavour: a read in progress cannot be interrupted from outside,
    so the transport bounds every socket wait by the request's deadline itself
    (:func:`httpcore_transport`)."""
    return contextlib.nullcontext()


class PolicyLock:
    """Guards the pure policies' state against concurrent threads."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def held(self) -> contextlib.AbstractContextManager[bool]:
        """Hold the lock for the duration of the block (the ``threading.Lock`` itself: no generator)."""
        return self._lock


class InFlight:
    """Counts calls in progress so ``close()`` can let them finish before closing the pool."""

    __slots__ = ("_cond", "_count")

    def __init__(self) -> None:
        self._count = 0
        self._cond = threading.Condition()

    @property
    def count(self) -> int:
        """Calls currently in progress."""
        return self._count

    def enter(self) -> None:
        """A call started."""
        with self._cond:
            self._count += 1

    def exit(self) -> None:
        """A call ended (successfully or not)."""
        with self._cond:
            self._count -= 1
            if self._count == 0:
                self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no call is in progress, at most ``timeout`` seconds; True when idle."""
        with self._cond:
            return self._cond.wait_for(lambda: self._count == 0, timeout)


def offload(function: Callable[[], T], timeout: float) -> T:
    """Run blocking ``function`` in the calling thread (``function`` bounds its own I/O)."""
    return function()


class BlockingPool:
    """The async flavour's worker threads for blocking calls; here a call simply runs in the calling
    thread (which may block: it is the sync flavour)."""

    __slots__ = ("_name",)

    def __init__(self, name: str, max_workers: int = 1) -> None:
        self._name = name

    def run(self, function: Callable[[], T], timeout: float) -> T:
        """Run ``function()`` in the calling thread (``function`` bounds its own I/O)."""
        return function()

    def close(self) -> None:
        """Nothing to release."""


def call_maybe_async(
    function: Callable[[], T | Awaitable[T]], timeout: float | None = None, pool: BlockingPool | None = None
) -> T:
    """Call a user-supplied function; an awaitable result is an error in the sync client."""
    result = function()
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if callable(close):
            close()  # a coroutine that is never awaited would warn
        raise TypeError(
            f"{getattr(function, '__qualname__', function)!s} is asynchronous: the sync client needs a "
            "blocking token provider (use kei_agent_async for async ones)"
        )
    return result


class SingleFlight(Generic[T]):
    """Concurrent callers (threads) share one run of a function (e.g. one token request).

    The run happens in a daemon thread of its own, so every caller - the one that started it
    included - can stop waiting at its own deadline while the run goes on for the others.
    """

    __slots__ = ("_future", "_lock")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._future: concurrent.futures.Future[T] | None = None

    @property
    def running(self) -> bool:
        """Whether a run is in progress."""
        return self._future is not None

    def run(self, function: Callable[[], T], shortcut: Callable[[], T | None], timeout: float | None = None) -> T:
        """Join the run in progress, or return ``shortcut()`` when it has a value, or start a run.

        This caller waits at most ``timeout`` seconds (``TimeoutError``); the run goes on for the others.
        """
        with self._lock:
            future = self._future
            if future is None:
                cached = shortcut()
                if cached is not None:
                    return cached
                future = self._future = concurrent.futures.Future()
                context = contextvars.copy_context()
                threading.Thread(
                    target=self._run, args=(future, context, function), name="kei-single-flight", daemon=True
                ).start()
        try:
            return future.result(None if timeout is None else max(0.0, timeout))
        except concurrent.futures.TimeoutError:
            raise TimeoutError(f"no result within {timeout:g} s") from None

    def _run(
        self, future: concurrent.futures.Future[T], context: contextvars.Context, function: Callable[[], T]
    ) -> None:
        try:
            result = context.run(function)
        except BaseException as exc:  # handed to every waiting caller
            with self._lock:
                self._future = None
            future.set_exception(exc)
            return
        with self._lock:
            self._future = None
        future.set_result(result)

    def cancel(self) -> None:
        """Nothing to cancel: a blocking run cannot be interrupted (it bounds its own I/O)."""


def run_in_thread(func: Callable[..., T], /, *args: object) -> T:
    """Run blocking ``func(*args)`` (the calling thread may block: it is the sync flavour)."""
    return func(*args)


class _Job(threading.Thread):
    """Runs one job in a daemon thread with the caller's context."""

    def __init__(self, job: Callable[[], Any]) -> None:
        super().__init__(daemon=True, name="kei-health-check")
        self._job = job
        self._context = contextvars.copy_context()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self._context.run(self._job)
        except BaseException as exc:  # reported to the caller as the job's result
            self.error = exc


def gather_with_timeouts(jobs: Sequence[tuple[Callable[[], T], float]]) -> list[T | BaseException]:
    """Run every ``(job, timeout)`` concurrently in daemon threads; each result is the job's value
    or its exception (``TimeoutError`` when it took longer than its timeout - the thread cannot be
    stopped and finishes in the background)."""
    threads = [(_Job(job), timeout) for job, timeout in jobs]
    started = time.monotonic()
    for thread, _ in threads:
        thread.start()
    results: list[T | BaseException] = []
    for thread, timeout in threads:
        thread.join(max(0.0, started + timeout - time.monotonic()))
        if thread.is_alive():
            results.append(TimeoutError(f"did not finish within {timeout:g} s"))
        elif thread.error is not None:
            results.append(thread.error)
        else:
            results.append(thread.result)
    return results


#: Answers one probe request: ``(method, path) -> (status, JSON body)``.
ProbeHandler = Callable[[str, str], tuple[int, bytes]]


class _ProbeRequestHandler(http.server.BaseHTTPRequestHandler):
    server_version = "kei-agent-probe"
    protocol_version = "HTTP/1.1"
    handler: ProbeHandler

    def _answer(self) -> None:
        server = self.server
        if isinstance(server, _LimitedServer):
            server.head_read(self.connection)
        status, body = type(self).handler(self.command, self.path)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Probes are frequent: no access log."""


class ProbeServer:
    """A minimal HTTP/1.1 server for the health probes, in a background thread.

    Close it with ``server.close()`` or use it as ``with``.
    """

    def __init__(self, server: _LimitedServer, thread: threading.Thread, host: str, port: int) -> None:
        self._server = server
        self._thread = thread
        self._closed = False
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """``http://host:port`` of the server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def close(self) -> None:
        """Stop the server and its thread; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def serve_forever(self) -> None:
        """Block until the server is closed (from another thread or by a signal handler)."""
        self._thread.join()

    def __enter__(self) -> ProbeServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ProbeServer(url={self.url!r})"


class _LimitedServer(http.server.ThreadingHTTPServer):
    """A thread per connection, at most ``max_connections`` of them: a new connection evicts the
    oldest one still sending its request head, and a head must arrive within ``header_timeout``."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # the listen backlog: a probe waits there while connections are evicted

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[http.server.BaseHTTPRequestHandler],
        max_connections: int,
        header_timeout: float,
    ) -> None:
        super().__init__(address, handler)
        self.max_connections = max_connections
        self.header_timeout = header_timeout
        self._lock = threading.Lock()
        self._count = 0
        self._reading: dict[Any, float] = {}  # socket -> head deadline; insertion order: oldest first

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            if self._count >= self.max_connections and self._reading:
                oldest = next(iter(self._reading))
                del self._reading[oldest]
                _wake(oldest)
            self._count += 1
            self._reading[request] = time.monotonic() + self.header_timeout
        super().process_request(request, client_address)

    def head_read(self, request: Any) -> None:
        """The connection's request head arrived: it is answered now, no longer evictable."""
        with self._lock:
            self._reading.pop(request, None)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._count -= 1
            self._reading.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A peer that went away (or was evicted) is no error worth printing."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def service_actions(self) -> None:
        """Between accepts (at least every 0.5 s): end connections whose head is overdue."""
        now = time.monotonic()
        with self._lock:
            overdue = [sock for sock, deadline in self._reading.items() if deadline <= now]
            for sock in overdue:
                del self._reading[sock]
        for sock in overdue:
            _wake(sock)


def _wake(sock: Any) -> None:
    """Shut a connection down: a thread blocked reading from it wakes up and ends."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def start_probe_server(
    host: str, port: int, handler: ProbeHandler, *, max_connections: int = 64, header_timeout: float = 5.0
) -> ProbeServer:
    """Listen on ``host:port`` (``port=0``: a free port) and answer with ``handler`` in a thread.

    At most ``max_connections`` are open (a new one evicts the oldest that is still sending its
    request head); a request head must arrive within ``header_timeout`` seconds.
    """
    request_handler = type(
        "ProbeRequestHandler",
        (_ProbeRequestHandler,),
        {"handler": staticmethod(handler), "timeout": header_timeout},
    )
    server = _LimitedServer((host, port), request_handler, max_connections, header_timeout)
    thread = threading.Thread(target=server.serve_forever, name="kei-health-probes", daemon=True)
    thread.start()
    return ProbeServer(server, thread, host, int(server.server_address[1]))


# --------------------------------------------------------------------------- stream, bus, consumers
# Primitives of ``stream.py`` and ``bus.py``: a stop signal, a bounded work queue, worker threads,
# calls that a stop signal interrupts, and aborting a network stream from another thread.


class Signal:
    """A one-way flag other threads can wait for (``set`` is idempotent)."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        """Raise the flag; waiters wake up."""
        self._event.set()

    def is_set(self) -> bool:
        """Whether the flag is raised."""
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the flag is raised, at most ``timeout`` seconds; True when raised."""
        return self._event.wait(timeout)


class WorkQueue(Generic[T]):
    """A bounded FIFO between one producer and worker threads."""

    __slots__ = ("_queue",)

    def __init__(self, maxsize: int) -> None:
        self._queue: queue.Queue[T] = queue.Queue(maxsize)

    def put(self, item: T) -> None:
        """Add ``item``, waiting while the queue is full."""
        self._queue.put(item)

    def get(self) -> T:
        """Take the oldest item, waiting while the queue is empty."""
        return self._queue.get()

    def empty(self) -> bool:
        """Whether no item is waiting."""
        return self._queue.empty()

    def free(self) -> int:
        """How many items can be added without waiting."""
        return self._queue.maxsize - self._queue.qsize()


class Worker:
    """A started worker thread; ``join()`` waits for it (and re-raises its exception)."""

    __slots__ = ("_error", "_thread")

    def __init__(self, function: Callable[[], None], name: str) -> None:
        self._error: BaseException | None = None
        context = contextvars.copy_context()

        def run() -> None:
            try:
                context.run(function)
            except BaseException as exc:  # re-raised by join() in the caller's thread
                self._error = exc

        self._thread = threading.Thread(target=run, name=name, daemon=True)
        self._thread.start()

    def join(self) -> None:
        """Wait until the worker returned."""
        self._thread.join()
        if self._error is not None:
            raise self._error


def spawn(function: Callable[[], None], name: str) -> Worker:
    """Start ``function()`` in a daemon thread (with the caller's context)."""
    return Worker(function, name)


def interruptible(call: Callable[[], T], stop: Signal) -> T | None:
    """Run ``call()`` unless ``stop`` is raised (a blocking call cannot be interrupted: it must
    bound its own waiting)."""
    if stop.is_set():
        return None
    return call()


#: How often a blocked WebSocket read looks whether its connection was closed locally.
_CLOSED_POLL_SECONDS = 0.1


def receive_websocket_event(session: Any, closed: Signal) -> Any:
    """The next event of an httpx-ws session, or ``ConnectionAbortedError`` once ``closed`` is set.

    httpx-ws hands events over a ``queue.Queue`` that nothing closes when the session ends, so a
    read blocked without a timeout would wait forever after a local close; the wait is therefore
    sliced and ``closed`` looked at between slices.
    """
    while True:
        if closed.is_set():
            raise ConnectionAbortedError("the WebSocket connection was closed locally")
        try:
            return session.receive(timeout=_CLOSED_POLL_SECONDS)
        except queue.Empty:
            continue


def abort_stream(stream: Any) -> None:
    """Close a network stream (an upgraded connection), also while another thread reads from it:
    the socket is shut down first, which wakes a blocked read."""
    sock = stream.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        stream.close()


def call_handler(handler: Callable[[Any], Any], item: Any) -> None:
    """Call a consumer's handler with ``item``; an awaitable result is an error in the sync client."""
    result = handler(item)
    if inspect.isawaitable(result):
        close = getattr(result, "close", None)
        if callable(close):
            close()  # a coroutine that is never awaited would warn
        raise TypeError(
            f"{getattr(handler, '__qualname__', handler)!s} is asynchronous: the sync client needs a blocking "
            "handler (use kei_agent_async for async ones)"
        )
