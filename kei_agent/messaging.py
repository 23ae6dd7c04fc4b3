"""Pure helpers of the stream and bus clients (no I/O): event cursors, duplicate detection,
agent inbox subjects, WebSocket frames and reconnect backoff.

* :class:`EventCursor` - the resume point of an event stream. Event ids increase monotonically
  (the spec's ``EventId``: compare as integers), so an event at or below the cursor is a replay
  and is dropped: after a reconnect the consumer sees no duplicate, and resuming "after the
  cursor" leaves no gap.
* :class:`SeenIds` - a bounded memory of message ids (oldest forgotten first): a redelivered bus
  message is recognised by its ``message_id``.
* :func:`agent_inbox_subject` - the bus subject of an agent's inbox (``agents.<id>.inbox``; agent
  ids may hold ``.`` and ``:``, which subject tokens may not, so they are escaped reversibly).
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Final

__all__ = [
    "INBOX_PREFIX",
    "EventCursor",
    "SeenIds",
    "agent_inbox_subject",
    "decode_frame",
    "encode_frame",
]

INBOX_PREFIX: Final = "agents"
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9-]")


def agent_inbox_subject(agent_id: str) -> str:
    """The bus subject of ``agent_id``'s inbox: ``agents.<escaped id>.inbox``.

    Characters other than letters, digits and ``-`` are written ``_xx`` (their hex code), so
    distinct agent ids never share an inbox: ``"report.writer"`` → ``agents.report_2ewriter.inbox``.
    """
    if not agent_id:
        raise ValueError("agent_id must not be empty")
    token = _UNSAFE.sub(lambda match: "".join(f"_{byte:02x}" for byte in match.group().encode()), agent_id)
    return f"{INBOX_PREFIX}.{token}.inbox"


def _event_number(event_id: str) -> int | None:
    return int(event_id) if event_id.isdigit() else None


class EventCursor:
    """The last event id a stream delivered (or the server's position before any event)."""

    __slots__ = ("_value",)

    def __init__(self, since: str | None = None) -> None:
        self._value = since

    @property
    def value(self) -> str | None:
        """The id to resume after (``None``: unknown yet, the stream starts live)."""
        return self._value

    def position(self, event_id: str | None) -> None:
        """Set the cursor from the server's position (``subscribed.last_event_id``, an SSE ``id:``
        without data, a poll's ``last_event_id``) unless events were already seen."""
        if event_id is None:
            return
        if self._value is None or self.is_new(event_id):
            self._value = event_id

    def is_new(self, event_id: str) -> bool:
        """Whether ``event_id`` comes after the cursor (``False``: a replayed duplicate)."""
        if self._value is None:
            return True
        new, old = _event_number(event_id), _event_number(self._value)
        if new is None or old is None:
            return event_id != self._value
        return new > old

    def advance(self, event_id: str) -> bool:
        """Accept ``event_id`` if it is new (moving the cursor); ``False`` for a duplicate."""
        if not self.is_new(event_id):
            return False
        self._value = event_id
        return True


class SeenIds:
    """A bounded set of ids; the oldest are forgotten beyond ``capacity``."""

    __slots__ = ("_capacity", "_ids")

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, item: object) -> bool:
        return item in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, item: str) -> bool:
        """Remember ``item``; ``False`` when it was already known."""
        if item in self._ids:
            self._ids.move_to_end(item)
            return False
        self._ids[item] = None
        if len(self._ids) > self._capacity:
            self._ids.popitem(last=False)
        return True


def encode_frame(kind: str, **fields: Any) -> str:
    """One WebSocket text frame of the spec's ``StreamFrame`` (``None`` fields are left out)."""
    frame: dict[str, Any] = {"type": kind}
    frame.update({key: value for key, value in fields.items() if value is not None})
    return json.dumps(frame, separators=(",", ":"))


def decode_frame(text: str) -> Mapping[str, Any] | None:
    """A received frame as a mapping, ``None`` when it is not one JSON object with a ``type``."""
    try:
        frame = json.loads(text)
    except ValueError:
        return None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        return None
    return frame


def topics_param(topics: Sequence[str] | None) -> str | None:
    """``topics`` as the spec's comma-separated query parameter (``None``: every topic)."""
    if not topics:
        return None
    return ",".join(topics)
