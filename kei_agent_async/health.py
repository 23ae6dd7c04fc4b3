"""Health manager: runs health checks concurrently, each bounded by its timeout, and serves the
``/health`` (liveness) and ``/ready`` (readiness) probe endpoints.

::

    from kei_agent import APIHealthCheck, DatabaseHealthCheck
    from kei_agent_async import get_health_manager

    health = get_health_manager()
    health.register_check(APIHealthCheck(name="kei_api", url="https://kei.example.com/api/v1/health"))
    health.register_check(DatabaseHealthCheck(name="db", connection_string="postgresql://..."))
    summary = await health.run_all_checks()
    server = await health.serve("0.0.0.0", 8080)      # GET /health, GET /ready

The checks are defined in :mod:`kei_agent.health` (data); this module runs them for real: an
HTTP request, a database connection and query, the system's memory, the KEI server's health
operation, or your own function.
"""

from __future__ import annotations

import functools
import importlib.util
import inspect
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

from kei_agent.health import (
    LIVENESS,
    APIHealthCheck,
    BaseHealthCheck,
    CustomHealthCheck,
    DatabaseHealthCheck,
    HealthCheck,
    HealthCheckResult,
    HealthCheckSummary,
    HealthStatus,
    KeiAPIHealthCheck,
    MemoryHealthCheck,
    ProbeApp,
    coerce_result,
    probe_response,
    route,
    summarize,
)
from kei_agent.health._checks import MONITORING_EXTRA, POSTGRES_EXTRA
from kei_agent.logging import redact_text
from kei_agent.logging._logger import base_logger

from ._backend import ProbeServer, gather_with_timeouts, run_in_thread, start_probe_server

__all__ = ["HealthManager", "get_health_manager"]

_log = base_logger.bind(component="kei_agent.health")


class _Outcome:
    """What a runner found: status, message, details."""

    __slots__ = ("details", "message", "status")

    def __init__(self, status: HealthStatus, message: str, details: dict[str, Any] | None = None) -> None:
        self.status = status
        self.message = message
        self.details = details or {}


def _error_text(error: BaseException, check: HealthCheck) -> str:
    text = f"{type(error).__name__}: {error}".strip().rstrip(":")
    if isinstance(check, DatabaseHealthCheck):
        text = text.replace(check.connection_string, check.display_url)
    return redact_text(text, pii=False)[:500]


# ------------------------------------------------------------------------------------- runners


async def _run_api(check: APIHealthCheck) -> _Outcome:
    started = time.perf_counter()
    async with httpx.AsyncClient(timeout=check.timeout_seconds, verify=check.verify, follow_redirects=False) as http:
        response = await http.get(check.url, headers=dict(check.headers or {}))
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    details = {"status_code": response.status_code, "response_time_ms": round(elapsed_ms, 3)}
    if response.status_code == check.expected_status:
        return _Outcome(HealthStatus.HEALTHY, f"HTTP {response.status_code}", details)
    return _Outcome(
        HealthStatus.UNHEALTHY, f"expected HTTP {check.expected_status}, got {response.status_code}", details
    )


def _sqlite_query(path: str, query: str, timeout: float) -> Any:
    import sqlite3

    if path != ":memory:" and not Path(path).exists():
        raise FileNotFoundError(f"no SQLite database at {path}")
    connection = sqlite3.connect(path, timeout=timeout)
    try:
        return connection.execute(query).fetchone()
    finally:
        connection.close()


async def _run_database(check: DatabaseHealthCheck) -> _Outcome:
    started = time.perf_counter()
    if check.scheme == "sqlite":
        row = await run_in_thread(_sqlite_query, check.sqlite_path, check.query, check.timeout_seconds)
        server = "sqlite"
    else:
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - checked when the definition is created
            raise RuntimeError(f"psycopg is not installed: {POSTGRES_EXTRA}") from exc
        connect_timeout = max(1, math.ceil(check.timeout_seconds))
        async with await psycopg.AsyncConnection.connect(
            check.connection_string, connect_timeout=connect_timeout, autocommit=True
        ) as connection:
            async with connection.cursor() as cursor:
                await cursor.execute(check.query.encode())
                row = await cursor.fetchone()
            server = f"postgresql {connection.info.server_version}"
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    details = {"database": check.display_url, "server": server, "query_time_ms": round(elapsed_ms, 3)}
    if row is not None and len(row) == 1 and isinstance(row[0], int | float | str | bool):
        details["result"] = row[0]
    return _Outcome(HealthStatus.HEALTHY, f"{check.query} succeeded", details)


