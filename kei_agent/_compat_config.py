"""The configuration keywords of kei-agent-py-sdk 0.1.0b6, mapped onto this SDK's settings.

The earlier SDK's documentation builds ``AgentClientConfig(timeout=30, max_retries=3)`` and
``AgentClientConfig(auth_type=AuthType.BEARER)``; its ``ConnectionConfig`` / ``RetryConfig`` had
other field names. Those spellings keep working: each is mapped onto the setting that does what
the old documentation promised, and each warns once (``DeprecationWarning``) with the new
spelling, because each was wrong in the earlier SDK (the top-level ``timeout`` was ignored,
``max_retries`` and ``auth_type`` were refused by ``AgentClientConfig``) or is ambiguous. A value
that cannot be mapped faithfully raises :class:`~kei_agent.errors.ConfigurationError` naming the
keyword and the fix - the SDK never does something else silently.

:func:`accept_legacy_keywords` wraps the attrs-generated ``__init__`` of a configuration class;
type checkers still see (and enforce) the new signature only.
"""

from __future__ import annotations

import functools
import threading
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from .errors import ConfigurationError, FieldProblem

__all__ = ["LEGACY_RENAMES", "accept_legacy_keywords", "warn_deprecated"]

_warned: set[str] = set()
_warned_lock = threading.Lock()


def warn_deprecated(key: str, message: str, *, stacklevel: int = 2) -> None:
    """Emit ``DeprecationWarning(message)`` once per process for ``key``."""
    with _warned_lock:
        if key in _warned:
            return
        _warned.add(key)
    warnings.warn(message, DeprecationWarning, stacklevel=stacklevel + 1)


def _reset_warnings() -> None:
    """Forget which deprecations were reported (tests)."""
    with _warned_lock:
        _warned.clear()


#: Plain renames of 0.1.0b6 fields: class name → {old keyword: new keyword}.
LEGACY_RENAMES: Final[Mapping[str, Mapping[str, str]]] = {
    "ConnectionConfig": {
        "ssl_verify": "verify",
        "enable_http2": "http2",
        "keepalive_timeout": "keepalive_expiry",
    },
    "SecurityConfig": {
        "tls_ca_bundle": "mtls_ca_path",
    },
    "RetryConfig": {
        "failure_threshold": "breaker_failure_threshold",
        "recovery_timeout": "breaker_open_seconds",
        "half_open_max_calls": "breaker_half_open_probes",
    },
}

#: 0.1.0b6 keywords without a faithful counterpart: class name → {old keyword: the fix}.
_UNSUPPORTED: Final[Mapping[str, Mapping[str, str]]] = {
    "ConnectionConfig": {
        "max_connections_per_host": "the pool serves one host: use max_connections",
        "enable_compression": "responses are always decompressed (gzip, deflate; br with brotli installed): remove it",
        "pool_recycle": "idle connections close after keepalive_expiry seconds: use keepalive_expiry",
        "pool_pre_ping": "a dead pooled connection is retried transparently: remove it",
    },
    "RetryConfig": {
        "exponential_base": "backoff always doubles (capped by max_delay): remove it",
        "strategy": "backoff is exponential with full jitter: tune base_delay, max_delay and jitter",
        "circuit_breaker_enabled": "the breaker always runs: raise breaker_failure_threshold to make it trip later",
        "retry_on_status_codes": "the contract says which statuses each operation may retry (x-kei-retry): remove it",
        "retry_on_exceptions": "connection errors and timeouts are always retried when safe: remove it",
    },
    "SecurityConfig": {
        "tls_verify": "certificate verification is a connection setting: AgentClientConfig(connection="
        "ConnectionConfig(verify=...))",
        "tls_pinned_sha256": "certificate pinning is not supported: trust a private CA with mtls_ca_path instead",
        "token_cache_ttl": "tokens are cached until shortly before they expire: tune token_refresh_leeway",
        "token_refresh_interval": "tokens are refreshed token_refresh_leeway seconds before they expire: "
        "use token_refresh_leeway",
    },
    "ProtocolConfig": {
        "rpc_endpoint": "the paths come from the API contract: remove it",
        "stream_endpoint": "the paths come from the API contract: remove it",
        "bus_endpoint": "the paths come from the API contract: remove it",
        "mcp_endpoint": "the paths come from the API contract: remove it",
    },
    "AgentClientConfig": {
        "tracing": "tracing is OpenTelemetry's: install the otel extra and configure a TracerProvider",
        "protocol_retry_policies": "one RetryConfig serves every protocol: use retry=RetryConfig(...)",
        "heartbeat_url": "send heartbeats with client.heartbeat()",
    },
}


def _rename(cls_name: str, kwargs: dict[str, Any], problems: list[FieldProblem]) -> None:
    for old, new in LEGACY_RENAMES.get(cls_name, {}).items():
        if old not in kwargs:
            continue
        value = kwargs.pop(old)
        if new in kwargs:
            problems.append(FieldProblem(old, f"is the old name of {new}, and both are set", f"keep only {new}"))
            continue
        kwargs[new] = value
        warn_deprecated(
            f"{cls_name}.{old}",
            f"{cls_name}({old}=...) is deprecated: use {cls_name}({new}=...)",
            stacklevel=4,
        )
    for old, fix in _UNSUPPORTED.get(cls_name, {}).items():
        if old in kwargs:
            del kwargs[old]
            problems.append(FieldProblem(old, "is a setting of kei-agent-py-sdk 0.1.0b6 that no longer exists", fix))


