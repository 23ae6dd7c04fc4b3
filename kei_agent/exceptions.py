"""The SDK's exceptions under the module name of kei-agent-py-sdk 0.1.0b6.

``from kei_agent.exceptions import KeiSDKError, ProtocolError, SecurityError, ValidationError``
keeps working: these are the classes of :mod:`kei_agent.errors` (also importable from
``kei_agent``). Names of the earlier SDK that became more precise classes resolve to those, with
a ``DeprecationWarning`` naming the new class:

======================  ===========================================================
0.1.0b6                 now
======================  ===========================================================
``AgentNotFoundError``  :class:`~kei_agent.errors.NotFoundError` (HTTP 404)
``CommunicationError``  :class:`~kei_agent.errors.APIConnectionError`
``TimeoutError``        :class:`~kei_agent.errors.APITimeoutError`
======================  ===========================================================

``DiscoveryError``, ``CapabilityError``, ``TracingError`` and ``RetryExhaustedError`` have no
counterpart: service discovery and capability negotiation are not part of the KEI API v1
contract, tracing never raises into the caller, and after the last retry the SDK raises the
error of the last attempt (``APIStatusError`` or ``APIConnectionError``).
"""

from __future__ import annotations

from typing import Any

from ._compat_config import warn_deprecated
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

#: Renamed classes of 0.1.0b6 → the class that is raised now.
RENAMED: dict[str, type[KeiSDKError]] = {
    "AgentNotFoundError": NotFoundError,
    "CommunicationError": APIConnectionError,
    "TimeoutError": APITimeoutError,
}

#: Classes of 0.1.0b6 with no counterpart → why.
REMOVED: dict[str, str] = {
    "DiscoveryError": "service discovery is not part of the KEI API v1 contract",
    "CapabilityError": "capability negotiation is not part of the KEI API v1 contract",
    "TracingError": "tracing (OpenTelemetry) never raises into the caller",
    "RetryExhaustedError": "after the last retry the error of the last attempt is raised "
    "(catch APIStatusError or APIConnectionError)",
    "retryExhaustedError": "after the last retry the error of the last attempt is raised "
    "(catch APIStatusError or APIConnectionError)",
}


def __getattr__(name: str) -> Any:
    """Renamed classes resolve with a DeprecationWarning; removed ones say why."""
    new = RENAMED.get(name)
    if new is not None:
        warn_deprecated(
            f"exceptions.{name}",
            f"kei_agent.exceptions.{name} is deprecated: catch kei_agent.{new.__name__}",
        )
        return new
    reason = REMOVED.get(name)
    if reason is not None:
        raise AttributeError(f"kei_agent.exceptions.{name} was removed: {reason}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CircuitBreakerOpenError",
    "ConfigurationError",
    "ConflictError",
    "FieldProblem",
    "InternalServerError",
    "KeiSDKError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitError",
    "ResponseValidationError",
    "SecurityError",
    "TokenUnavailableError",
    "UnprocessableEntityError",
    "ValidationError",
]
