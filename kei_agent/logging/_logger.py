"""``EnterpriseLogger``: structured logging with context, operations, performance and security events.

A thin layer over loguru's one process-wide logger: records carry the logger's name in ``logger``,
the keyword fields of each call, the :class:`~kei_agent.logging.LogContext` and are redacted before
any sink sees them. Nothing is printed until the application adds sinks (``configure_logging`` or
its own ``logger.add``); records are attributed to the calling module, so the SDK's own records
stay silent until the application enables ``kei_agent``, ``kei_agent_async`` or ``kei_agent_sync``.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import TYPE_CHECKING, Any, Final

from kei_agent._silence import lazy_logger

from ._context import LogContext, clear_context, create_correlation_id, get_context, set_context
from ._record import prepare_record

if TYPE_CHECKING:
    from loguru import Logger

__all__ = ["EnterpriseLogger", "get_logger"]

#: Severity of a security event → log level.
SECURITY_LEVELS: Final = {"low": "INFO", "medium": "WARNING", "high": "ERROR", "critical": "CRITICAL"}
_MAX_OPEN_OPERATIONS = 10_000

#: The SDK's base logger: every record passes the redaction patcher, whoever adds the sinks.
#: loguru itself is imported when the first record is emitted (``kei_agent._silence``).
base_logger: Logger = lazy_logger().patch(prepare_record)


def _escape(message: str) -> str:
    # Fields are passed as keyword arguments, which makes loguru call str.format on the message.
    return message.replace("{", "{{").replace("}", "}}")


class EnterpriseLogger:
    """A named structured logger; get one with :func:`get_logger`.

    Every method takes the message and any keyword fields, which become fields of the record:
    ``logger.info("plan created", plan_id=plan["plan_id"])``.
    """

    __slots__ = ("_lock", "_open", "_targets", "name")

    def __init__(self, name: str) -> None:
        """Create a logger named ``name`` (shown as ``logger`` in each record)."""
        self.name = name
        bound = base_logger.bind(logger=name)
        # Records are attributed to the caller of the public method: depth 2 skips _emit and the
        # public method, depth 3 one helper more (see _performance).
        self._targets = {
            (depth, exception): bound.opt(depth=depth, exception=exception)
            for depth in (2, 3)
            for exception in (False, True)
        }
        self._open: dict[str, float] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"EnterpriseLogger(name={self.name!r})"

    # ------------------------------------------------------------------------------ emitting

    def _emit(
        self,
        level: str,
        message: str,
        fields: dict[str, Any],
        *,
        exception: bool = False,
        depth: int = 2,
        template: bool = False,
    ) -> None:
        # With ``template`` the message is a str.format template over ``fields``: loguru formats it
        # only when the record is emitted, so a disabled record costs no string formatting.
        target = self._targets[depth, exception]
        if fields:
            target.log(level, message if template else _escape(message), **fields)
        else:
            target.log(level, message)

    def debug(self, message: str, /, **fields: Any) -> None:
        """Log at DEBUG."""
        self._emit("DEBUG", message, fields)

    def info(self, message: str, /, **fields: Any) -> None:
        """Log at INFO."""
        self._emit("INFO", message, fields)

    def warning(self, message: str, /, **fields: Any) -> None:
        """Log at WARNING."""
        self._emit("WARNING", message, fields)

    def error(self, message: str, /, **fields: Any) -> None:
        """Log at ERROR."""
        self._emit("ERROR", message, fields)

    def critical(self, message: str, /, **fields: Any) -> None:
        """Log at CRITICAL."""
        self._emit("CRITICAL", message, fields)

    def exception(self, message: str, /, **fields: Any) -> None:
        """Log at ERROR with the exception being handled (type, message and traceback)."""
        self._emit("ERROR", message, fields, exception=True)

    # ------------------------------------------------------------------------------- context

    @staticmethod
    def create_correlation_id() -> str:
        """Start a new correlation id in the current context (the client sends it) and return it."""
        return create_correlation_id()

    @staticmethod
    def set_context(context: LogContext) -> None:
        """Make ``context`` current for this task or thread (see :func:`kei_agent.logging.set_context`)."""
        set_context(context)

    @staticmethod
    def get_context() -> LogContext:
        """The current context."""
        return get_context()

    @staticmethod
    def clear_context() -> None:
        """Forget the current context and correlation id."""
        clear_context()

    # ---------------------------------------------------------------------------- operations

    def log_operation_start(self, operation: str, **fields: Any) -> str:
        """Log the start of ``operation``; returns its ``operation_id`` for :meth:`log_operation_end`."""
        operation_id = uuid.uuid4().hex
        with self._lock:
            if len(self._open) >= _MAX_OPEN_OPERATIONS:
                self._open.pop(next(iter(self._open)))
            self._open[operation_id] = time.time()
        self._emit(
            "INFO",
            f"operation started: {operation}",
            {**fields, "event": "operation_start", "operation": operation, "operation_id": operation_id},
        )
        return operation_id

    def log_operation_end(
        self,
        operation: str,
        operation_id: str,
        start_time: float | None = None,
        success: bool = True,
        **fields: Any,
    ) -> float:
        """Log the end of ``operation`` with its duration; returns the duration in milliseconds.

        ``start_time`` is the ``time.time()`` taken when the operation started; when omitted, the
        time of the matching :meth:`log_operation_start` is used.
        """
        with self._lock:
            started = self._open.pop(operation_id, None)
        begin = start_time if start_time is not None else started
        duration_ms = max(0.0, (time.time() - begin) * 1000.0) if begin is not None else 0.0
        outcome = "succeeded" if success else "failed"
        self._emit(
            "INFO" if success else "ERROR",
            f"operation {outcome}: {operation} ({duration_ms:.1f} ms)",
            {
                **fields,
                "event": "operation_end",
                "operation": operation,
                "operation_id": operation_id,
                "success": success,
                "duration_ms": round(duration_ms, 3),
            },
        )
        return duration_ms

    def log_performance(self, operation: str, duration_ms: float, **metrics: Any) -> None:
        """Log a duration (and any other measurements) of ``operation`` at INFO."""
        self._performance("INFO", operation, duration_ms, metrics, depth=3)

    def _performance(
        self, level: str, operation: str, duration_ms: float, metrics: dict[str, Any], *, depth: int = 2
    ) -> None:
        # The SDK's pipeline calls this directly (depth 2: attributed to the pipeline's module).
        fields = {**metrics, "event": "performance", "operation": operation, "duration_ms": round(duration_ms, 3)}
        self._emit(level, "performance: {operation} took {duration_ms} ms", fields, depth=depth, template=True)

    def log_security_event(self, event_type: str, severity: str, description: str, **fields: Any) -> None:
        """Log a security event; ``severity`` low/medium/high/critical maps to INFO/WARNING/ERROR/CRITICAL."""
        level = SECURITY_LEVELS.get(severity.lower(), "WARNING")
        self._emit(
            level,
            f"security event {event_type}: {description}",
            {**fields, "event": "security", "security_event": event_type, "severity": severity.lower()},
        )

    def log_audit_event(self, action: str, resource: str | None = None, result: str = "success", **fields: Any) -> None:
        """Write an audit record (the audit channel, see :func:`kei_agent.logging.audit`)."""
        from ._audit import audit_fields

        self._emit("INFO", f"audit: {action}", audit_fields(action, outcome=result, resource=resource, **fields))


_loggers: dict[str, EnterpriseLogger] = {}
_loggers_lock = threading.Lock()


def get_logger(name: str) -> EnterpriseLogger:
    """The :class:`EnterpriseLogger` named ``name`` (one instance per name)."""
    found = _loggers.get(name)
    if found is None:
        with _loggers_lock:
            found = _loggers.setdefault(name, EnterpriseLogger(name))
    return found
