"""The reference KEI server: an independent, stateful implementation of ``openapi/kei-agent.yaml``.

Installed with the ``server`` extra (``pip install "kei-agent-py-sdk[server]"``). It is what the
SDK's own tests, ``kei-agent serve`` and users' tests of their agents run against::

    from kei_agent.testing import Fault, run_server

    with run_server(tokens=["secret"]) as server:           # uvicorn on 127.0.0.1, a free port
        server.faults.add(Fault.status(503, retry_after=1, route="planTask", times=2))
        ...                                                  # talk to server.base_url
        assert server.stats.requests("planTask") == 3

Modules (each small and single-purpose): ``settings`` (ServerSettings, TLSConfig), ``app``
(create_app), ``pipeline`` (the per-request path: ids, faults, auth, validation, idempotency),
``validation``, ``security``, ``faults``, ``stats``, ``problems``, ``state`` and the domain
stores (``planner``, ``actions``, ``registry``, ``bus``, ``mcp``, ``events``), ``stream``
(SSE/WebSocket/polling), ``admin``, ``server`` (run_server), ``plugin`` (pytest fixtures) and
``cli`` (``kei-agent``).

Importing this package is cheap: the server's names load on first use, so the pytest plugin and
the CLI stay light when the ``server`` extra is missing.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

# A library logs, applications decide where it goes: without a handler configured by the app,
# nothing is printed (no stdlib "last resort" output in the middle of a program's output).
logging.getLogger("kei_agent.testing").addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from .app import create_app
    from .faults import Fault, FaultPlan
    from .server import ServerHandle, run_server, run_server_async
    from .settings import ServerSettings, TLSConfig
    from .state import ServerState
    from .stats import ServerStats

__all__ = [
    "Fault",
    "FaultPlan",
    "ServerHandle",
    "ServerSettings",
    "ServerState",
    "ServerStats",
    "TLSConfig",
    "create_app",
    "run_server",
    "run_server_async",
]

_LOCATIONS = {
    "create_app": ".app",
    "Fault": ".faults",
    "FaultPlan": ".faults",
    "ServerHandle": ".server",
    "run_server": ".server",
    "run_server_async": ".server",
    "ServerSettings": ".settings",
    "TLSConfig": ".settings",
    "ServerState": ".state",
    "ServerStats": ".stats",
}

_MISSING_EXTRA = (
    "kei_agent.testing needs the `server` extra (Starlette, uvicorn, websockets, jsonschema, PyJWT): "
    'pip install "kei-agent-py-sdk[server]"'
)


def __getattr__(name: str) -> Any:
    location = _LOCATIONS.get(name)
    if location is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        module = importlib.import_module(location, __name__)
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the installed extras
        raise ModuleNotFoundError(f"{_MISSING_EXTRA} ({exc})", name=exc.name) from exc
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
