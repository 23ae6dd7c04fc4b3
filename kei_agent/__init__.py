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

from typing import TYPE_CHECKING, Any

from loguru import logger as _logger

from ._context import correlation_scope, get_correlation_id
from ._version import __version__
from .config import (
    DEFAULTS_TABLE,
    ENV_VARIABLES,
    AgentClientConfig,
    AuthType,
    ConnectionConfig,
    ProtocolConfig,
    RetryConfig,
    SecurityConfig,
)
from .errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CircuitBreakerOpenError,
    ConfigurationError,
    ConflictError,
    FieldProblem,
    InternalServerError,
    KeiSDKError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    ResponseValidationError,
    SecurityError,
    UnprocessableEntityError,
    ValidationError,
)
from .policies import CircuitState, Protocol
from .secrets import Secret

if TYPE_CHECKING:
    from kei_agent_async import KeiAgentClient as UnifiedKeiAgentClient

# The library is silent by default: applications opt in with `logger.enable("kei_agent")`.
_logger.disable("kei_agent")


def __getattr__(name: str) -> Any:
    """``UnifiedKeiAgentClient`` is the async client, imported on first use (the core itself
    never imports a client flavour)."""
    if name == "UnifiedKeiAgentClient":
        from kei_agent_async import KeiAgentClient

        return KeiAgentClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULTS_TABLE",
    "ENV_VARIABLES",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AgentClientConfig",
    "AuthType",
    "AuthenticationError",
    "BadRequestError",
    "CircuitBreakerOpenError",
    "CircuitState",
    "ConfigurationError",
    "ConflictError",
    "ConnectionConfig",
    "FieldProblem",
    "InternalServerError",
    "KeiSDKError",
    "NotFoundError",
    "PermissionDeniedError",
    "Protocol",
    "ProtocolConfig",
    "ProtocolError",
    "RateLimitError",
    "ResponseValidationError",
    "RetryConfig",
    "Secret",
    "SecurityConfig",
    "SecurityError",
    "UnifiedKeiAgentClient",
    "UnprocessableEntityError",
    "ValidationError",
    "__version__",
    "correlation_scope",
    "get_correlation_id",
]
