"""Async primitives of the async flavour (hand-written; excluded from the unasync rewrite).

Everything that differs between the flavours beyond ``async``/``await`` lives here and in
``kei_agent_sync/_backend.py``, which offers the same names with blocking implementations.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

__all__ = ["InFlight", "PolicyLock", "sleep"]


async def sleep(seconds: float) -> None:
    """Sleep without blocking the event loop."""
    await asyncio.sleep(seconds)


class PolicyLock:
    """Guards the pure policies' state. Policy methods never await, so on one event loop they
    are atomic already: this lock costs nothing and exists so the sync flavour can use a real one.
    """

    __slots__ = ()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the duration of the block."""
        yield


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
