"""Async primitives of the async flavour (hand-written; excluded from the unasync rewrite).

Everything that differs between the flavours beyond ``async``/``await`` lives here and in
``kei_agent_sync/_backend.py``, which offers the same names with blocking implementations.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import ssl
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Sequence
from types import TracebackType
from typing import Any, Generic, TypeAlias, TypeVar, cast

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

AuthFlow: TypeAlias = AsyncGenerator[httpx.Request, httpx.Response]
"""What an ``httpx.Auth`` flow of this flavour returns."""


#: This flavour can use the aiohttp connection pool (``ConnectionConfig.transport``; see ``_transport``).
AIOHTTP_FLAVOUR = True


def aiohttp_transport(
    *, ssl_context: ssl.SSLContext, limits: httpx.Limits, proxy: httpx.Proxy | None
) -> httpx.AsyncBaseTransport:
    """An httpx transport over an aiohttp pool (the ``aiohttp`` extra; imported on first use)."""
    from ._transport_aiohttp import aiohttp_transport as build

    return build(ssl_context=ssl_context, limits=limits, proxy=proxy)


def httpcore_transport(
    *, ssl_context: ssl.SSLContext, http2: bool, limits: httpx.Limits, proxy: httpx.Proxy | None
) -> httpx.AsyncBaseTransport:
    """httpx's own transport (httpcore). The call's deadline bounds it from outside: the attempt
    runs in ``deadline_scope``, which cancels it when the deadline passes."""
    return httpx.AsyncHTTPTransport(verify=ssl_context, http2=http2, limits=limits, proxy=proxy)


async def sleep(seconds: float) -> None:
    """Sleep without blocking the event loop."""
    await asyncio.sleep(seconds)


def deadline_scope(seconds: float) -> asyncio.Timeout:
    """Cancel what runs inside after ``seconds`` (``TimeoutError``): bounds slow or trickling peers."""
    return asyncio.timeout(seconds)


_NOTHING_TO_HOLD: contextlib.AbstractContextManager[None] = contextlib.nullcontext()


class PolicyLock:
    """Guards the pure policies' state. Policy methods never await, so on one event loop they
    are atomic already: this lock costs nothing and exists so the sync flavour can use a real one.
    """

    __slots__ = ()

    def held(self) -> contextlib.AbstractContextManager[None]:
        """Hold the lock for the duration of the block (a shared no-op here)."""
        return _NOTHING_TO_HOLD


class InFlight:
    """Counts calls in progress so ``close()`` can let them finish before closing the pool."""

    __slots__ = ("_count", "_idle")

    def __init__(self) -> None:
        self._count = 0
        self._idle: asyncio.Event | None = None

    @property
    def count(self) -> int:
        """Calls currently in progress."""
        return self._count

    def enter(self) -> None:
        """A call started."""
        self._count += 1
        if self._idle is not None:
            self._idle.clear()

    def exit(self) -> None:
        """A call ended (successfully or not)."""
        self._count -= 1
        if self._count == 0 and self._idle is not None:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no call is in progress, at most ``timeout`` seconds; True when idle."""
        if self._count == 0:
            return True
        if self._idle is None:
            self._idle = asyncio.Event()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


async def offload(function: Callable[[], T], timeout: float) -> T:
    """Run blocking ``function`` in a worker thread without blocking the event loop.

    Waiting is bounded by ``timeout`` (``TimeoutError``) and cancellable; the thread itself cannot
    be interrupted, so ``function`` must bound its own I/O (it finishes in the background).
    """
    return await asyncio.wait_for(asyncio.to_thread(function), timeout)


class BlockingPool:
    """At most ``max_workers`` daemon threads of our own for blocking calls.

    Never the event loop's default executor: a blocking call that hangs (a token endpoint that
    trickles bytes) occupies one of these threads, not one the application's ``asyncio.to_thread``
    needs. When every worker is still busy, :meth:`run` fails at once with ``TimeoutError``
    instead of starting another thread. Daemon threads do not hold up interpreter exit.
    """

    __slots__ = ("_busy", "_name")

    def __init__(self, name: str, max_workers: int = 1) -> None:
        self._name = name
        self._busy = threading.BoundedSemaphore(max_workers)

    async def run(self, function: Callable[[], T], timeout: float) -> T:
        """Run ``function()`` in a worker (context propagated); wait at most ``timeout`` seconds."""
        if not self._busy.acquire(blocking=False):
            raise TimeoutError(f"every {self._name} worker is still busy with an earlier call")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        context = contextvars.copy_context()

        def work() -> None:
            try:
                result = context.run(function)
            except BaseException as exc:  # handed to the waiting task
                _settle(loop, future, None, exc)
            else:
                _settle(loop, future, result, None)
            finally:
                self._busy.release()

        threading.Thread(target=work, name=self._name, daemon=True).start()
        return await asyncio.wait_for(future, timeout)

    def close(self) -> None:
        """Nothing to release: running workers end with their call (they bound their own I/O)."""


