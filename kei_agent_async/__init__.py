"""The asynchronous KEI-Agent client (hand-written source of both flavours).

``kei_agent_async.KeiAgentClient`` runs every operation through one request pipeline on one
pooled ``httpx.AsyncClient``: validation, routing, auth, headers, retries, circuit breaker and
fallback. :mod:`kei_agent_sync` is generated from this package by ``python -m generator``
(unasync), with a small hand-written ``_backend`` per flavour for sleeping, locks and threads.
"""

from __future__ import annotations

from loguru import logger as _logger

from kei_agent._version import __version__

# Silent by default, like every package of the SDK (loguru disables per package name).
_logger.disable("kei_agent_async")

__all__ = ["__version__"]
