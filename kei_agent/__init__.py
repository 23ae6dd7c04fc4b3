"""KEI-Agent SDK: a Python client for the KEI agent platform API.

The KEI API lets an agent **plan** a task, **act** on it, **observe** its environment and
**explain** its reasoning; register itself in the agent registry; exchange messages on the bus;
discover and use MCP tools; follow the event stream; and report its health. This SDK speaks that
API, version 1, as written in ``openapi/kei-agent.yaml``::

    from kei_agent import AgentClientConfig
    from kei_agent_sync import KeiAgentClient          # scripts and notebooks
    # from kei_agent_async import KeiAgentClient       # asyncio services (also UnifiedKeiAgentClient)

    with KeiAgentClient(AgentClientConfig(base_url="http://127.0.0.1:8080", api_token="dev-token")) as client:
        plan = client.plan_task(objective="Write a quarterly report")
        print(plan)        # PlanResponse(plan_id='plan-...', objective='Write a quarterly report', ...)

This package, :mod:`kei_agent`, is the shared core of both client flavours and performs no I/O:

* configuration (:class:`AgentClientConfig`, :class:`ConnectionConfig`, :class:`RetryConfig`,
  :class:`ProtocolConfig`, :class:`SecurityConfig`; ``from_env()`` reads the ``KEI_*`` variables);
* the error tree rooted at :class:`KeiSDKError`;
* retry, circuit-breaker, routing and fallback policies; secrets (:class:`Secret`); correlation ids;
* the enterprise layer, loaded on first use: structured logging (:func:`get_logger`,
  :class:`LogContext`), health checks (:class:`APIHealthCheck`, :class:`DatabaseHealthCheck`, ...),
  input validation (:class:`InputValidator`) and audit records;
* ``kei_agent._generated``: the low-level clients and models generated from the spec by
  ``python -m generator`` (never edited by hand); ``kei_agent.testing``: the reference KEI server
  (``pip install "kei-agent-py-sdk[server]"``).

The clients live in :mod:`kei_agent_async` (hand-written, for asyncio services) and
:mod:`kei_agent_sync` (generated from it, for scripts and notebooks): the same class names,
methods and docstrings, so the two flavours cannot drift. The library is silent by default
(``configure_logging()`` or ``logger.enable("kei_agent")`` turns its logs on).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._context import correlation_scope, get_correlation_id
from ._silence import silence
from ._version import __version__
from .auth import AccessToken, TokenSource
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
    TokenUnavailableError,
    UnprocessableEntityError,
    ValidationError,
)
from .policies import CircuitState, Protocol
from .responses import RawResponse
from .secrets import Secret

#: The name kei-agent-py-sdk 0.1.0b6 used for :class:`Protocol` (its ``AUTO``: leave ``protocol`` out).
ProtocolType = Protocol

if TYPE_CHECKING:
    from kei_agent_async import KeiAgentClient as UnifiedKeiAgentClient
    from kei_agent_async.health import get_health_manager

    from .health import (
        APIHealthCheck,
        BaseHealthCheck,
        CustomHealthCheck,
        DatabaseHealthCheck,
        HealthCheckResult,
        HealthCheckSummary,
        HealthStatus,
        KeiAPIHealthCheck,
        MemoryHealthCheck,
    )
    from .logging import (
        EnterpriseLogger,
        LogContext,
        audit,
        configure_logging,
        get_logger,
        log_context,
        sanitize_for_logging,
    )
    from .validation import HardeningLimits, InputValidator, ValidationResult, get_input_validator

#: Enterprise names, imported on first use so that ``import kei_agent`` stays light.
_LAZY = {
    **dict.fromkeys(
        [
            "EnterpriseLogger",
            "LogContext",
            "audit",
            "configure_logging",
            "get_logger",
            "log_context",
            "sanitize_for_logging",
        ],
        "kei_agent.logging",
    ),
    **dict.fromkeys(
        ["HardeningLimits", "InputValidator", "ValidationResult", "get_input_validator"], "kei_agent.validation"
    ),
    **dict.fromkeys(
        [
            "APIHealthCheck",
            "BaseHealthCheck",
            "CustomHealthCheck",
            "DatabaseHealthCheck",
            "HealthCheckResult",
            "HealthCheckSummary",
            "HealthStatus",
            "KeiAPIHealthCheck",
            "MemoryHealthCheck",
        ],
        "kei_agent.health",
    ),
    # The documentation's health manager is the async one, like UnifiedKeiAgentClient.
    "get_health_manager": "kei_agent_async.health",
}

# The library is silent by default: applications opt in with `logger.enable("kei_agent")`.
silence("kei_agent")


def __getattr__(name: str) -> Any:
    """``UnifiedKeiAgentClient`` is the async client and ``get_health_manager`` its health manager,
    imported on first use (the core itself never imports a client flavour); the enterprise names
    (logging, validation, health model) load on first use too."""
    if name == "UnifiedKeiAgentClient":
        from kei_agent_async import KeiAgentClient

        return KeiAgentClient
    module = _LAZY.get(name)
    if module is not None:
        import importlib

        value = getattr(importlib.import_module(module), name)
        globals()[name] = value
        return value
    if not name.startswith("_"):
        from ._compat_names import RENAMED, removed_name_error

        error = removed_name_error(name)  # a name of kei-agent-py-sdk 0.1.0b6 that is gone: say what to use
        if error is not None:
            raise error
        if name in RENAMED:
            import importlib

            from ._compat_config import warn_deprecated

            module_name, new_name = RENAMED[name]
            warn_deprecated(f"kei_agent.{name}", f"kei_agent.{name} is deprecated: use {module_name}.{new_name}")
            return getattr(importlib.import_module(module_name), new_name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULTS_TABLE",
    "ENV_VARIABLES",
    "APIConnectionError",
    "APIError",
    "APIHealthCheck",
    "APIStatusError",
    "APITimeoutError",
    "AccessToken",
    "AgentClientConfig",
    "AuthType",
    "AuthenticationError",
    "BadRequestError",
    "BaseHealthCheck",
    "CircuitBreakerOpenError",
    "CircuitState",
    "ConfigurationError",
    "ConflictError",
    "ConnectionConfig",
    "CustomHealthCheck",
    "DatabaseHealthCheck",
    "EnterpriseLogger",
    "FieldProblem",
    "HardeningLimits",
    "HealthCheckResult",
    "HealthCheckSummary",
    "HealthStatus",
    "InputValidator",
    "InternalServerError",
    "KeiAPIHealthCheck",
    "KeiSDKError",
    "LogContext",
    "MemoryHealthCheck",
    "NotFoundError",
    "PermissionDeniedError",
    "Protocol",
    "ProtocolConfig",
    "ProtocolError",
    "ProtocolType",
    "RateLimitError",
    "RawResponse",
    "ResponseValidationError",
    "RetryConfig",
    "Secret",
    "SecurityConfig",
    "SecurityError",
    "TokenSource",
    "TokenUnavailableError",
    "UnifiedKeiAgentClient",
    "UnprocessableEntityError",
    "ValidationError",
    "ValidationResult",
    "__version__",
    "audit",
    "configure_logging",
    "correlation_scope",
    "get_correlation_id",
    "get_health_manager",
    "get_input_validator",
    "get_logger",
    "log_context",
    "sanitize_for_logging",
]
