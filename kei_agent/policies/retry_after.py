"""Parsing the server's wait hints: ``retry-after-ms`` and ``Retry-After`` (seconds or HTTP date)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

__all__ = ["parse_retry_after"]

# RFC 9110 delay-seconds is 1*DIGIT; fractions are accepted, signs, exponents, nan and inf are not.
_SECONDS: Final = re.compile(r"\d+(?:\.\d+)?")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    for key, candidate in headers.items():  # plain dicts are case-sensitive; HTTP headers are not
        if key.lower() == name:
            return candidate
    return None


def _seconds(text: str) -> float | None:
    text = text.strip()
    return float(text) if _SECONDS.fullmatch(text) else None


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the server asks the client to wait, or ``None`` when it gave no usable hint.

    * ``retry-after-ms`` (milliseconds, may be fractional) wins when valid;
    * else ``Retry-After`` as delay-seconds (an integer; fractions accepted);
    * else ``Retry-After`` as an HTTP date, relative to ``now`` (default: the current UTC time);
      a date in the past gives ``0.0``.

    Anything else (negative numbers, ``nan``, garbage, an unparsable date) gives ``None``.
    Header names are matched case-insensitively.
    """
    milliseconds = _header(headers, "retry-after-ms")
    if milliseconds is not None:
        value = _seconds(milliseconds)
        if value is not None:
            return value / 1000.0
    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    value = _seconds(raw)
    if value is not None:
        return value
    try:
        import email.utils  # only HTTP dates need it (a few ms of import)

        when = email.utils.parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else datetime.now(UTC)
    if current.tzinfo is None:
        current = current.replace(tzinfo=UTC)
    return max(0.0, (when - current).total_seconds())