def _memory_usage() -> tuple[float, dict[str, Any]]:
    if importlib.util.find_spec("psutil") is not None:
        import psutil

        memory = psutil.virtual_memory()
        return memory.percent / 100.0, {"total_bytes": memory.total, "available_bytes": memory.available}
    try:
        fields = {}
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = int(value.split()[0]) * 1024
        total, available = fields["MemTotal"], fields["MemAvailable"]
    except (OSError, KeyError, ValueError, IndexError) as exc:
        raise RuntimeError(f"cannot read the memory usage on this system: {MONITORING_EXTRA}") from exc
    return (total - available) / total, {"total_bytes": total, "available_bytes": available}


def _run_memory(check: MemoryHealthCheck) -> _Outcome:
    used, details = _memory_usage()
    details["memory_percent"] = round(used * 100.0, 2)
    shown = f"memory {used:.0%} used"
    if used >= check.critical_threshold:
        return _Outcome(HealthStatus.UNHEALTHY, f"{shown} (critical from {check.critical_threshold:.0%})", details)
    if used >= check.warning_threshold:
        return _Outcome(HealthStatus.DEGRADED, f"{shown} (warning from {check.warning_threshold:.0%})", details)
    return _Outcome(HealthStatus.HEALTHY, shown, details)


async def _kei_report(check: KeiAPIHealthCheck, client: Any) -> Any:
    if check.readiness:
        return await client.readiness_check()
    return await client.health_check()


async def _run_kei_api(check: KeiAPIHealthCheck) -> _Outcome:
    if check.client is not None:
        report = await _kei_report(check, check.client)
    else:
        from .client import KeiAgentClient

        assert check.config is not None
        async with KeiAgentClient(check.config) as client:
            report = await _kei_report(check, client)
    status = HealthStatus.coerce(str(getattr(report.status, "value", report.status)))
    components = {name: str(getattr(item.status, "value", item.status)) for name, item in dict(report.checks).items()}
    details: dict[str, Any] = {"components": components}
    for field in ("version", "uptime_seconds", "ready"):
        value = getattr(report, field, None)
        if isinstance(value, str | int | float | bool):
            details[field] = value
    return _Outcome(status, f"KEI API reports {status.value}", details)


async def _run(check: HealthCheck) -> HealthCheckResult:
    started = time.perf_counter()
    outcome: _Outcome
    if isinstance(check, APIHealthCheck):
        outcome = await _run_api(check)
    elif isinstance(check, DatabaseHealthCheck):
        outcome = await _run_database(check)
    elif isinstance(check, MemoryHealthCheck):
        outcome = _run_memory(check)
    elif isinstance(check, KeiAPIHealthCheck):
        outcome = await _run_kei_api(check)
    else:
        if isinstance(check, CustomHealthCheck | BaseHealthCheck):
            value = check.check()
        else:
            raise TypeError(f"unknown health check type {type(check).__name__}")
        if inspect.isawaitable(value):
            value = await value
        return coerce_result(check, value, (time.perf_counter() - started) * 1000.0)
    return HealthCheckResult(
        name=check.name,
        status=outcome.status,
        message=outcome.message,
        details=outcome.details,
        duration_ms=(time.perf_counter() - started) * 1000.0,
        critical=check.critical,
    )


def _failure(check: HealthCheck, error: BaseException, duration_ms: float) -> HealthCheckResult:
    if isinstance(error, TimeoutError):
        message = f"timed out after {check.timeout_seconds:g} s"
        text = f"TimeoutError: the check did not finish within {check.timeout_seconds:g} s"
    else:
        message = "check failed"
        text = _error_text(error, check)
    return HealthCheckResult(
        name=check.name,
        status=HealthStatus.UNHEALTHY,
        message=message,
        error=text,
        duration_ms=duration_ms,
        critical=check.critical,
    )


# -------------------------------------------------------------------------------------- manager


