"""Blocking primitives of the sync flavour (hand-written; the rest of the package is generated).

Offers the same names as ``kei_agent_async/_backend.py`` with thread-based implementations.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

__all__ = ["InFlight", "PolicyLock", "sleep"]


def sleep(seconds: float) -> None:
    """Block the calling thread for ``seconds``."""
    time.sleep(seconds)


class PolicyLock:
    """Guards the pure policies' state against concurrent threads."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the duration of the block."""
        with self._lock:
            yield


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
