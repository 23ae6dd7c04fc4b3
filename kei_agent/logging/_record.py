"""The record patcher: context fields in, secrets and personal data out - before any sink.

:func:`prepare_record` runs as loguru patcher on the SDK's own loggers (always) and, once the
application calls ``configure_logging``, on every record of the process. It is idempotent and
costs nothing while logging is disabled (loguru returns before patchers run).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._context import context_fields
from ._redact import REDACTED, Redactor

if TYPE_CHECKING:
    from loguru import Record

__all__ = ["INTERNAL_PREFIX", "Settings", "prepare_record", "settings"]

#: Extra keys starting with this prefix are bookkeeping of the SDK's sinks, never rendered.
INTERNAL_PREFIX = "_kei"
_PREPARED = "_kei_prepared"


class Settings:
    """Process-wide logging settings (changed by ``configure_logging``)."""

    __slots__ = ("active", "redactor", "static_fields")

    def __init__(self) -> None:
        self.redactor = Redactor()
        self.static_fields: Mapping[str, Any] = {}
        self.active = False


settings = Settings()


def _trace_fields() -> dict[str, str]:
    # Only when the application already imported OpenTelemetry: never import it from here.
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return {}
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


def prepare_record(record: Record) -> None:
    """Add the logging context and static fields to ``record``, then redact it (idempotent)."""
    extra = record["extra"]
    if extra.get(_PREPARED):
        return
    redactor = settings.redactor
    fields = context_fields()
    if "trace_id" not in fields:
        fields.update(_trace_fields())
    for key, value in fields.items():
        extra.setdefault(key, value)
    for key, value in settings.static_fields.items():
        extra.setdefault(key, value)
    for key in list(extra):
        if key.startswith(INTERNAL_PREFIX):
            continue
        if key != "logger" and redactor.sensitive_key(key):
            extra[key] = REDACTED
        else:
            extra[key] = redactor.value(extra[key])
    record["message"] = redactor.text(record["message"])
    extra[_PREPARED] = True


def core_patcher(record: Record) -> None:
    """The process-wide patcher ``configure_logging`` installs (inactive after ``reset_logging``)."""
    if settings.active:
        prepare_record(record)


def public_extra(extra: Mapping[str, Any]) -> dict[str, Any]:
    """``extra`` without the SDK's bookkeeping keys."""
    return {key: value for key, value in extra.items() if not key.startswith(INTERNAL_PREFIX)}
