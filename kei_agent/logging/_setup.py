"""``configure_logging``: the application's one-call opt-in to the SDK's logging.

A library must not touch loguru's sinks; an application may. This is the explicit, app-level
helper that does: it adds the sinks (console, rotating file, audit file), installs the redaction
patcher process-wide, optionally bridges stdlib ``logging`` both ways and enables the SDK's own
records. Calling it again replaces what the previous call set up (no duplicated lines);
:func:`reset_logging` undoes it.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from kei_agent._silence import lazy_logger, set_sdk_logs_enabled

from ._arguments import sink_error, validate_arguments
from ._format import json_format, text_format
from ._logger import EnterpriseLogger, get_logger
from ._record import core_patcher, settings
from ._redact import DEFAULT_PII_KEYS
from ._stdlib import InterceptHandler, propagate_sink

if TYPE_CHECKING:
    from loguru import Record

__all__ = ["SDK_PACKAGES", "configure_logging", "reset_logging"]

#: The SDK's packages: silent until the application enables them (``configure_logging`` does).
SDK_PACKAGES = ("kei_agent", "kei_agent_async", "kei_agent_sync")
#: loguru's logger, imported when logging is first configured.
_loguru = lazy_logger()
DEFAULT_FILE_PATH = "kei-agent.log"
DEFAULT_AUDIT_FILE_PATH = "kei-agent-audit.log"


class _State:
    def __init__(self) -> None:
        self.handler_ids: list[int] = []
        self.intercepted: list[tuple[logging.Logger, bool, int]] = []
        self.intercept_handler: InterceptHandler | None = None
        self.removed_default = False
        self.patcher_installed = False
        self.generation = 0  # sinks of older configurations let no record through
        self.lock = threading.Lock()


_state = _State()


def _is_audit(record: Record) -> bool:
    return bool(record["extra"].get("audit"))


def _main_filter(separate_audit: bool) -> Any:
    if not separate_audit:
        return None
    return lambda record: not _is_audit(record)


def _gated(generation: int, inner: Any) -> Any:
    """A sink filter that passes records only while ``generation`` is the active configuration."""

    def accept(record: Record) -> bool:
        return _state.generation == generation and (inner is None or bool(inner(record)))

    return accept


def _undo_locked() -> None:
    for handler_id in _state.handler_ids:
        with contextlib.suppress(ValueError):  # removed by the application already
            _loguru.remove(handler_id)
    _state.handler_ids.clear()
    for std_logger, propagate, level in _state.intercepted:
        if _state.intercept_handler is not None:
            std_logger.removeHandler(_state.intercept_handler)
        std_logger.propagate = propagate
        std_logger.setLevel(level)
    _state.intercepted.clear()
    _state.intercept_handler = None
    settings.active = False


def _intercept(targets: bool | Sequence[str], level: int) -> None:
    handler = InterceptHandler(level=level)
    _state.intercept_handler = handler
    names: Sequence[str] = [""] if targets is True else list(targets) if targets else []
    for name in names:
        std_logger = logging.getLogger(name or None)
        _state.intercepted.append((std_logger, std_logger.propagate, std_logger.level))
        std_logger.addHandler(handler)
        if name:
            std_logger.propagate = False  # the root logger's handlers would print it a second time
        if std_logger.level == logging.NOTSET or std_logger.level > level:
            std_logger.setLevel(level)


def configure_logging(
    level: str | int = "INFO",
    enable_structured: bool = True,
    enable_console: bool = True,
    enable_file: bool = False,
    file_path: str | Path | None = None,
    extra_fields: Mapping[str, Any] | None = None,
    *,
    rotation: str | int | None = "10 MB",
    retention: str | int | None = 5,
    enable_audit_file: bool = False,
    audit_file_path: str | Path | None = None,
    redact_keys: Iterable[str] = (),
    pii_keys: Iterable[str] = DEFAULT_PII_KEYS,
    redact_pii: bool = True,
    intercept_stdlib: bool | Sequence[str] = False,
    propagate_to_stdlib: bool = False,
    stream: TextIO | None = None,
    enable_sdk_logs: bool = True,
) -> EnterpriseLogger:
    """Set up logging for the application; returns the ``kei_agent`` :class:`EnterpriseLogger`.

    Args:
        level: minimum level of every sink (``"DEBUG"`` shows the SDK's per-call records): a
            loguru or stdlib level name (``"WARN"``, ``"FATAL"`` too) or number (``logging.DEBUG``).
        enable_structured: JSON lines (one object per line) instead of text.
        enable_console: write to ``stream`` (default: ``sys.stderr``).
        enable_file: write to ``file_path`` (default ``kei-agent.log``), rotated at ``rotation``
            (size like ``"10 MB"`` or time like ``"1 day"``), keeping ``retention`` old files
            (a count, or a duration like ``"7 days"``).
        extra_fields: static fields added to every record, e.g. service, environment, version.
        enable_audit_file: write audit records (:func:`kei_agent.logging.audit`) as JSON lines to
            ``audit_file_path`` (default ``kei-agent-audit.log``) and keep them out of the other sinks.
        redact_keys: more field names whose values are secrets (always redacted).
        pii_keys: field names treated as personal data (see ``sanitize_for_logging``).
        redact_pii: redact personal data (field names and value patterns) in every record.
        intercept_stdlib: route stdlib ``logging`` into these sinks: ``True`` for the root logger,
            or a list of logger names such as ``["httpx", "myapp"]``.
        propagate_to_stdlib: also hand every record to stdlib ``logging``.
        enable_sdk_logs: enable the SDK's own records (``kei_agent``, ``kei_agent_async``, ``kei_agent_sync``).

    Every argument is checked before anything changes: a bad one raises
    :class:`~kei_agent.errors.ConfigurationError` naming it, and the previous configuration keeps
    working. The new sinks are added before the old ones are removed (records switch atomically).

    Every sink is created with ``diagnose=False`` (no variable values in tracebacks); all records
    pass the redaction patcher before any sink, including sinks the application adds itself.
    """
    plan = validate_arguments(
        level=level,
        flags={
            "enable_structured": enable_structured,
            "enable_console": enable_console,
            "enable_file": enable_file,
            "enable_audit_file": enable_audit_file,
            "redact_pii": redact_pii,
            "propagate_to_stdlib": propagate_to_stdlib,
            "enable_sdk_logs": enable_sdk_logs,
        },
        paths={"file_path": file_path, "audit_file_path": audit_file_path},
        extra_fields=extra_fields,
        rotation=rotation,
        retention=retention,
        redact_keys=redact_keys,
        pii_keys=pii_keys,
        intercept_stdlib=intercept_stdlib,
        stream=stream,
    )
    with _state.lock:
        generation = _state.generation + 1
        fmt = json_format if enable_structured else text_format
        main_filter = _gated(generation, _main_filter(enable_audit_file))
        common: dict[str, Any] = {"level": plan.level_no, "diagnose": False, "backtrace": False, "colorize": False}
        new_ids: list[int] = []
        try:
            argument = "stream"
            if enable_console:
                new_ids.append(
                    _loguru.add(stream if stream is not None else sys.stderr, format=fmt, filter=main_filter, **common)
                )
            if enable_file:
                argument = "file_path"
                path = Path(file_path or DEFAULT_FILE_PATH)
                path.parent.mkdir(parents=True, exist_ok=True)
                new_ids.append(
                    _loguru.add(
                        str(path),
                        format=fmt,
                        filter=main_filter,
                        rotation=rotation,
                        retention=retention,
                        encoding="utf-8",
                        **common,
                    )
                )
            if enable_audit_file:
                argument = "audit_file_path"
                path = Path(audit_file_path or DEFAULT_AUDIT_FILE_PATH)
                path.parent.mkdir(parents=True, exist_ok=True)
                new_ids.append(
                    _loguru.add(
                        str(path),
                        format=json_format,
                        filter=_gated(generation, _is_audit),
                        rotation=rotation,
                        retention=retention,
                        encoding="utf-8",
                        **{**common, "level": 0},
                    )
                )
            if propagate_to_stdlib:
                new_ids.append(_loguru.add(propagate_sink, format="{message}", filter=main_filter, **common))
        except (OSError, ValueError, TypeError) as exc:
            for handler_id in new_ids:
                with contextlib.suppress(ValueError):
                    _loguru.remove(handler_id)
            raise sink_error(exc, argument, {"rotation": rotation, "retention": retention}) from None
        # Everything is in place: switch over (the old sinks stop at once), then tidy up.
        _state.generation = generation
        _undo_locked()
        _state.handler_ids.extend(new_ids)
        settings.redactor = plan.redactor
        settings.static_fields = dict(extra_fields or {})
        settings.active = True
        if not _state.patcher_installed:
            _loguru.configure(patcher=core_patcher)
            _state.patcher_installed = True
        if not _state.removed_default:
            with contextlib.suppress(ValueError):  # loguru's own stderr sink would print every line twice
                _loguru.remove(0)
            _state.removed_default = True
        if intercept_stdlib:
            _intercept(intercept_stdlib, plan.level_no)
        set_sdk_logs_enabled(enable_sdk_logs)
        for package in SDK_PACKAGES:
            if enable_sdk_logs:
                _loguru.enable(package)
            else:
                _loguru.disable(package)
    return get_logger("kei_agent")


def reset_logging() -> None:
    """Undo :func:`configure_logging`: remove its sinks and stdlib handlers, silence the SDK again.

    loguru's default stderr sink (removed by the first ``configure_logging``) is not added back:
    add your own sinks with ``loguru.logger.add`` if you still want loguru output.
    """
    with _state.lock:
        _undo_locked()
        set_sdk_logs_enabled(False)
        for package in SDK_PACKAGES:
            _loguru.disable(package)
