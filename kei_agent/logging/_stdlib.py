"""Interoperability with the standard library's ``logging``, in both directions.

* :class:`InterceptHandler` - a ``logging.Handler`` that routes stdlib records (httpx, the
  application) into loguru, so they reach the same sinks, with the same context and redaction.
* :func:`propagate_sink` - a loguru sink that hands loguru records to stdlib ``logging`` (logger
  name = the record's ``logger`` field or module), for applications whose handlers live there.

Records that went one way are marked and never sent back, so both can be active at once.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

from ._logger import base_logger
from ._record import public_extra

if TYPE_CHECKING:
    from loguru import Message

__all__ = ["InterceptHandler", "propagate_sink"]

_FROM_LOGURU = "kei_from_loguru"
_FROM_STDLIB = "_kei_from_stdlib"


class InterceptHandler(logging.Handler):
    """Route stdlib ``logging`` records into loguru (level, logger name, exception and caller kept)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Forward one record (records that came from loguru are dropped: no loops)."""
        if getattr(record, _FROM_LOGURU, False):
            return
        try:
            level: str | int = base_logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        frame, depth = sys._getframe(1), 1
        while frame is not None and frame.f_code.co_filename == logging.__file__:
            frame = frame.f_back  # type: ignore[assignment]
            depth += 1
        base_logger.bind(logger=record.name, **{_FROM_STDLIB: True}).opt(depth=depth, exception=record.exc_info).log(
            level, record.getMessage()
        )


def propagate_sink(message: Message) -> None:
    """loguru sink: re-emit the (already redacted) record through stdlib ``logging``."""
    record = message.record
    if record["extra"].get(_FROM_STDLIB):
        return
    extra = public_extra(record["extra"])
    name = extra.pop("logger", None) or record["name"] or "kei_agent"
    target = logging.getLogger(str(name))
    exc_info = None
    if record["exception"] is not None and record["exception"].type is not None:
        info = record["exception"]
        exc_info = (info.type, info.value, info.traceback)
    stdlib_record = target.makeRecord(
        target.name,
        record["level"].no,
        record["file"].path,
        record["line"],
        record["message"],
        (),
        exc_info,  # type: ignore[arg-type]
        record["function"],
        {_FROM_LOGURU: True, "kei_fields": extra},
    )
    target.handle(stdlib_record)
