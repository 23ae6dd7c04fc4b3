"""Health results: ``HealthStatus``, ``HealthCheckResult``, ``HealthCheckSummary`` and the rules
that turn check results into an overall status.

Rules: a failing (UNHEALTHY) critical check makes the whole UNHEALTHY; a DEGRADED check, a failing
non-critical check or a check whose state is UNKNOWN makes it DEGRADED; otherwise HEALTHY.
No checks at all is HEALTHY.
"""

from __future__ import annotations

import datetime as _dt
import enum
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

__all__ = ["HealthCheckResult", "HealthCheckSummary", "HealthStatus", "overall_status", "summarize"]


class HealthStatus(enum.StrEnum):
    """Health of one check or of the whole; the values compare equal to plain strings."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    UNKNOWN = "unknown"

    @classmethod
    def coerce(cls, value: HealthStatus | str | bool) -> HealthStatus:
        """A status from a status, its string value (any case) or a bool (True = healthy)."""
        if isinstance(value, HealthStatus):
            return value
        if isinstance(value, bool):
            return cls.HEALTHY if value else cls.UNHEALTHY
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            return cls.UNKNOWN


def _to_status(value: HealthStatus | str | bool) -> HealthStatus:
    return HealthStatus.coerce(value)


def _utc_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


@attrs.frozen(kw_only=True)
class HealthCheckResult:
    """The result of one check.

    ``details`` holds measurements (e.g. ``status_code``, ``memory_percent``); ``error`` the
    reason of a failure (exception type and message, never credentials).
    """

    name: str
    status: HealthStatus = attrs.field(converter=_to_status)
    message: str = ""
    details: Mapping[str, Any] = attrs.field(factory=dict)
    duration_ms: float = 0.0
    error: str | None = None
    critical: bool = True
    timestamp: _dt.datetime = attrs.field(factory=_utc_now)

    @property
    def healthy(self) -> bool:
        """Whether the status is HEALTHY."""
        return self.status is HealthStatus.HEALTHY

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        data: dict[str, Any] = {
            "name": self.name,
            "status": self.status.value,
            "message": self.message,
            "critical": self.critical,
            "duration_ms": round(self.duration_ms, 3),
            "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
        }
        if self.details:
            data["details"] = dict(self.details)
        if self.error is not None:
            data["error"] = self.error
        return data


@attrs.frozen(kw_only=True)
class HealthCheckSummary:
    """The result of running several checks at once."""

    overall_status: HealthStatus
    total_checks: int
    healthy_count: int
    degraded_count: int
    unhealthy_count: int
    unknown_count: int
    checks: list[HealthCheckResult]
    duration_ms: float
    timestamp: _dt.datetime = attrs.field(factory=_utc_now)

    @property
    def healthy(self) -> bool:
        """Whether the overall status is HEALTHY."""
        return self.overall_status is HealthStatus.HEALTHY

    @property
    def ready(self) -> bool:
        """Whether traffic may be sent: HEALTHY or DEGRADED (no critical check failing)."""
        return self.overall_status in (HealthStatus.HEALTHY, HealthStatus.DEGRADED)

    def check(self, name: str) -> HealthCheckResult:
        """The result of the check named ``name`` (``KeyError`` if there is none)."""
        for result in self.checks:
            if result.name == name:
                return result
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (what the probe endpoints return)."""
        return {
            "status": self.overall_status.value,
            "total_checks": self.total_checks,
            "healthy_count": self.healthy_count,
            "degraded_count": self.degraded_count,
            "unhealthy_count": self.unhealthy_count,
            "unknown_count": self.unknown_count,
            "duration_ms": round(self.duration_ms, 3),
            "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
            "checks": {result.name: result.to_dict() for result in self.checks},
        }


def overall_status(results: Sequence[HealthCheckResult]) -> HealthStatus:
    """The overall status of ``results`` (see the module docs for the rules)."""
    overall = HealthStatus.HEALTHY
    for result in results:
        if result.status is HealthStatus.UNHEALTHY and result.critical:
            return HealthStatus.UNHEALTHY
        if result.status is not HealthStatus.HEALTHY:
            overall = HealthStatus.DEGRADED
    return overall


def summarize(results: Sequence[HealthCheckResult], duration_ms: float) -> HealthCheckSummary:
    """Count ``results`` by status and decide the overall status."""
    counts = dict.fromkeys(HealthStatus, 0)
    for result in results:
        counts[result.status] += 1
    return HealthCheckSummary(
        overall_status=overall_status(results),
        total_checks=len(results),
        healthy_count=counts[HealthStatus.HEALTHY],
        degraded_count=counts[HealthStatus.DEGRADED],
        unhealthy_count=counts[HealthStatus.UNHEALTHY],
        unknown_count=counts[HealthStatus.UNKNOWN],
        checks=list(results),
        duration_ms=duration_ms,
    )