def _settle(
    loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], result: Any, error: BaseException | None
) -> None:
    def settle() -> None:
        if future.done():
            return  # the waiter gave up (timeout or cancellation)
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
        loop.call_soon_threadsafe(settle)


async def call_maybe_async(
    function: Callable[[], T | Awaitable[T]], timeout: float | None = None, pool: BlockingPool | None = None
) -> T:
    """Call a user-supplied function that may be a coroutine function, bounded by ``timeout``.

    A coroutine function (or any function returning an awaitable) is awaited (at most ``timeout``
    seconds: ``TimeoutError``); with ``timeout``, a plain function is taken to block and runs in a
    worker thread of ``pool`` (or, without one, see :func:`offload`).
    """
    if timeout is not None and not inspect.iscoroutinefunction(function):
        if pool is not None:
            result = await pool.run(function, timeout)
        else:
            result = await offload(function, timeout)
    else:
        result = function()
    if inspect.isawaitable(result):
        return await asyncio.wait_for(cast("Awaitable[T]", result), timeout)
    return result


class SingleFlight(Generic[T]):
    """Concurrent callers share one run of a coroutine function (e.g. one token request).

    The run is a task of its own, shielded from its callers: a cancelled caller stops waiting but
    does not cancel the run, whose result the others still receive.
    """

    __slots__ = ("_task",)

    def __init__(self) -> None:
        self._task: asyncio.Future[T] | None = None

    @property
    def running(self) -> bool:
        """Whether a run is in progress."""
        return self._task is not None and not self._task.done()

    async def run(
        self,
        function: Callable[[], Coroutine[Any, Any, T]],
        shortcut: Callable[[], T | None],
        timeout: float | None = None,
    ) -> T:
        """Join the run in progress, or return ``shortcut()`` when it has a value, or start a run.

        This caller waits at most ``timeout`` seconds (``TimeoutError``); the run goes on for the others.
        """
        task = self._task
        if task is None or task.done():
            cached = shortcut()
            if cached is not None:
                return cached
            task = asyncio.ensure_future(function())
            task.add_done_callback(_retrieve)
            self._task = task
        return await asyncio.wait_for(asyncio.shield(task), timeout)

    def cancel(self) -> None:
        """Cancel the run in progress, if any (when the client closes)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()


def _retrieve(task: asyncio.Future[Any]) -> None:
    # Mark the exception as retrieved: callers that were cancelled never await the task.
    if not task.cancelled():
        task.exception()


async def run_in_thread(func: Callable[..., T], /, *args: object) -> T:
    """Run blocking ``func(*args)`` in a worker thread (context propagated) without blocking the loop."""
    return await asyncio.to_thread(func, *args)


async def gather_with_timeouts(jobs: Sequence[tuple[Callable[[], Awaitable[T]], float]]) -> list[T | BaseException]:
    """Run every ``(job, timeout)`` concurrently; each result is the job's value or its exception
    (``TimeoutError`` when it took longer than its timeout; it is cancelled then)."""

    async def bounded(job: Callable[[], Awaitable[T]], timeout: float) -> T:
        return await asyncio.wait_for(job(), timeout)

    results = await asyncio.gather(*(bounded(job, timeout) for job, timeout in jobs), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result  # cancellation and the like are not check results
    return list(results)


#: Answers one probe request: ``(method, path) -> (status, JSON body)``.
ProbeHandler = Callable[[str, str], Awaitable[tuple[int, bytes]]]
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}
_READ_TIMEOUT = 10.0


class ProbeServer:
    """A minimal HTTP/1.1 server for the health probes, on the running event loop.

    Close it with ``await server.close()`` or use it as ``async with``.
    """

    def __init__(self, server: asyncio.Server, host: str, port: int) -> None:
        self._server = server
        self.host = host
        self.port = port

    @property
    def url(self) -> str:
        """``http://host:port`` of the server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def close(self) -> None:
        """Stop accepting connections and wait until the server is closed; idempotent."""
        self._server.close()
        await self._server.wait_closed()

    async def serve_forever(self) -> None:
        """Serve until cancelled (the server already listens; this only waits)."""
        await self._server.serve_forever()

    async def __aenter__(self) -> ProbeServer:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"ProbeServer(url={self.url!r})"


_MAX_HEAD_BYTES = 8192


class _Connections:
    """The probe server's open connections; those still reading their request head are evictable."""

    __slots__ = ("count", "limit", "reading")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.count = 0
        self.reading: dict[asyncio.StreamWriter, None] = {}  # insertion order: oldest first

    def admit(self, writer: asyncio.StreamWriter) -> None:
        """Count a new connection; at the limit, drop the oldest one that has not sent its head."""
        if self.count >= self.limit and self.reading:
            oldest = next(iter(self.reading))
            del self.reading[oldest]
            oldest.transport.abort()
        self.count += 1
        self.reading[writer] = None

    def head_read(self, writer: asyncio.StreamWriter) -> None:
        """The connection's request head arrived: it is answered now, no longer evictable."""
        self.reading.pop(writer, None)

    def release(self, writer: asyncio.StreamWriter) -> None:
        """The connection closed."""
        self.count -= 1
        self.reading.pop(writer, None)


