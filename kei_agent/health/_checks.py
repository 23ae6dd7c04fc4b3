"""Health check definitions: what to check, as data. The flavour packages run them.

Every check has a ``name``, ``critical`` (a failing critical check makes the whole UNHEALTHY, a
failing non-critical one only DEGRADED), ``timeout_seconds`` (the check fails when it takes
longer) and ``liveness`` (include it in the liveness probe ``/health``; every check is part of the
readiness probe ``/ready``). Definitions are validated when they are created and report every
problem at once as :class:`~kei_agent.errors.ConfigurationError`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import attrs

from kei_agent.config import AgentClientConfig
from kei_agent.errors import ConfigurationError, FieldProblem, redact_url

from ._model import HealthCheckResult, HealthStatus

__all__ = [
    "APIHealthCheck",
    "BaseHealthCheck",
    "CustomHealthCheck",
    "DatabaseHealthCheck",
    "HealthCheck",
    "KeiAPIHealthCheck",
    "MemoryHealthCheck",
    "coerce_result",
]

DEFAULT_TIMEOUT: Final = 5.0
POSTGRES_EXTRA: Final = 'pip install "kei-agent-py-sdk[postgres]"'
MONITORING_EXTRA: Final = 'pip install "kei-agent-py-sdk[monitoring]"'


class HealthCheck:
    """Base of every check definition (see the module docs for the common fields)."""

    name: str
    critical: bool
    timeout_seconds: float
    liveness: bool


def _common_problems(check: HealthCheck) -> list[FieldProblem]:
    problems = []
    if not isinstance(check.name, str) or not check.name.strip():
        problems.append(FieldProblem("name", "must be a non-empty string"))
    timeout = check.timeout_seconds
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 3600:
        problems.append(FieldProblem("timeout_seconds", f"must be a number of seconds in (0, 3600], got {timeout!r}"))
    return problems


def _raise(check: HealthCheck, problems: list[FieldProblem]) -> None:
    if problems:
        raise ConfigurationError(problems, title=f"Invalid {type(check).__name__}")


class BaseHealthCheck(HealthCheck):
    """Subclass and implement :meth:`check` for your own checks.

    ``check`` returns a :class:`HealthStatus` (or ``"healthy"``, ``True``, ...), a
    ``(status, message)`` or ``(status, message, details)`` tuple, or a
    :class:`HealthCheckResult`; raising an exception makes the check UNHEALTHY. In the async
    flavour it may be ``async def``.
    """

    def __init__(
        self,
        name: str,
        *,
        critical: bool = True,
        timeout_seconds: float = DEFAULT_TIMEOUT,
        liveness: bool = False,
    ) -> None:
        """Define the check ``name``."""
        self.name = name
        self.critical = critical
        self.timeout_seconds = timeout_seconds
        self.liveness = liveness
        _raise(self, _common_problems(self))

    def check(self) -> Any:
        """Run the check (override this)."""
        raise NotImplementedError(f"{type(self).__name__} must implement check()")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, critical={self.critical})"


def _headers_repr(value: Mapping[str, str] | None) -> str:
    return "None" if value is None else repr(dict.fromkeys(value, "***"))


@attrs.frozen
class APIHealthCheck(HealthCheck):
    """A real HTTP ``GET`` of ``url``: HEALTHY when it answers ``expected_status`` in time.

    ``headers`` are sent with the request (their values never appear in ``repr``); ``verify`` is
    ``True``, ``False`` or a CA bundle path.
    """

    name: str
    url: str = attrs.field(repr=lambda value: repr(redact_url(value)))
    critical: bool = attrs.field(default=True, kw_only=True)
    timeout_seconds: float = attrs.field(default=DEFAULT_TIMEOUT, kw_only=True)
    liveness: bool = attrs.field(default=False, kw_only=True)
    expected_status: int = attrs.field(default=200, kw_only=True)
    headers: Mapping[str, str] | None = attrs.field(default=None, kw_only=True, repr=_headers_repr)
    verify: bool | str = attrs.field(default=True, kw_only=True)

    def __attrs_post_init__(self) -> None:
        problems = _common_problems(self)
        try:
            parts = urlsplit(self.url) if isinstance(self.url, str) else None
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(
                FieldProblem("url", "must be an http:// or https:// URL", "e.g. https://api.example.com/health")
            )
        status = self.expected_status
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            problems.append(FieldProblem("expected_status", f"must be an HTTP status code, got {status!r}"))
        _raise(self, problems)


@attrs.frozen
class DatabaseHealthCheck(HealthCheck):
    """A real connection to a database that runs ``query`` (default ``SELECT 1``).

    ``postgresql://user:password@host:port/db`` (also ``postgres://``) uses psycopg from the
    ``postgres`` extra; ``sqlite:///relative.db``, ``sqlite:////absolute.db`` and
    ``sqlite:///:memory:`` use the standard library. The password never appears in ``repr`` or
    in results.
    """

    name: str
    connection_string: str = attrs.field(repr=lambda value: repr(redact_url(value)))
    critical: bool = attrs.field(default=True, kw_only=True)
    timeout_seconds: float = attrs.field(default=DEFAULT_TIMEOUT, kw_only=True)
    liveness: bool = attrs.field(default=False, kw_only=True)
    query: str = attrs.field(default="SELECT 1", kw_only=True)

    def __attrs_post_init__(self) -> None:
        problems = _common_problems(self)
        scheme = self.scheme
        if scheme == "postgresql":
            if importlib.util.find_spec("psycopg") is None:
                problems.append(
                    FieldProblem(
                        "connection_string", "postgresql:// needs psycopg, which is not installed", POSTGRES_EXTRA
                    )
                )
        elif scheme != "sqlite":
            shown = scheme or "none"
            problems.append(
                FieldProblem(
                    "connection_string",
                    f"unsupported database scheme {shown!r}",
                    f"use postgresql:// ({POSTGRES_EXTRA}) or sqlite:///path.db",
                )
            )
        if not isinstance(self.query, str) or not self.query.strip():
            problems.append(FieldProblem("query", "must be a non-empty SQL statement"))
        _raise(self, problems)

    @property
    def scheme(self) -> str:
        """``postgresql``, ``sqlite`` or the unsupported scheme given."""
        text: object = self.connection_string
        if not isinstance(text, str):
            return ""
        scheme = self.connection_string.partition("://")[0].lower() if "://" in self.connection_string else ""
        base = scheme.split("+", 1)[0]
        return "postgresql" if base in ("postgresql", "postgres") else base

    @property
    def sqlite_path(self) -> str:
        """The database file of a ``sqlite:///`` URL (``:memory:`` for an in-memory database)."""
        rest = self.connection_string.partition("://")[2]
        path = rest[1:] if rest.startswith("/") else rest
        return unquote(path) or ":memory:"

    @property
    def display_url(self) -> str:
        """The connection string without password (for messages)."""
        return redact_url(self.connection_string)


