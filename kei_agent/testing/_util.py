"""Small shared helpers: RFC 3339 timestamps, id counters, compact JSON."""

from __future__ import annotations

import itertools
import json
import threading
import time
from datetime import UTC, datetime
from typing import Any


def utc_now() -> str:
    """The current time as RFC 3339 in UTC with a ``Z`` suffix (millisecond precision)."""
    return format_time(time.time())


def format_time(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class IdFactory:
    """Thread-safe sequential ids per prefix: ``plan-000001``, ``act-000001``, ..."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, itertools.count[int]] = {}

    def next(self, prefix: str) -> str:
        return f"{prefix}-{self.number(prefix):06d}"

    def number(self, prefix: str) -> int:
        with self._lock:
            counter = self._counters.get(prefix)
            if counter is None:
                counter = self._counters[prefix] = itertools.count(1)
            return next(counter)


_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def dumps(value: Any) -> bytes:
    """Compact JSON as UTF-8 bytes (NaN/Infinity are refused: they are not JSON)."""
    return _encoder.encode(value).encode("utf-8")


def canonical(value: Any) -> str:
    """A stable text form of a JSON value (sorted keys) for fingerprints."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
