"""Tracing and metrics for the clients: OpenTelemetry when installed, nothing otherwise.

:func:`get_instrumentation` returns the process-wide :class:`Instrumentation`: with the ``otel``
extra (``pip install "kei-agent-py-sdk[otel]"``) it records a span ``kei_agent.<operationId>`` per
operation call with a child span per HTTP attempt, propagates W3C ``traceparent``, and records
metrics (call and attempt durations, attempts, retries, breaker transitions, token refreshes)
through the global OpenTelemetry providers. Without OpenTelemetry nothing is imported and every
hook is an empty call.

Auth strategies report credential refreshes with ``get_instrumentation().token_refresh(...)``.
"""

from __future__ import annotations

import importlib.util
import os
import threading

from ._base import AttemptScope, Instrumentation, OperationScope

__all__ = ["AttemptScope", "Instrumentation", "OperationScope", "get_instrumentation", "set_instrumentation"]

_instance: Instrumentation | None = None
_lock = threading.Lock()


def _otel_available() -> bool:
    if os.environ.get("KEI_OTEL_DISABLED", "").strip().lower() in ("1", "true", "yes", "on"):
        return False
    try:
        return importlib.util.find_spec("opentelemetry.trace") is not None
    except (ImportError, ValueError):
        return False


def get_instrumentation() -> Instrumentation:
    """The process-wide instrumentation (decided once: OpenTelemetry installed or not).

    Set ``KEI_OTEL_DISABLED=1`` to keep the clients away from OpenTelemetry even when installed.
    """
    global _instance
    if _instance is None:
        with _lock:
            if _instance is None:
                if _otel_available():
                    from ._otel import OtelInstrumentation

                    _instance = OtelInstrumentation()
                else:
                    _instance = Instrumentation()
    return _instance


def set_instrumentation(instrumentation: Instrumentation | None) -> None:
    """Replace the process-wide instrumentation (``None``: decide again on next use).

    Clients pick it up when they are created.
    """
    global _instance
    _instance = instrumentation
