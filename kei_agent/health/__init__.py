"""The health model: statuses, results, summaries, check definitions and probe endpoints.

No I/O happens here: :mod:`kei_agent_async.health` and :mod:`kei_agent_sync.health` run the
checks (``get_health_manager()``), concurrently and each bounded by its ``timeout_seconds``.

* :class:`HealthStatus` - HEALTHY / DEGRADED / UNHEALTHY / UNKNOWN (equal to ``"healthy"``, ...).
* :class:`HealthCheckResult`, :class:`HealthCheckSummary` - what a run returns.
* checks: :class:`APIHealthCheck` (real HTTP), :class:`DatabaseHealthCheck` (PostgreSQL via the
  ``postgres`` extra, SQLite), :class:`MemoryHealthCheck`, :class:`KeiAPIHealthCheck` (the KEI
  server through a client), :class:`CustomHealthCheck` / :class:`BaseHealthCheck` (your own).
* :class:`ProbeApp` - ``GET /health`` (liveness) and ``GET /ready`` (readiness) as ASGI app.
"""

from __future__ import annotations

from ._checks import (
    APIHealthCheck,
    BaseHealthCheck,
    CustomHealthCheck,
    DatabaseHealthCheck,
    HealthCheck,
    KeiAPIHealthCheck,
    MemoryHealthCheck,
    coerce_result,
)
from ._model import HealthCheckResult, HealthCheckSummary, HealthStatus, overall_status, summarize
from ._probe import LIVENESS, PROBE_PATHS, READINESS, ProbeApp, probe_response, route

__all__ = [
    "LIVENESS",
    "PROBE_PATHS",
    "READINESS",
    "APIHealthCheck",
    "BaseHealthCheck",
    "CustomHealthCheck",
    "DatabaseHealthCheck",
    "HealthCheck",
    "HealthCheckResult",
    "HealthCheckSummary",
    "HealthStatus",
    "KeiAPIHealthCheck",
    "MemoryHealthCheck",
    "ProbeApp",
    "coerce_result",
    "overall_status",
    "probe_response",
    "route",
    "summarize",
]
