"""Formatters of the sinks ``configure_logging`` creates: one JSON object per line, or text.

A JSON line holds ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, ``module``,
``function``, ``line``, the context fields (``correlation_id``, ``trace_id``, ``user_id``, ...),
the record's extra fields and the static ``extra_fields``; an exception adds
``exception: {type, message, traceback}``. Extra fields never overwrite these keys: a clashing
field is kept under ``extra``.
"""

from __future__ import annotations

import datetime as _dt
import enum
import json
import traceback
from typing import TYPE_CHECKING, Any

from kei_agent.secrets import Secret

from ._context import CONTEXT_FIELDS
from ._record import public_extra, settings

if TYPE_CHECKING:
    from loguru import Record

__all__ = ["json_format", "render_json", "text_format"]

_RESERVED = frozenset({"timestamp", "level", "logger", "message", "module", "function", "line", "exception", "extra"})


def _default(value: Any) -> Any:
    if isinstance(value, Secret):
        return str(value)
    if isinstance(value, _dt.datetime | _dt.date | _dt.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _timestamp(record: Record) -> str:
    moment = record["time"].astimezone(_dt.UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _exception(record: Record) -> dict[str, str] | None:
    info = record["exception"]
    if info is None or info.type is None:
        return None
    text = "".join(traceback.format_exception(info.type, info.value, info.traceback))
    redactor = settings.redactor
    return {
        "type": info.type.__name__,
        "message": redactor.text(str(info.value)),
        "traceback": redactor.text(text),
    }


def render_json(record: Record) -> str:
    """The JSON line (without newline) of one record."""
    extra = public_extra(record["extra"])
    data: dict[str, Any] = {
        "timestamp": _timestamp(record),
        "level": record["level"].name,
        "logger": extra.pop("logger", None) or record["name"],
        "message": record["message"],
        "module": record["name"],
        "function": record["function"],
        "line": record["line"],
    }
    for name in CONTEXT_FIELDS:
        if name in extra:
            data[name] = extra.pop(name)
    clashes: dict[str, Any] = {}
    for key, value in extra.items():
        if key in _RESERVED or key in data:
            clashes[key] = value
        else:
            data[key] = value
    if clashes:
        data["extra"] = clashes
    exception = _exception(record)
    if exception is not None:
        data["exception"] = exception
    return json.dumps(data, default=_default, ensure_ascii=False)


def json_format(record: Record) -> str:
    """loguru ``format`` callable of the JSON sinks."""
    record["extra"]["_kei_line"] = render_json(record)
    return "{extra[_kei_line]}\n"


def text_format(record: Record) -> str:
    """loguru ``format`` callable of the text sinks: time, level, logger, message, then key=value."""
    extra = public_extra(record["extra"])
    logger_name = extra.pop("logger", None) or record["name"] or ""
    fields = " ".join(
        f"{key}={json.dumps(value, default=_default, ensure_ascii=False)}" for key, value in extra.items()
    )
    exception = _exception(record)
    record["extra"]["_kei_logger"] = logger_name
    record["extra"]["_kei_fields"] = f" | {fields}" if fields else ""
    record["extra"]["_kei_exc"] = f"\n{exception['traceback'].rstrip()}" if exception else ""
    return (
        "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <8} | {extra[_kei_logger]} | {message}"
        "{extra[_kei_fields]}{extra[_kei_exc]}\n"
    )