def _agent_config_keywords(kwargs: dict[str, Any], problems: list[FieldProblem]) -> None:
    """``timeout``, ``max_retries`` and ``auth_type`` of the earlier ``AgentClientConfig``."""
    from .config import AuthType, ConnectionConfig, RetryConfig

    if "timeout" in kwargs:
        timeout = kwargs.pop("timeout")
        connection = kwargs.get("connection", ConnectionConfig())
        if not isinstance(connection, ConnectionConfig):
            problems.append(FieldProblem("connection", f"must be a ConnectionConfig, got {type(connection).__name__}"))
        elif "connection" in kwargs and connection.timeout not in (timeout, ConnectionConfig().timeout):
            problems.append(
                FieldProblem(
                    "timeout",
                    f"contradicts connection.timeout ({connection.timeout:g})",
                    "set only connection=ConnectionConfig(timeout=...)",
                )
            )
        elif timeout is not None:
            try:
                kwargs["connection"] = attrs.evolve(connection, timeout=timeout)
            except ConfigurationError as exc:
                problems.extend(
                    FieldProblem("timeout", problem.message, problem.hint)
                    for problem in exc.problems
                    if problem.path.endswith("timeout")
                )
            else:
                warn_deprecated(
                    "AgentClientConfig.timeout",
                    f"AgentClientConfig(timeout={timeout!r}) is deprecated (kei-agent-py-sdk 0.1.0b6 ignored it): "
                    f"use AgentClientConfig(connection=ConnectionConfig(timeout={timeout!r}))",
                    stacklevel=4,
                )
    if "max_retries" in kwargs:
        retries = kwargs.pop("max_retries")
        retry = kwargs.get("retry", RetryConfig())
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            problems.append(
                FieldProblem("max_retries", f"must be a whole number >= 0, got {retries!r}", "use e.g. max_retries=3")
            )
        elif not isinstance(retry, RetryConfig):
            problems.append(FieldProblem("retry", f"must be a RetryConfig, got {type(retry).__name__}"))
        elif "retry" in kwargs and retry.max_attempts not in (retries + 1, RetryConfig().max_attempts):
            problems.append(
                FieldProblem(
                    "max_retries",
                    f"contradicts retry.max_attempts ({retry.max_attempts})",
                    "set only retry=RetryConfig(max_attempts=...)",
                )
            )
        else:
            kwargs["retry"] = attrs.evolve(retry, max_attempts=retries + 1)
            warn_deprecated(
                "AgentClientConfig.max_retries",
                f"AgentClientConfig(max_retries={retries}) is deprecated: use "
                f"AgentClientConfig(retry=RetryConfig(max_attempts={retries + 1})) "
                "(max_attempts counts the first attempt too)",
                stacklevel=4,
            )
    if "auth_type" in kwargs:
        value = kwargs.pop("auth_type")
        try:
            auth_type = AuthType(str(value).strip().lower())
        except ValueError:
            auth_type = None
        if auth_type is AuthType.BEARER:
            warn_deprecated(
                "AgentClientConfig.auth_type",
                "AgentClientConfig(auth_type=AuthType.BEARER) is deprecated: bearer is what api_token already "
                "does; other schemes are set with security_config=SecurityConfig(auth_type=...)",
                stacklevel=4,
            )
        else:
            shown = auth_type.name if auth_type is not None else repr(value)
            problems.append(
                FieldProblem(
                    "auth_type",
                    f"{shown} cannot be set on AgentClientConfig: the settings it needs live in SecurityConfig",
                    f"pass security_config=SecurityConfig(auth_type=AuthType.{shown}, ...) to the client",
                )
            )


def map_legacy_keywords(cls_name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments with the 0.1.0b6 spellings of ``cls_name`` mapped; raises
    :class:`ConfigurationError` for those that cannot be mapped."""
    problems: list[FieldProblem] = []
    _rename(cls_name, kwargs, problems)
    if cls_name == "AgentClientConfig":
        _agent_config_keywords(kwargs, problems)
    if problems:
        kwargs.clear()  # keep secrets out of traceback locals
        raise ConfigurationError(problems, title=f"Invalid {cls_name} (kei-agent-py-sdk 0.1.0b6 keywords)")
    return kwargs


_LEGACY_KEYWORDS: Final = {
    "AgentClientConfig": {"timeout", "max_retries", "auth_type"},
}


def accept_legacy_keywords(cls: type[Any]) -> None:
    """Let ``cls(...)`` accept the 0.1.0b6 keywords of its name (see the module docstring)."""
    name = cls.__name__
    legacy = set(LEGACY_RENAMES.get(name, {})) | set(_UNSUPPORTED.get(name, {})) | _LEGACY_KEYWORDS.get(name, set())
    original: Callable[..., None] = cls.__init__

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            if not legacy.isdisjoint(kwargs):
                kwargs = map_legacy_keywords(name, kwargs)
            original(self, *args, **kwargs)
        except ConfigurationError:
            del args, kwargs  # keep secrets out of traceback locals
            raise

    setattr(cls, "__init__", __init__)  # noqa: B010 - mypy keeps checking the attrs signature
