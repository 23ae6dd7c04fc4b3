"""A transport-neutral look into a client's connection pool (httpcore's or aiohttp's).

Pool tests need to see connections (how many, which are idle, whether one is reused); each
transport keeps them in its own private structures, so this is the one place that knows both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PoolView:
    """The pool at one moment: its open connections (stable identities) and which are idle."""

    kind: str
    max_connections: int | None
    connections: list[object]
    idle: list[bool]


def _network(http: Any) -> Any:
    transport = http._transport
    while type(transport).__name__ == "TLSDiagnosticsTransport":  # https: the diagnostics wrapper
        transport = transport._inner
    return transport


def pool_view(http: Any) -> PoolView:
    """The pool of ``http`` (a client's ``httpx`` client, ``client._shared.http``)."""
    network = _network(http)
    if type(network).__name__ == "_AiohttpTransport":
        session = network._inner.client
        if not hasattr(session, "connector"):  # no request yet: the session is created on the first one
            return PoolView("aiohttp", network._inner.limits.max_connections, [], [])
        connector = session.connector
        idle = [proto for entries in connector._conns.values() for proto, _ in entries]
        busy = list(connector._acquired)
        return PoolView("aiohttp", connector.limit or None, idle + busy, [True] * len(idle) + [False] * len(busy))
    pool = network._pool
    connections = list(pool.connections)
    return PoolView("httpx", pool._max_connections, connections, [c.is_idle() for c in connections])
