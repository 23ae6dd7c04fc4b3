"""The agent registry: registration order, cursor pagination, updates, heartbeats with readiness."""

from __future__ import annotations

import base64
import itertools
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._util import format_time

UPDATABLE = ("name", "description", "capabilities", "version", "endpoint", "metadata")
READY_STATUSES = frozenset({"ready"})


class AgentExists(Exception):
    pass


class AgentNotFound(Exception):
    pass


@dataclass(slots=True)
class AgentRecord:
    seq: int
    agent_id: str
    fields: dict[str, Any]
    status: str
    tenant_id: str | None
    registered_at: float
    updated_at: float
    last_heartbeat_at: float | None = None
    load: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    def effective_status(self, now: float, timeout: float) -> str:
        """The status, ``offline`` once heartbeats stopped for longer than ``timeout``."""
        if self.last_heartbeat_at is not None and now - self.last_heartbeat_at > timeout:
            return "offline"
        return self.status

    def to_json(self, now: float, timeout: float) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "agent_id": self.agent_id,
            "name": self.fields["name"],
            "capabilities": list(self.fields.get("capabilities") or []),
            "status": self.effective_status(now, timeout),
            "metadata": dict(self.fields.get("metadata") or {}),
            "registered_at": format_time(self.registered_at),
            "updated_at": format_time(self.updated_at),
            "last_heartbeat_at": None if self.last_heartbeat_at is None else format_time(self.last_heartbeat_at),
        }
        for key in ("description", "version", "endpoint"):
            if key in self.fields:
                doc[key] = self.fields[key]
        if self.tenant_id is not None:
            doc["tenant_id"] = self.tenant_id
        return doc


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"agents:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int | None:
    """The sequence number in a cursor, or ``None`` for a cursor this server never issued."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    prefix, _, number = raw.partition(":")
    if prefix != "agents" or not number.isdigit():
        return None
    return int(number)


class AgentRegistry:
    """Agents by id, listed in registration order (thread-safe)."""

    def __init__(self, heartbeat_interval: float = 30.0) -> None:
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_timeout = 3 * heartbeat_interval
        self._lock = threading.Lock()
        self._agents: dict[str, AgentRecord] = {}
        self._seq = itertools.count(1)

    def __len__(self) -> int:
        return len(self._agents)

    def register(self, registration: Mapping[str, Any], tenant_id: str | None) -> dict[str, Any]:
        now = time.time()
        with self._lock:
            agent_id = str(registration["agent_id"])
            if agent_id in self._agents:
                raise AgentExists(agent_id)
            fields = {key: registration[key] for key in ("name", *UPDATABLE) if key in registration}
            record = AgentRecord(next(self._seq), agent_id, fields, "registered", tenant_id, now, now)
            self._agents[agent_id] = record
            return record.to_json(now, self.heartbeat_timeout)

    def get(self, agent_id: str) -> dict[str, Any]:
        with self._lock:
            record = self._agents.get(agent_id)
            if record is None:
                raise AgentNotFound(agent_id)
            return record.to_json(time.time(), self.heartbeat_timeout)

    def update(self, agent_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        now = time.time()
        with self._lock:
            record = self._agents.get(agent_id)
            if record is None:
                raise AgentNotFound(agent_id)
            for key in UPDATABLE:
                if key in changes:
                    record.fields[key] = changes[key]
            record.updated_at = now
            return record.to_json(now, self.heartbeat_timeout)

    def delete(self, agent_id: str) -> None:
        with self._lock:
            if self._agents.pop(agent_id, None) is None:
                raise AgentNotFound(agent_id)

    def heartbeat(self, agent_id: str, beat: Mapping[str, Any]) -> dict[str, Any]:
        now = time.time()
        with self._lock:
            record = self._agents.get(agent_id)
            if record is None:
                raise AgentNotFound(agent_id)
            status = beat.get("status")
            if isinstance(status, str):
                record.status = status
            elif record.status in ("registered", "offline"):
                record.status = "ready"
            if isinstance(beat.get("load"), int | float):
                record.load = float(beat["load"])
            if isinstance(beat.get("metrics"), dict):
                record.metrics = dict(beat["metrics"])
            record.last_heartbeat_at = now
            return {
                "agent_id": agent_id,
                "status": record.status,
                "ready": record.status in READY_STATUSES,
                "last_heartbeat_at": format_time(now),
                "next_heartbeat_due_seconds": self.heartbeat_interval,
            }

    def page(
        self, cursor: str | None, limit: int, capability: str | None = None, status: str | None = None
    ) -> dict[str, Any]:
        """One page in registration order. An unknown cursor yields an empty last page."""
        after = 0
        if cursor is not None:
            decoded = decode_cursor(cursor)
            if decoded is None:
                return {"items": [], "next_cursor": None}
            after = decoded
        now = time.time()
        with self._lock:
            records = sorted(self._agents.values(), key=lambda record: record.seq)
        items: list[dict[str, Any]] = []
        next_cursor: str | None = None
        last_seq = after
        for record in records:
            if record.seq <= after:
                continue
            if capability is not None and capability not in (record.fields.get("capabilities") or []):
                continue
            if status is not None and record.effective_status(now, self.heartbeat_timeout) != status:
                continue
            if len(items) == limit:
                next_cursor = encode_cursor(last_seq)
                break
            items.append(record.to_json(now, self.heartbeat_timeout))
            last_seq = record.seq
        return {"items": items, "next_cursor": next_cursor}
