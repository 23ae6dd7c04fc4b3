"""``Idempotency-Key`` handling: the first successful answer per (operation, agent, key) is kept
for the TTL (24 h) and replayed for a repeat with the same request; a repeat with a different
request is a 409 conflict, and so is a repeat while the first is still running."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

Key = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class StoredResponse:
    fingerprint: str
    status: int
    body: Any
    stored_at: float


class KeyConflict(Exception):
    """The key was used with a different request, or that request is still running."""


_IN_FLIGHT = object()


class IdempotencyStore:
    def __init__(self, ttl_seconds: float = 24 * 3600.0, max_entries: int = 100_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[Key, StoredResponse | tuple[object, str]] = OrderedDict()

    def begin(self, key: Key, fingerprint: str) -> StoredResponse | None:
        """The stored answer to replay, or ``None`` after reserving the key for this request."""
        now = time.time()
        with self._lock:
            entry = self._entries.get(key)
            if isinstance(entry, StoredResponse) and now - entry.stored_at > self.ttl:
                del self._entries[key]
                entry = None
            if entry is None:
                self._entries[key] = (_IN_FLIGHT, fingerprint)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
                return None
            if isinstance(entry, StoredResponse):
                if entry.fingerprint != fingerprint:
                    raise KeyConflict("The Idempotency-Key was already used with a different request.")
                return entry
            raise KeyConflict("A request with this Idempotency-Key is still being processed.")

    def finish(self, key: Key, fingerprint: str, status: int, body: Any) -> None:
        with self._lock:
            self._entries[key] = StoredResponse(fingerprint, status, body, time.time())

    def abandon(self, key: Key) -> None:
        """Forget the reservation (the request failed: a retry with the key runs again)."""
        with self._lock:
            entry = self._entries.get(key)
            if not isinstance(entry, StoredResponse):
                self._entries.pop(key, None)