async def _read_head(reader: asyncio.StreamReader) -> tuple[str, str]:
    request_line = await reader.readline()
    size = len(request_line)
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        size += len(line)  # headers are not needed
        if size > _MAX_HEAD_BYTES:
            raise ValueError("request head too large")
    method, target, _version = request_line.decode("latin-1").split(" ", 2)
    return method, target


async def _answer(
    handler: ProbeHandler,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    connections: _Connections,
    header_timeout: float,
) -> None:
    connections.admit(writer)
    try:
        try:
            method, target = await asyncio.wait_for(_read_head(reader), header_timeout)
        except (ValueError, TimeoutError, ConnectionError):
            status, body, method = 400, b'{"error": "bad request"}', "GET"
        else:
            connections.head_read(writer)
            status, body = await handler(method, target)
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode("ascii") + (b"" if method == "HEAD" else body))
        await asyncio.wait_for(writer.drain(), _READ_TIMEOUT)
    except (ConnectionError, TimeoutError):
        pass
    finally:
        connections.release(writer)
        writer.close()
        with contextlib.suppress(ConnectionError, TimeoutError):
            await asyncio.wait_for(writer.wait_closed(), _READ_TIMEOUT)


async def start_probe_server(
    host: str, port: int, handler: ProbeHandler, *, max_connections: int = 64, header_timeout: float = 5.0
) -> ProbeServer:
    """Listen on ``host:port`` (``port=0``: a free port) and answer with ``handler``.

    At most ``max_connections`` are open (a new one evicts the oldest that is still sending its
    request head); a request head must arrive within ``header_timeout`` seconds and 8 KiB.
    """
    connections = _Connections(max_connections)

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _answer(handler, reader, writer, connections, header_timeout)

    server = await asyncio.start_server(on_connect, host, port, limit=_MAX_HEAD_BYTES)
    bound_port = int(server.sockets[0].getsockname()[1]) if server.sockets else port
    return ProbeServer(server, host, bound_port)


# --------------------------------------------------------------------------- stream, bus, consumers
# Primitives of ``stream.py`` and ``bus.py``: a stop signal, a bounded work queue, worker tasks,
# calls that a stop signal interrupts, and aborting a network stream from another task.


class Signal:
    """A one-way flag other tasks can wait for (``set`` is idempotent)."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        """Raise the flag; waiters wake up."""
        self._event.set()

    def is_set(self) -> bool:
        """Whether the flag is raised."""
        return self._event.is_set()

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait until the flag is raised, at most ``timeout`` seconds; True when raised."""
        if self._event.is_set():
            return True
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        return True


class WorkQueue(Generic[T]):
    """A bounded FIFO between one producer and worker tasks."""

    __slots__ = ("_queue",)

    def __init__(self, maxsize: int) -> None:
        self._queue: asyncio.Queue[T] = asyncio.Queue(maxsize)

    async def put(self, item: T) -> None:
        """Add ``item``, waiting while the queue is full."""
        await self._queue.put(item)

    async def get(self) -> T:
        """Take the oldest item, waiting while the queue is empty."""
        return await self._queue.get()

    def empty(self) -> bool:
        """Whether no item is waiting."""
        return self._queue.empty()

    def free(self) -> int:
        """How many items can be added without waiting."""
        return self._queue.maxsize - self._queue.qsize()


class Worker:
    """A started worker task; ``join()`` waits for it (and re-raises its exception)."""

    __slots__ = ("_task",)

    def __init__(self, task: asyncio.Task[None]) -> None:
        self._task = task

    async def join(self) -> None:
        """Wait until the worker returned."""
        await self._task


def spawn(function: Callable[[], Coroutine[Any, Any, None]], name: str) -> Worker:
    """Start ``function()`` as a task of the running loop."""
    return Worker(asyncio.get_running_loop().create_task(function(), name=name))


async def interruptible(call: Callable[[], Coroutine[Any, Any, T]], stop: Signal) -> T | None:
    """Run ``call()``; when ``stop`` is raised first, cancel it and return ``None``."""
    if stop.is_set():
        return None
    task = asyncio.ensure_future(call())
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for pending in (task, stopper):
            if not pending.done():
                pending.cancel()
        await asyncio.gather(task, stopper, return_exceptions=True)
    if task.cancelled():
        return None
    return task.result()


async def receive_websocket_event(session: Any, closed: Signal) -> Any:
    """The next event of an httpx-ws session. When the session ends, its event channel closes and
    the wait ends with an error (the sync flavour polls ``closed`` for the same effect)."""
    return await session.receive()


async def abort_stream(stream: Any) -> None:
    """Close a network stream (an upgraded connection), also while another task reads from it."""
    with contextlib.suppress(Exception):
        await stream.aclose()


async def call_handler(handler: Callable[[Any], Any], item: Any) -> None:
    """Call a consumer's handler with ``item``: a coroutine function (or any awaitable result) is
    awaited, a plain function is called in the event loop's thread."""
    result = handler(item)
    if inspect.isawaitable(result):
        await result
