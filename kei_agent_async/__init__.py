"""The asynchronous KEI-Agent client, for asyncio services.

``KeiAgentClient`` runs every operation through one request pipeline on one pooled
``httpx.AsyncClient``: routing, auth, headers, retries, circuit breaker and protocol fallback.
This package is the hand-written source of both flavours: :mod:`kei_agent_sync` is generated from
it by ``python -m generator`` (unasync), with a small hand-written ``_backend`` per flavour for
sleeping, locks and in-flight tracking.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kei_agent._silence import silence
from kei_agent._version import __version__
from kei_agent.messaging import agent_inbox_subject

from .bus import ConsumeResult, Subscription
from .client import AgentPager, KeiAgentClient
from .stream import EventStream

if TYPE_CHECKING:
    from .health import HealthManager, get_health_manager

# Silent by default, like every package of the SDK (loguru disables per package name).
silence("kei_agent_async")

__all__ = [
    "AgentPager",
    "ConsumeResult",
    "EventStream",
    "HealthManager",
    "KeiAgentClient",
    "Subscription",
    "__version__",
    "agent_inbox_subject",
    "get_health_manager",
]


def __getattr__(name: str) -> Any:
    """The health manager loads on first use (most clients never need it)."""
    if name in ("HealthManager", "get_health_manager"):
        from . import health

        return getattr(health, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
