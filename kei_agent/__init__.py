"""KEI-Agent SDK: the shared core and the public façade.

This package holds what both client flavours share and performs no I/O itself:

* ``kei_agent._generated`` - low-level clients and models generated from
  ``openapi/kei-agent.yaml`` by ``python -m generator`` (never edited by hand).
* configuration (attrs + cattrs), the error tree, retry / circuit-breaker / fallback policies,
  input validation, logging context and the health model (added by later issues).
* the public names the documentation imports, e.g. ``from kei_agent import
  UnifiedKeiAgentClient, AgentClientConfig``.

The clients themselves live in :mod:`kei_agent_async` (hand-written) and :mod:`kei_agent_sync`
(generated from it), so the two flavours cannot drift.
"""

from __future__ import annotations

from loguru import logger as _logger

from ._version import __version__

# The library is silent by default: applications opt in with `logger.enable("kei_agent")`.
_logger.disable("kei_agent")

__all__ = ["__version__"]
