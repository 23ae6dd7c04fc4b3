"""All of a server's state, in memory: survives :meth:`ServerHandle.restart`, not the process.

``server.state`` gives tests and users direct access: ``state.plans`` (and ``action_results``,
``observations``, ``explanations``), ``state.agents`` (registry), ``state.bus``, ``state.events``
(event log), ``state.tools`` (MCP tools: ``register``), ``state.actions`` (built-in actions and
custom operations: ``register_action`` / ``register_operation``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Generic, TypeVar

from ._util import IdFactory
from .actions import ActionRegistry
from .bus import Bus
from .events import EventLog
from .idempotency import IdempotencyStore
from .mcp import ToolRegistry
from .registry import AgentRegistry
from .settings import ServerSettings

T = TypeVar("T")


class RecordStore(Generic[T]):
    """Records by id in creation order, bounded (the oldest are forgotten), thread-safe."""

    def __init__(self, limit: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._records: OrderedDict[str, T] = OrderedDict()
        self._limit = limit

    def put(self, record_id: str, record: T) -> None:
        with self._lock:
            self._records[record_id] = record
            while len(self._records) > self._limit:
                self._records.popitem(last=False)

    def get(self, record_id: str) -> T | None:
        with self._lock:
            return self._records.get(record_id)

    def latest(self) -> T | None:
        with self._lock:
            return next(reversed(self._records.values()), None)

    def values(self) -> list[T]:
        with self._lock:
            return list(self._records.values())

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._records


class ServerState:
    """The stores of one server."""

    def __init__(self, settings: ServerSettings | None = None) -> None:
        settings = settings or ServerSettings()
        self.ids = IdFactory()
        self.started_at = time.time()
        self.plans: RecordStore[dict[str, Any]] = RecordStore()
        self.plan_progress: RecordStore[dict[str, str]] = RecordStore()
        self.action_results: RecordStore[dict[str, Any]] = RecordStore()
        self.observations: RecordStore[dict[str, Any]] = RecordStore()
        self.explanations: RecordStore[dict[str, Any]] = RecordStore()
        self.agents = AgentRegistry(settings.heartbeat_interval_seconds)
        self.bus = Bus(settings.bus_queue_limit)
        self.events = EventLog(settings.event_history, settings.first_event_id)
        self.tools = ToolRegistry()
        self.actions = ActionRegistry(settings.max_action_sleep_seconds)
        self.idempotency = IdempotencyStore(settings.idempotency_ttl_seconds)
