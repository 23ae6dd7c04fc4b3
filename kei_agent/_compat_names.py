"""Top-level names of kei-agent-py-sdk 0.1.0b6 that this SDK does not have, with the fix.

``from kei_agent import CapabilityManager`` then fails with an ``ImportError`` that says what to
use instead (a plain "cannot import name" would leave the user guessing). Renamed names that
have a faithful counterpart resolve to it with a ``DeprecationWarning``.
"""

from __future__ import annotations

from typing import Final

__all__ = ["REMOVED", "RENAMED", "removed_name_error"]

_MCP = "tools are served by the KEI server's MCP endpoint: discover_available_tools() and use_tool()"
_A2A = "agents talk over the bus: client.send_agent_message() and client.subscribe_agent_messages()"
_DISCOVERY = "the agent registry replaces discovery: client.list_agents(capability=...) and client.get_agent()"
_RETRY = "retries and the circuit breaker are built in: configure them with RetryConfig"
_PROTOCOL_CLIENTS = "one client carries every protocol: UnifiedKeiAgentClient (kei_agent_async.KeiAgentClient)"
_VALIDATORS = "input is checked against the API contract: get_input_validator().validate_agent_operation()"

#: 0.1.0b6 name → what to use instead.
REMOVED: Final[dict[str, str]] = {
    "CapabilityManager": _MCP,
    "CapabilityProfile": _MCP,
    "MCPIntegration": _MCP,
    "CapabilityNegotiation": _MCP,
    "CapabilityVersioning": _MCP,
    "A2Aclient": _A2A,
    "A2AMessage": _A2A,
    "A2Aresponse": _A2A,
    "CommunicationProtocol": _A2A,
    "FailoverConfig": "protocol fallback is configured with ProtocolConfig(protocol_fallback_enabled=...)",
    "LoadBalancingStrategy": "load balancing is the server's concern: remove it",
    "LoadBalancer": "load balancing is the server's concern: remove it",
    "ServiceDiscovery": _DISCOVERY,
    "AgentDiscoveryclient": _DISCOVERY,
    "DiscoveryStrategy": _DISCOVERY,
    "HealthMonitor": "client.heartbeat() reports liveness; get_health_manager() runs health checks",
    "TracingConfig": "tracing is OpenTelemetry's: install the otel extra and configure a TracerProvider",
    "StructuredFormatter": "configure_logging(enable_structured=True) writes JSON lines",
    "ProtocolSelector": "the API contract's x-kei-protocols and ProtocolConfig choose the protocol",
    "RetryManager": _RETRY,
    "retryManager": _RETRY,
    "RetryStrategy": _RETRY,
    "retryStrategy": _RETRY,
    "CircuitBreaker": _RETRY,
    "BaseProtocolclient": _PROTOCOL_CLIENTS,
    "KEIRPCclient": _PROTOCOL_CLIENTS,
    "KEIStreamclient": _PROTOCOL_CLIENTS,
    "KEIBusclient": _PROTOCOL_CLIENTS,
    "KEIMCPclient": _PROTOCOL_CLIENTS,
    "KeiAgentClient": "use UnifiedKeiAgentClient, or KeiAgentClient from kei_agent_async / kei_agent_sync",
    "AgentSkeleton": "build agents on UnifiedKeiAgentClient (register_agent, heartbeat, subscribe_agent_messages)",
    "AgentConfig": "use AgentClientConfig",
    "ValidationSeverity": _VALIDATORS,
    "BaseValidator": _VALIDATORS,
    "StringValidator": _VALIDATORS,
    "NumberValidator": _VALIDATORS,
    "JSONValidator": _VALIDATORS,
    "CompositeValidator": _VALIDATORS,
}

#: 0.1.0b6 name → (module, name) of its counterpart.
RENAMED: Final[dict[str, tuple[str, str]]] = {
    "HealthCheckManager": ("kei_agent_async.health", "HealthManager"),
    "Protocoltypee": ("kei_agent.policies.routing", "Protocol"),
    "Authtypee": ("kei_agent.config", "AuthType"),
}


def removed_name_error(name: str) -> ImportError | None:
    """The error for a 0.1.0b6 name this SDK does not have (``None`` for any other name).

    An ``ImportError`` (not an ``AttributeError``): ``from kei_agent import X`` then shows this
    message instead of a bare "cannot import name".
    """
    fix = REMOVED.get(name)
    if fix is None:
        return None
    return ImportError(
        f"kei_agent.{name} (kei-agent-py-sdk 0.1.0b6) is not part of this SDK: {fix} (see docs/migration.md)",
        name="kei_agent",
    )
