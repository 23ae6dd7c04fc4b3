"""What the server received: attempts per operation and the headers each request carried.

Client tests count attempts (``server.stats.requests("planTask") == 3``) and assert the headers a
client sent (``server.stats.last_headers("planTask")["idempotency-key"]``). Every request to a spec
operation is recorded before faults, authentication and validation, so rejected and faulted
attempts count too.
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from collections.abc import Mapping, Sequence

from starlette.datastructures import Headers

RawHeaders = Sequence[tuple[bytes, bytes]]


class ServerStats:
    """Thread-safe request counters and header records per operationId."""

    def __init__(self, keep_headers: int = 50) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._headers: dict[str, deque[RawHeaders]] = {}
        self._keep = keep_headers

    def record(self, operation_id: str, raw_headers: RawHeaders) -> None:
        with self._lock:
            self._counts[operation_id] += 1
            kept = self._headers.get(operation_id)
            if kept is None:
                kept = self._headers[operation_id] = deque(maxlen=self._keep)
            kept.append(raw_headers)

    def requests(self, operation_id: str | None = None) -> int:
        """Requests received for ``operation_id`` (all operations when ``None``)."""
        with self._lock:
            if operation_id is None:
                return sum(self._counts.values())
            return self._counts[operation_id]

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def last_headers(self, operation_id: str) -> Mapping[str, str] | None:
        """The headers of the latest request for the operation (case-insensitive), or ``None``."""
        with self._lock:
            kept = self._headers.get(operation_id)
            raw = kept[-1] if kept else None
        return None if raw is None else Headers(raw=list(raw))

    def all_headers(self, operation_id: str) -> list[Mapping[str, str]]:
        """The headers of the latest requests (up to 50, oldest first) for the operation."""
        with self._lock:
            kept = list(self._headers.get(operation_id, ()))
        return [Headers(raw=list(raw)) for raw in kept]

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
            self._headers.clear()
