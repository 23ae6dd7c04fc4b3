"""The event log behind every stream transport: ids increase by one, history is bounded.

Ids survive a restart: a log starts at the current time in microseconds since the epoch (unless
told otherwise), so a new server process continues above every id an earlier one handed out (it
would have to publish more than a million events a second to catch up with the clock), and a
client resuming with its last id never mistakes new events for replays.

Plans, actions, observations, explanations, registry changes and bus messages publish events
here; WebSocket, SSE and polling read from it. Resuming "after id N" is exact (no gap, no
duplicate) as long as event N+1 is still in the retained history.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._util import format_time
from .bus import any_matches
from .notify import Notifier


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    topic: str
    type: str
    data: Mapping[str, Any]
    source_agent_id: str | None
    correlation_id: str | None
    timestamp: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "topic": self.topic,
            "type": self.type,
            "data": dict(self.data),
            "source_agent_id": self.source_agent_id,
            "correlation_id": self.correlation_id,
            "timestamp": self.timestamp,
        }


class EventLog:
    """Append-only, bounded, thread-safe; :attr:`notifier` wakes readers on every publish."""

    def __init__(self, history: int = 10_000, first_id: int | None = None) -> None:
        """Keep the last ``history`` events; the first gets ``first_id`` (default: the clock in µs)."""
        self._lock = threading.Lock()
        self._events: deque[Event] = deque(maxlen=max(1, history))
        self._first_id = first_id if first_id is not None else time.time_ns() // 1000
        self._next_id = self._first_id
        self.notifier = Notifier()

    @property
    def last_id(self) -> int | None:
        return self._next_id - 1 if self._next_id > self._first_id else None

    def __len__(self) -> int:
        return len(self._events)

    def publish(
        self,
        topic: str,
        data: Mapping[str, Any],
        *,
        type_: str | None = None,
        source_agent_id: str | None = None,
        correlation_id: str | None = None,
    ) -> Event:
        with self._lock:
            event = Event(
                id=self._next_id,
                topic=topic,
                type=type_ or topic,
                data=dict(data),
                source_agent_id=source_agent_id,
                correlation_id=correlation_id,
                timestamp=format_time(time.time()),
            )
            self._next_id += 1
            self._events.append(event)
        self.notifier.notify()
        return event

    def after(self, since: int | None, topics: Sequence[str] | None, limit: int) -> tuple[list[Event], int | None]:
        """Events with id > ``since`` matching ``topics`` (oldest first, at most ``limit``), and the
        id to resume after (the last event examined; ``since`` when nothing newer exists)."""
        with self._lock:
            if not self._events:
                return [], since if since is not None else self.last_id
            first = self._events[0].id
            start = 0 if since is None else min(max(0, since - first + 1), len(self._events))
            # Ids are contiguous, so the start is an index (skipped at C speed, nothing copied before it).
            candidates = list(itertools.islice(self._events, start, None))
        found: list[Event] = []
        resume = since
        for event in candidates:
            if len(found) >= limit:
                break
            resume = event.id
            if any_matches(topics, event.topic):
                found.append(event)
        if resume is None:
            resume = self.last_id
        return found, resume
