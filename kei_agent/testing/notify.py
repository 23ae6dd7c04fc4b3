"""Wake-ups for long polls and streams, safe across threads and event loops.

A :class:`Notifier` has a version that every :meth:`~Notifier.notify` increments. A waiter reads
the version, checks its condition, then waits for a change *since that version*, so a
notification between the check and the wait is never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Sequence


class Notifier:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version = 0
        self._closed = False
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @property
    def version(self) -> int:
        return self._version

    @property
    def closed(self) -> bool:
        return self._closed

    def notify(self) -> None:
        with self._lock:
            self._version += 1
            waiters = list(self._waiters)
        _wake(waiters)

    def close(self) -> None:
        """Wake every waiter for good (server shutdown)."""
        with self._lock:
            self._closed = True
            self._version += 1
            waiters = list(self._waiters)
        _wake(waiters)

    def _register(self, entry: tuple[asyncio.AbstractEventLoop, asyncio.Event], version: int) -> bool:
        """Register a waiter; ``False`` when a change already happened (no need to wait)."""
        with self._lock:
            if self._closed or self._version != version:
                return False
            self._waiters.add(entry)
            return True

    def _unregister(self, entry: tuple[asyncio.AbstractEventLoop, asyncio.Event]) -> None:
        with self._lock:
            self._waiters.discard(entry)


def _wake(waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]) -> None:
    try:
        running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    for loop, event in waiters:
        if loop is running:
            event.set()
        elif not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(event.set)


async def wait_for_change(watch: Sequence[tuple[Notifier, int]], timeout: float) -> bool:
    """Wait until any notifier changed since its given version; ``False`` on timeout."""
    if timeout <= 0:
        return any(n.closed or n.version != v for n, v in watch)
    entry = (asyncio.get_running_loop(), asyncio.Event())
    registered: list[Notifier] = []
    try:
        for notifier, version in watch:
            if not notifier._register(entry, version):
                return True
            registered.append(notifier)
        try:
            await asyncio.wait_for(entry[1].wait(), timeout)
        except TimeoutError:
            return False
        return True
    finally:
        for notifier in registered:
            notifier._unregister(entry)
