"""The blocking KEI-Agent client, for scripts and Jupyter notebooks (no event loop involved).

``KeiAgentClient`` calls the KEI API (plan, act, observe, explain, registry, bus, MCP tools, event
stream, health) and returns the generated models; ``with KeiAgentClient(config) as client:`` opens
one pooled connection and closes it at the end.

Same classes, methods, signatures and docstrings as :mod:`kei_agent_async`. Apart from this file
and the small ``_backend`` module, the code of this package is generated from
:mod:`kei_agent_async` by ``python -m generator`` and checked for drift by
``python -m generator --check``.
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
silence("kei_agent_sync")

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