def _fraction(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 1


@attrs.frozen
class MemoryHealthCheck(HealthCheck):
    """System memory in use (psutil from the ``monitoring`` extra, else ``/proc/meminfo``).

    DEGRADED from ``warning_threshold``, UNHEALTHY from ``critical_threshold`` (fractions of the
    total, e.g. 0.8 and 0.95). Not critical by default: low memory degrades, it does not make the
    service unready.
    """

    name: str = "memory"
    warning_threshold: float = 0.85
    critical_threshold: float = 0.95
    critical: bool = attrs.field(default=False, kw_only=True)
    timeout_seconds: float = attrs.field(default=DEFAULT_TIMEOUT, kw_only=True)
    liveness: bool = attrs.field(default=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        problems = _common_problems(self)
        for field in ("warning_threshold", "critical_threshold"):
            if not _fraction(getattr(self, field)):
                problems.append(FieldProblem(field, "must be a fraction in (0, 1]", "e.g. 0.8 for 80 %"))
        if not problems and self.warning_threshold > self.critical_threshold:
            problems.append(FieldProblem("warning_threshold", "must not exceed critical_threshold"))
        _raise(self, problems)


@attrs.frozen
class KeiAPIHealthCheck(HealthCheck):
    """The KEI server's own health operation (``GET /api/v1/health``, or ``/ready`` with
    ``readiness=True``) through a client: pass an open ``client`` (either flavour, matching the
    health manager) or a ``config`` to use a short-lived client per run. The server's reported
    status becomes the check's status.
    """

    name: str = "kei_api"
    client: Any = attrs.field(default=None, kw_only=True, repr=lambda value: "<client>" if value else "None")
    config: AgentClientConfig | None = attrs.field(default=None, kw_only=True)
    critical: bool = attrs.field(default=True, kw_only=True)
    timeout_seconds: float = attrs.field(default=DEFAULT_TIMEOUT, kw_only=True)
    liveness: bool = attrs.field(default=False, kw_only=True)
    readiness: bool = attrs.field(default=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        problems = _common_problems(self)
        if (self.client is None) == (self.config is None):
            problems.append(FieldProblem("client", "give exactly one of client and config"))
        elif self.client is not None and not callable(getattr(self.client, "health_check", None)):
            problems.append(FieldProblem("client", "must be a KeiAgentClient"))
        _raise(self, problems)


@attrs.frozen
class CustomHealthCheck(HealthCheck):
    """Any callable as a check (``async`` allowed in the async flavour); see :class:`BaseHealthCheck`
    for what it may return."""

    name: str
    check: Callable[[], Any]
    critical: bool = attrs.field(default=True, kw_only=True)
    timeout_seconds: float = attrs.field(default=DEFAULT_TIMEOUT, kw_only=True)
    liveness: bool = attrs.field(default=False, kw_only=True)

    def __attrs_post_init__(self) -> None:
        problems = _common_problems(self)
        function: object = self.check
        if not callable(function):
            problems.append(FieldProblem("check", "must be callable"))
        _raise(self, problems)


def coerce_result(check: HealthCheck, value: Any, duration_ms: float) -> HealthCheckResult:
    """Turn what a custom check returned into a :class:`HealthCheckResult`."""
    message = ""
    details: Mapping[str, Any] = {}
    if isinstance(value, HealthCheckResult):
        return attrs.evolve(value, name=check.name, critical=check.critical, duration_ms=duration_ms)
    if value is None:
        status = HealthStatus.HEALTHY
    elif isinstance(value, tuple) and value:
        status = HealthStatus.coerce(value[0])
        message = str(value[1]) if len(value) > 1 else ""
        details = dict(value[2]) if len(value) > 2 and isinstance(value[2], Mapping) else {}
    elif isinstance(value, Mapping):
        status = HealthStatus.coerce(value.get("status", HealthStatus.UNKNOWN))
        message = str(value.get("message", ""))
        details = dict(value.get("details") or {})
    else:
        status = HealthStatus.coerce(value)
    return HealthCheckResult(
        name=check.name,
        status=status,
        message=message,
        details=details,
        duration_ms=duration_ms,
        critical=check.critical,
    )