class HealthManager:
    """Registry and runner of health checks; also serves the probe endpoints.

    Checks run concurrently, each bounded by its ``timeout_seconds``; a check that raises or
    times out is UNHEALTHY with the reason in ``error``. See :mod:`kei_agent.health` for the
    rules that decide the overall status.
    """

    def __init__(self, checks: Iterable[HealthCheck] = ()) -> None:
        """Create a manager with ``checks`` registered."""
        self._checks: dict[str, HealthCheck] = {}
        self.last_summary: HealthCheckSummary | None = None
        for check in checks:
            self.register_check(check)

    def __repr__(self) -> str:
        return f"HealthManager(checks={list(self._checks)!r})"

    @property
    def checks(self) -> list[HealthCheck]:
        """The registered checks, in registration order."""
        return list(self._checks.values())

    def register_check(self, check: HealthCheck) -> None:
        """Register ``check`` (a check with the same name is replaced)."""
        if not isinstance(check, HealthCheck):
            raise TypeError(f"register_check() takes a health check, not {type(check).__name__}")
        self._checks[check.name] = check

    def unregister_check(self, name: str) -> bool:
        """Remove the check named ``name``; False if there was none."""
        return self._checks.pop(name, None) is not None

    async def run_check(self, name: str) -> HealthCheckResult:
        """Run one check by name (``KeyError`` if it is not registered)."""
        check = self._checks[name]
        return (await self._run_checks([check]))[0]

    async def run_all_checks(self, *, liveness_only: bool = False) -> HealthCheckSummary:
        """Run every registered check (or only the ``liveness`` ones) concurrently."""
        started = time.perf_counter()
        checks = [check for check in self._checks.values() if check.liveness or not liveness_only]
        results = await self._run_checks(checks)
        summary = summarize(results, (time.perf_counter() - started) * 1000.0)
        if not liveness_only:
            self.last_summary = summary
        return summary

    async def _run_checks(self, checks: list[HealthCheck]) -> list[HealthCheckResult]:
        started = time.perf_counter()
        outcomes = await gather_with_timeouts(
            [(functools.partial(_run, check), float(check.timeout_seconds)) for check in checks]
        )
        results = []
        for check, outcome in zip(checks, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                results.append(_failure(check, outcome, (time.perf_counter() - started) * 1000.0))
            else:
                results.append(outcome)
        return results

    # --------------------------------------------------------------------------------- probes

    async def probe(self, kind: str) -> HealthCheckSummary:
        """The summary of a probe: ``"liveness"`` runs the liveness checks, ``"readiness"`` all."""
        return await self.run_all_checks(liveness_only=kind == LIVENESS)

    async def _probe_and_log(self, kind: str) -> HealthCheckSummary:
        summary = await self.probe(kind)
        for result in summary.checks:
            if result.status is not HealthStatus.HEALTHY:
                _log.warning(
                    "{kind} probe: check {name} is {status}: {message}{error}",
                    kind=kind,
                    name=result.name,
                    status=result.status.value,
                    message=result.message,
                    error=f" ({result.error})" if result.error else "",
                )
        return summary

    def asgi_app(self, *, details: bool = False) -> ProbeApp:
        """The probe endpoints as an ASGI application (mount it in your ASGI server); ``details``
        as for :meth:`serve`."""
        return ProbeApp(self._probe_and_log, details=details)

    async def serve(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        *,
        details: bool = False,
        max_connections: int = 64,
        header_timeout: float = 5.0,
    ) -> ProbeServer:
        """Serve ``GET /health`` (liveness) and ``GET /ready`` (readiness) on ``host:port``.

        Returns the running server (``port=0`` picks a free port: see ``server.port``); close it
        with ``close()``. Use ``host="0.0.0.0"`` for Kubernetes probes.

        The bodies show each check's name and status; failing checks' messages and errors go to
        the log (``details=True`` shows them in the body too - only for a port no stranger can
        reach). At most ``max_connections`` connections are open at once (a new one evicts the
        oldest that has not finished its request) and a request's head must arrive within
        ``header_timeout`` seconds, so idle or trickling connections cannot lock the probes out.
        """

        async def handle(method: str, path: str) -> tuple[int, bytes]:
            found = route(method, path)
            if isinstance(found, tuple):
                return found
            return probe_response(await self._probe_and_log(found), details=details)

        return await start_probe_server(
            host, port, handle, max_connections=max_connections, header_timeout=header_timeout
        )


_manager: HealthManager | None = None


def get_health_manager() -> HealthManager:
    """The process-wide :class:`HealthManager` of this flavour (created on first use)."""
    global _manager
    if _manager is None:
        _manager = HealthManager()
    return _manager
