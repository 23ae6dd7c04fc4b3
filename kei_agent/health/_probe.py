"""Probe endpoints for orchestrators such as Kubernetes: ``GET /health`` and ``GET /ready``.

* ``/health`` (liveness; also ``/healthz``, ``/livez``, ``/health/live``) runs the checks marked
  ``liveness=True`` - none by default, so it answers 200 as long as the process serves requests.
* ``/ready`` (readiness; also ``/readyz``, ``/health/ready``) runs every check.

Both answer JSON with 200 when the status is healthy or degraded and 503 when unhealthy. The
body shows the overall status and each check's name and status only: messages, errors and details
(database hosts, exception texts) are for the logs, not for whoever can reach the probe port;
``details=True`` opts in to the full ``HealthCheckSummary.to_dict()``. :class:`ProbeApp` is the
same as an ASGI application, to mount into an existing ASGI server.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from ._model import HealthCheckSummary

__all__ = ["LIVENESS", "PROBE_PATHS", "READINESS", "ProbeApp", "probe_response", "public_summary", "route"]

LIVENESS: Final = "liveness"
READINESS: Final = "readiness"
PROBE_PATHS: Final = {
    "/health": LIVENESS,
    "/healthz": LIVENESS,
    "/livez": LIVENESS,
    "/health/live": LIVENESS,
    "/ready": READINESS,
    "/readyz": READINESS,
    "/health/ready": READINESS,
}
REASONS: Final = {
    200: "OK",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}

#: Runs the checks of a probe kind and returns their summary (async or not).
Probe = Callable[[str], "Awaitable[HealthCheckSummary] | HealthCheckSummary"]


def _error(status: int, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"error": message}).encode()


def route(method: str, path: str) -> str | tuple[int, bytes]:
    """The probe kind for ``method path``, or the ``(status, body)`` of an error response."""
    kind = PROBE_PATHS.get(path.split("?", 1)[0].rstrip("/") or "/")
    if kind is None:
        return _error(404, f"no probe at {path[:100]}: use /health or /ready")
    if method not in ("GET", "HEAD"):
        return _error(405, "use GET")
    return kind


def public_summary(summary: HealthCheckSummary) -> dict[str, Any]:
    """What a probe shows anyone: the statuses, never messages, errors or details."""
    data = summary.to_dict()
    data["checks"] = {result.name: {"status": result.status.value} for result in summary.checks}
    return data


def probe_response(summary: HealthCheckSummary, *, details: bool = False) -> tuple[int, bytes]:
    """``(200 or 503, JSON body)`` for a probe's summary (``details``: messages, errors and details too)."""
    data = summary.to_dict() if details else public_summary(summary)
    return (200 if summary.ready else 503), json.dumps(data).encode()


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class ProbeApp:
    """ASGI application serving the probe endpoints of a health manager (either flavour).

    A blocking manager's checks run in a worker thread, so they never block the server's loop.
    """

    def __init__(self, probe: Probe, *, details: bool = False) -> None:
        """Serve ``probe(kind)``'s summaries (``kind`` is ``"liveness"`` or ``"readiness"``); with
        ``details`` the checks' messages, errors and details are shown too."""
        self._probe = probe
        self._details = details

    async def _summary(self, kind: str) -> HealthCheckSummary:
        if inspect.iscoroutinefunction(self._probe):
            result: Any = await self._probe(kind)
        else:
            result = await asyncio.to_thread(self._probe, kind)
            if inspect.isawaitable(result):
                result = await result
        assert isinstance(result, HealthCheckSummary)
        return result

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        found = route(scope.get("method", "GET"), scope.get("path", "/"))
        if isinstance(found, tuple):
            status, body = found
        else:
            try:
                status, body = probe_response(await self._summary(found), details=self._details)
            except Exception as exc:  # a probe must answer, whatever broke
                status, body = _error(500, type(exc).__name__)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})
