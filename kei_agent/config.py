"""Client configuration: frozen attrs classes validated at construction.

Every class reports *all* of its problems at once in one :class:`~kei_agent.errors.ConfigurationError`
(each with its path, e.g. ``retry.max_attempts``, and a fix hint), whether it is built directly,
from a mapping (:meth:`AgentClientConfig.from_dict`) or from ``KEI_*`` environment variables
(:meth:`AgentClientConfig.from_env`). Secrets (:class:`~kei_agent.secrets.Secret`) never appear in
``repr()`` or in error messages.

Mappings and environment strings are structured by ``kei_agent._config_input`` (imported lazily,
only by ``from_dict``/``from_env``): strings are coerced to numbers and booleans, unknown keys are
reported. :data:`ENV_VARIABLES` lists every variable, :data:`DEFAULTS_TABLE` every default.
"""

from __future__ import annotations

import enum
import functools
import os
import stat
import sys
import typing
import warnings
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Final, Self, cast

import attrs

from ._config_checks import HEADER_NAME, HEADER_VALUE, Check, field_default, raise_if, show, values_of
from ._version import __version__
from .auth.providers import TokenProvider
from .errors import ConfigurationError, FieldProblem, InsecureKeyFileWarning, redact_url
from .secrets import Secret

__all__ = [
    "DEFAULTS_TABLE",
    "ENV_VARIABLES",
    "AgentClientConfig",
    "AuthType",
    "ConnectionConfig",
    "ProtocolConfig",
    "RetryConfig",
    "SecurityConfig",
]

# Headers that have a dedicated setting; extra headers must not override them.
_RESERVED_HEADERS: Final = {
    "authorization": "api_token (or security_config)",
    "proxy-authorization": "the proxy settings of your environment",
    "user-agent": "user_agent",
    "x-agent-id": "agent_id",
    "x-tenant-id": "tenant_id",
}


def _setting(doc: str, env: str | None = None, *, secret: bool = False) -> dict[str, Any]:
    """Field metadata: the meaning (for DEFAULTS_TABLE), the env variable suffix, secrecy."""
    return {"doc": doc, "env": env, "secret": secret}


# ---------------------------------------------------------------------------------- converters


def _to_secret(value: str | Secret | None) -> Secret | None:
    # Wrong types pass through unchanged so that validation reports them with all other problems.
    return Secret(value) if isinstance(value, str) else value


def _to_auth_type(value: AuthType | str) -> AuthType:
    if isinstance(value, str) and not isinstance(value, AuthType):
        try:
            return AuthType(value.strip().lower())
        except ValueError:
            pass
    return cast("AuthType", value)


def _to_transport(value: str) -> str:
    return value.strip().lower() if isinstance(value, str) else value


def _copy_headers(value: Mapping[str, str]) -> Mapping[str, str]:
    return dict(value) if isinstance(value, Mapping) else value


def _url_repr(value: str) -> str:
    # Credentials in the URL are rejected, but the repr may be rendered while reporting that.
    return repr(redact_url(value)) if isinstance(value, str) else repr(value)


def _headers_repr(value: Mapping[str, str]) -> str:
    # Extra headers may carry credentials: show the names only.
    return repr(dict.fromkeys(value, "***")) if isinstance(value, Mapping) else "<invalid>"


# ------------------------------------------------------------------------------- config classes


class _Input:
    """``from_dict`` / ``from_env`` of the configuration classes that applications build from input."""

    __slots__ = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build from a mapping (nested sections as mappings, e.g. ``connection`` and ``retry``).

        Strings are coerced to numbers and booleans; unknown keys, wrong types and invalid values
        are all reported at once in one :class:`~kei_agent.errors.ConfigurationError`.
        """
        from ._config_input import from_mapping

        try:
            return from_mapping(cls, data)
        except ConfigurationError:
            del data  # keep raw values out of traceback locals
            raise

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, prefix: str = "KEI_") -> Self:
        """Build from ``KEI_*`` environment variables (``environ`` defaults to ``os.environ``).

        :data:`ENV_VARIABLES` lists them (``KEI_API_URL`` is required for ``AgentClientConfig``).
        Empty variables count as unset; surrounding whitespace is ignored. Problems name the variable.
        """
        from ._config_input import from_mapping, read_env

        values = read_env(cls, os.environ if environ is None else environ, prefix)
        del environ  # keep raw secrets out of traceback locals
        try:
            return from_mapping(cls, values, env_prefix=prefix)
        except ConfigurationError:
            del values
            raise


@attrs.frozen(kw_only=True)
class ConnectionConfig:
    """HTTP transport settings (one pooled httpx client per KeiAgentClient).

    All timeouts are in seconds and finite: a request can never hang forever.
    """

    _section: ClassVar[str] = "connection."

    timeout: float = attrs.field(
        default=30.0, metadata=_setting("Read, write and pool timeout per attempt (seconds).", "TIMEOUT")
    )
    connect_timeout: float = attrs.field(
        default=10.0, metadata=_setting("Timeout to establish a connection (seconds).", "CONNECT_TIMEOUT")
    )
    max_connections: int = attrs.field(
        default=100, metadata=_setting("Maximum concurrent connections in the pool.", "MAX_CONNECTIONS")
    )
    max_keepalive_connections: int = attrs.field(
        default=20,
        metadata=_setting("Idle connections kept open for reuse (<= max_connections).", "MAX_KEEPALIVE_CONNECTIONS"),
    )
    keepalive_expiry: float = attrs.field(
        default=30.0, metadata=_setting("Seconds an idle connection is kept open.", "KEEPALIVE_EXPIRY")
    )
    http2: bool = attrs.field(
        default=False, metadata=_setting("Use HTTP/2 (needs the h2 package: pip install httpx[http2]).", "HTTP2")
    )
    verify: bool | str = attrs.field(
        default=True,
        metadata=_setting(
            'Verify TLS: true, false, "system" (the OS trust store, truststore extra) or the path of a CA bundle.',
            "VERIFY",
        ),
    )
    max_response_bytes: int = attrs.field(
        default=32 * 1024 * 1024,
        metadata=_setting(
            "Largest response body accepted, after decompression (bytes); a larger one fails the call "
            "(error bodies beyond 64 KiB are cut in the exception).",
            "MAX_RESPONSE_BYTES",
        ),
    )
    transport: str = attrs.field(
        default="auto",
        converter=_to_transport,
        metadata=_setting(
            "Async connection pool: auto (KEI_TRANSPORT, else aiohttp when the aiohttp extra is installed, "
            "else httpx), httpx or aiohttp. The sync client always uses httpx.",
            "TRANSPORT",
        ),
    )

    def __attrs_post_init__(self) -> None:
        raise_if(self._problems(values_of(self), self._section), f"Invalid {type(self).__name__}")

    @staticmethod
    def _problems(values: Mapping[str, Any], prefix: str) -> list[FieldProblem]:
        check = Check(values, prefix)
        check.number("timeout", above=0, hint="use a positive number of seconds, e.g. 30")
        check.number("connect_timeout", above=0, hint="use a positive number of seconds, e.g. 10")
        connections = check.number("max_connections", minimum=1, integer=True, hint="use at least 1, e.g. 100")
        keepalive = check.number("max_keepalive_connections", minimum=0, integer=True, hint="use 0 or more, e.g. 20")
        if connections is not None and keepalive is not None and keepalive > connections:
            check.add(
                "max_keepalive_connections",
                f"must not exceed max_connections ({connections:g}), got {keepalive:g}",
                "lower max_keepalive_connections or raise max_connections",
            )
        check.number("keepalive_expiry", minimum=0, hint="use 0 or more seconds, e.g. 30")
        check.flag("http2")
        check.number("max_response_bytes", minimum=1024, integer=True, hint="use at least 1024 bytes, e.g. 33554432")
        verify = values.get("verify", True)
        if not isinstance(verify, bool) and not (isinstance(verify, str) and verify.strip()):
            check.add(
                "verify",
                f"must be true, false, 'system' or a CA bundle path, got {show(verify)}",
                "use true (the default), 'system' (the OS trust store) or the path of a PEM CA bundle",
            )
        if values.get("transport", "auto") not in ("auto", "httpx", "aiohttp"):
            check.add(
                "transport",
                f"must be auto, httpx or aiohttp, got {show(values.get('transport'))}",
                "use auto (the default), httpx, or aiohttp (pip install 'kei-agent-py-sdk[aiohttp]')",
            )
        return check.problems


@attrs.frozen(kw_only=True)
class RetryConfig:
    """Retry, backoff, deadline and circuit-breaker settings.

    ``max_attempts`` counts attempts (1 = no retry). Backoff is ``base_delay * 2**(attempt-1)``
    capped at ``max_delay`` (full jitter when ``jitter``); a server's ``Retry-After`` is honoured
    up to ``retry_after_max`` seconds (a larger value fails fast with ``RateLimitError``).
    ``deadline`` bounds one call: all attempts plus all sleeps. The breaker settings apply to one
    breaker per (base URL, protocol), which counts calls, not attempts.
    """

    _section: ClassVar[str] = "retry."

    max_attempts: int = attrs.field(
        default=3, metadata=_setting("Attempts per call, including the first (1 = no retry).", "MAX_ATTEMPTS")
    )
    base_delay: float = attrs.field(
        default=0.5, metadata=_setting("Backoff before the first retry (seconds); doubles per retry.", "BASE_DELAY")
    )
    max_delay: float = attrs.field(default=8.0, metadata=_setting("Upper bound of one backoff (seconds).", "MAX_DELAY"))
    jitter: bool = attrs.field(
        default=True, metadata=_setting("Full jitter: each backoff is uniform in [0, computed delay].", "JITTER")
    )
    retry_after_max: float = attrs.field(
        default=60.0,
        metadata=_setting(
            "Longest Retry-After honoured (seconds); longer fails fast with RateLimitError.", "RETRY_AFTER_MAX"
        ),
    )
    deadline: float = attrs.field(
        default=120.0, metadata=_setting("Overall budget per call: attempts plus sleeps (seconds).", "DEADLINE")
    )
    breaker_failure_threshold: int = attrs.field(
        default=5,
        metadata=_setting("Consecutive failed calls that open the circuit breaker.", "BREAKER_FAILURE_THRESHOLD"),
    )
    breaker_failure_rate: float = attrs.field(
        default=0.5,
        metadata=_setting("Failure rate over the sliding window that opens the breaker (0-1].", "BREAKER_FAILURE_RATE"),
    )
    breaker_window: int = attrs.field(
        default=20, metadata=_setting("Calls in the breaker's sliding window.", "BREAKER_WINDOW")
    )
    breaker_minimum_calls: int = attrs.field(
        default=10,
        metadata=_setting("Calls in the window before the failure rate is considered.", "BREAKER_MINIMUM_CALLS"),
    )
    breaker_open_seconds: float = attrs.field(
        default=30.0,
        metadata=_setting("Seconds the breaker stays open before it lets probe calls through.", "BREAKER_OPEN_SECONDS"),
    )
    breaker_half_open_probes: int = attrs.field(
        default=1,
        metadata=_setting("Concurrent probe calls admitted while half-open.", "BREAKER_HALF_OPEN_PROBES"),
    )

    def __attrs_post_init__(self) -> None:
        raise_if(self._problems(values_of(self), self._section), f"Invalid {type(self).__name__}")

    @staticmethod
    def _problems(values: Mapping[str, Any], prefix: str) -> list[FieldProblem]:
        check = Check(values, prefix)
        check.number("max_attempts", minimum=1, integer=True, hint="use 1 to disable retries, e.g. 3")
        base = check.number("base_delay", minimum=0, hint="use 0 or more seconds, e.g. 0.5")
        cap = check.number("max_delay", minimum=0, hint="use 0 or more seconds, e.g. 8")
        if base is not None and cap is not None and cap < base:
            check.add("max_delay", f"must be at least base_delay ({base:g}), got {cap:g}", "raise max_delay")
        check.flag("jitter")
        check.number("retry_after_max", minimum=0, hint="use 0 or more seconds, e.g. 60")
        check.number("deadline", above=0, hint="use a positive number of seconds, e.g. 120")
        check.number("breaker_failure_threshold", minimum=1, integer=True, hint="use at least 1, e.g. 5")
        check.number("breaker_failure_rate", above=0, maximum=1, hint="use a fraction in (0, 1], e.g. 0.5")
        window = check.number("breaker_window", minimum=1, integer=True, hint="use at least 1, e.g. 20")
        minimum = check.number("breaker_minimum_calls", minimum=1, integer=True, hint="use at least 1, e.g. 10")
        if window is not None and minimum is not None and minimum > window:
            check.add(
                "breaker_minimum_calls",
                f"must not exceed breaker_window ({window:g}), got {minimum:g}; the failure rate would never count",
                "lower breaker_minimum_calls or raise breaker_window",
            )
        check.number("breaker_open_seconds", above=0, hint="use a positive number of seconds, e.g. 30")
        check.number("breaker_half_open_probes", minimum=1, integer=True, hint="use at least 1")
        return check.problems


@attrs.frozen(kw_only=True)
class ProtocolConfig(_Input):
    """Which protocols may carry operations, and how the client chooses and falls back.

    With ``auto_protocol_selection`` the first *enabled* protocol of an operation is used (otherwise
    its first listed protocol must be enabled or the call names one explicitly). With
    ``protocol_fallback_enabled`` a transport-level failure (connection error, 502/503/504, open
    breaker) moves the call to the next protocol; the failed one is avoided for
    ``fallback_cooldown_seconds``.
    """

    _section: ClassVar[str] = ""

    rpc_enabled: bool = attrs.field(default=True, metadata=_setting("Allow the RPC (HTTP) protocol.", "RPC_ENABLED"))
    stream_enabled: bool = attrs.field(
        default=True, metadata=_setting("Allow the stream (WebSocket/SSE) protocol.", "STREAM_ENABLED")
    )
    bus_enabled: bool = attrs.field(default=True, metadata=_setting("Allow the message-bus protocol.", "BUS_ENABLED"))
    mcp_enabled: bool = attrs.field(default=True, metadata=_setting("Allow the MCP tool protocol.", "MCP_ENABLED"))
    auto_protocol_selection: bool = attrs.field(
        default=True,
        metadata=_setting(
            "Pick the first enabled protocol of each operation (else its first listed one).", "AUTO_PROTOCOL_SELECTION"
        ),
    )
    protocol_fallback_enabled: bool = attrs.field(
        default=True,
        metadata=_setting(
            "On a transport-level failure, retry the call on the next enabled protocol.", "PROTOCOL_FALLBACK_ENABLED"
        ),
    )
    fallback_cooldown_seconds: float = attrs.field(
        default=30.0,
        metadata=_setting(
            "Seconds a protocol that failed over is avoided before it is preferred again.", "FALLBACK_COOLDOWN_SECONDS"
        ),
    )

    def __attrs_post_init__(self) -> None:
        raise_if(self._problems(values_of(self), self._section), f"Invalid {type(self).__name__}")

    @staticmethod
    def _problems(values: Mapping[str, Any], prefix: str) -> list[FieldProblem]:
        check = Check(values, prefix)
        switches = ("rpc_enabled", "stream_enabled", "bus_enabled", "mcp_enabled")
        for name in (*switches, "auto_protocol_selection", "protocol_fallback_enabled"):
            check.flag(name)
        if all(values.get(name, True) is False for name in switches):
            check.add("rpc_enabled", "every protocol is disabled, so no operation could be sent", "enable rpc_enabled")
        check.number("fallback_cooldown_seconds", minimum=0, hint="use 0 or more seconds, e.g. 30")
        return check.problems


class AuthType(enum.StrEnum):
    """How the client authenticates."""

    BEARER = "bearer"
    """A static bearer token (``api_token``)."""
    OIDC = "oidc"
    """OAuth 2 client credentials from an OpenID provider."""
    MTLS = "mtls"
    """A TLS client certificate."""
    NONE = "none"
    """No credentials (health endpoints, local development)."""


#: How the OAuth client authenticates at the token endpoint (RFC 6749 section 2.3.1).
OIDC_TOKEN_AUTH_METHODS: Final = ("client_secret_basic", "client_secret_post")


def _provider_repr(value: object) -> str:
    # A provider object may hold credentials of its own: show its type only.
    return "None" if value is None else f"<{type(value).__name__}>"


def _check_key_file_mode(path: str) -> None:
    """Warn when a private key file can be read by group or others (POSIX)."""
    if os.name != "posix":
        return
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return
    if mode & 0o077:
        warnings.warn(
            f"the private key {path} is accessible by group or others (mode {mode:04o}); "
            f"restrict it with: chmod 600 {path}",
            InsecureKeyFileWarning,
            stacklevel=4,
        )


@attrs.frozen(kw_only=True)
class SecurityConfig(_Input):
    """Authentication, RBAC and audit settings.

    ``auth_type`` picks the strategy: ``BEARER`` sends ``api_token`` (or
    ``AgentClientConfig.api_token``, or whatever ``token_provider`` returns); ``OIDC`` obtains
    tokens with the OAuth 2 client-credentials grant from ``oidc_issuer`` (token endpoint found by
    discovery) or ``oidc_token_url``, caches them and refreshes them ``token_refresh_leeway``
    seconds before they expire; ``MTLS`` presents the client certificate ``mtls_cert_path`` (and
    also sends a bearer token when one is configured). A client certificate is presented whenever
    ``mtls_cert_path`` is set, to the API and to the token endpoint alike.

    Construction checks everything at once: the fields each ``auth_type`` needs, that the TLS
    files exist and are readable, that the OpenID URLs use https. A private key readable by group
    or others triggers an :class:`~kei_agent.errors.InsecureKeyFileWarning`. Secrets are
    :class:`Secret` (plain strings are wrapped) and never appear in ``repr`` or errors.
    """

    _section: ClassVar[str] = ""

    auth_type: AuthType = attrs.field(
        default=AuthType.BEARER,
        converter=_to_auth_type,
        metadata=_setting("bearer, oidc, mtls or none.", "AUTH_TYPE"),
    )
    api_token: Secret | None = attrs.field(
        default=None,
        converter=_to_secret,
        metadata=_setting("Bearer token (defaults to AgentClientConfig.api_token).", "API_TOKEN", secret=True),
    )
    token_provider: TokenProvider | None = attrs.field(
        default=None,
        repr=_provider_repr,
        metadata=_setting("Custom strategy: a callable (per request) or a TokenSource (cached)."),
    )
    rbac_enabled: bool = attrs.field(
        default=False, metadata=_setting("Check the token's scopes before sending (client-side RBAC).", "RBAC_ENABLED")
    )
    audit_enabled: bool = attrs.field(
        default=False, metadata=_setting("Emit one audit record per operation.", "AUDIT_ENABLED")
    )
    token_refresh_enabled: bool = attrs.field(
        default=True,
        metadata=_setting(
            "Refresh cached tokens before they expire (else use them until expiry).", "TOKEN_REFRESH_ENABLED"
        ),
    )
    token_refresh_leeway: float = attrs.field(
        default=30.0,
        metadata=_setting(
            "Refresh this many seconds before expiry (at most half the token's lifetime).", "TOKEN_REFRESH_LEEWAY"
        ),
    )
    oidc_issuer: str | None = attrs.field(
        default=None, metadata=_setting("OpenID issuer URL (token endpoint found by discovery).", "OIDC_ISSUER")
    )
    oidc_token_url: str | None = attrs.field(
        default=None, metadata=_setting("Token endpoint URL (skips discovery).", "OIDC_TOKEN_URL")
    )
    oidc_client_id: str | None = attrs.field(default=None, metadata=_setting("OAuth client id.", "OIDC_CLIENT_ID"))
    oidc_client_secret: Secret | None = attrs.field(
        default=None,
        converter=_to_secret,
        metadata=_setting("OAuth client secret.", "OIDC_CLIENT_SECRET", secret=True),
    )
    oidc_token_auth_method: str = attrs.field(
        default="client_secret_basic",
        metadata=_setting(
            "How the client authenticates at the token endpoint: client_secret_basic or client_secret_post.",
            "OIDC_TOKEN_AUTH_METHOD",
        ),
    )
    oidc_scope: str | None = attrs.field(
        default=None, metadata=_setting("Space-separated scopes to request.", "OIDC_SCOPE")
    )
    oidc_audience: str | None = attrs.field(
        default=None,
        metadata=_setting("Audience / resource indicator to request (sent as resource and audience).", "OIDC_AUDIENCE"),
    )
    mtls_cert_path: str | None = attrs.field(
        default=None,
        metadata=_setting(
            "Client certificate (PEM); presented to the API and the token endpoint when set.", "MTLS_CERT_PATH"
        ),
    )
    mtls_key_path: str | None = attrs.field(
        default=None, metadata=_setting("Private key (PEM) of the client certificate.", "MTLS_KEY_PATH")
    )
    mtls_key_password: Secret | None = attrs.field(
        default=None,
        converter=_to_secret,
        metadata=_setting("Passphrase of an encrypted private key.", "MTLS_KEY_PASSWORD", secret=True),
    )
    mtls_ca_path: str | None = attrs.field(
        default=None, metadata=_setting("CA bundle (PEM) that verifies the API and the token endpoint.", "MTLS_CA_PATH")
    )

    def __attrs_post_init__(self) -> None:
        raise_if(self._problems(values_of(self), self._section), f"Invalid {type(self).__name__}")
        if self.mtls_key_path is not None:
            _check_key_file_mode(self.mtls_key_path)

    @staticmethod
    def _problems(values: Mapping[str, Any], prefix: str) -> list[FieldProblem]:
        check = Check(values, prefix)
        auth_type = values.get("auth_type", AuthType.BEARER)
        if not isinstance(auth_type, AuthType):
            choices = ", ".join(member.value for member in AuthType)
            check.add("auth_type", f"must be one of {choices}, got {show(auth_type)}", "use AuthType.BEARER")
        check.secret("api_token")
        provider = values.get("token_provider")
        if provider is not None:
            if not (callable(provider) or callable(getattr(provider, "fetch_token", None))):
                check.add(
                    "token_provider",
                    f"must be a callable or an object with fetch_token(), got {type(provider).__name__}",
                )
            if values.get("api_token") is not None:
                check.add("token_provider", "is set together with api_token", "keep one of the two")
            if auth_type in (AuthType.OIDC, AuthType.NONE):
                check.add("token_provider", f"has no effect with auth_type {auth_type.value}", "use bearer or mtls")
        for name in ("rbac_enabled", "audit_enabled", "token_refresh_enabled"):
            check.flag(name)
        check.number("token_refresh_leeway", minimum=0, hint="use 0 or more seconds, e.g. 30")
        for name in ("oidc_issuer", "oidc_token_url"):
            url = check.url(name, optional=True, hint="use the provider's https:// URL")
            if url is not None and not url.lower().startswith("https://"):
                check.add(
                    name,
                    "must use https: the client secret and the tokens must not travel in clear text",
                    "use the provider's https:// URL (requests-oauthlib refuses plain http)",
                )
        check.text("oidc_client_id", optional=True)
        check.secret("oidc_client_secret")
        method = values.get("oidc_token_auth_method", "client_secret_basic")
        if method not in OIDC_TOKEN_AUTH_METHODS:
            check.add(
                "oidc_token_auth_method",
                f"must be one of {', '.join(OIDC_TOKEN_AUTH_METHODS)}, got {show(method)}",
                "use client_secret_basic (the default) or client_secret_post",
            )
        for name in ("oidc_scope", "oidc_audience"):
            check.text(name, optional=True)
        for name in ("mtls_cert_path", "mtls_key_path", "mtls_ca_path"):
            path = check.text(name, optional=True)
            if path is not None:
                _check_readable_file(check, name, path)
        check.secret("mtls_key_password")
        if values.get("mtls_key_password") is not None and values.get("mtls_key_path") is None:
            check.add("mtls_key_password", "is set without mtls_key_path", "set mtls_key_path or remove the passphrase")
        if (
            values.get("mtls_cert_path") is not None
            and values.get("mtls_key_path") is None
            and auth_type is not AuthType.MTLS  # reported below for mtls
        ):
            check.add("mtls_key_path", "a client certificate needs its private key", "set mtls_key_path")
        if auth_type is AuthType.OIDC:
            if values.get("oidc_issuer") is None and values.get("oidc_token_url") is None:
                check.add("oidc_issuer", "auth_type oidc needs oidc_issuer or oidc_token_url", "set one of the two")
            if values.get("oidc_client_id") is None:
                check.add("oidc_client_id", "auth_type oidc needs a client id", "set oidc_client_id")
            if values.get("oidc_client_secret") is None:
                check.add("oidc_client_secret", "auth_type oidc needs a client secret", "set oidc_client_secret")
        if auth_type is AuthType.MTLS:
            for name in ("mtls_cert_path", "mtls_key_path"):
                if values.get(name) is None:
                    check.add(name, "auth_type mtls needs a client certificate and its key", f"set {name}")
        return check.problems


def _check_readable_file(check: Check, name: str, path: str) -> None:
    if not os.path.exists(path):
        check.add(name, f"{path} does not exist", "use the path of a PEM file")
    elif not os.path.isfile(path):
        check.add(name, f"{path} is not a file", "use the path of a PEM file")
    elif not os.access(path, os.R_OK):
        check.add(name, f"{path} is not readable by this process", "fix the file's permissions or owner")


def _default_user_agent() -> str:
    version = sys.version_info
    return f"kei-agent-py-sdk/{__version__} python/{version.major}.{version.minor}.{version.micro}"


@attrs.frozen(kw_only=True)
class AgentClientConfig(_Input):
    """Where and as whom the client talks to the KEI API, plus transport and retry settings.

    ``AgentClientConfig(base_url="https://kei.example.com", api_token="...", agent_id="my-agent")``;
    ``api_token`` is stored as a :class:`Secret`. ``user_agent=None`` sends
    ``kei-agent-py-sdk/<version> python/<x.y.z>`` (see :attr:`effective_user_agent`). ``headers``
    are extra default headers (their values are masked in ``repr``).
    """

    _section: ClassVar[str] = ""

    base_url: str = attrs.field(
        kw_only=False,
        repr=_url_repr,
        metadata=_setting("API root, e.g. https://kei.example.com (required).", "API_URL"),
    )
    api_token: Secret | None = attrs.field(
        default=None,
        converter=_to_secret,
        metadata=_setting("Bearer token (a Secret; plain strings are wrapped).", "API_TOKEN", secret=True),
    )
    agent_id: str = attrs.field(default="kei-agent", metadata=_setting("Sent as X-Agent-ID.", "AGENT_ID"))
    tenant_id: str | None = attrs.field(default=None, metadata=_setting("Sent as X-Tenant-ID when set.", "TENANT_ID"))
    connection: ConnectionConfig = attrs.field(
        factory=ConnectionConfig, metadata=_setting("Transport settings (ConnectionConfig).")
    )
    retry: RetryConfig = attrs.field(
        factory=RetryConfig, metadata=_setting("Retry and breaker settings (RetryConfig).")
    )
    user_agent: str | None = attrs.field(
        default=None,
        metadata=_setting("User-Agent header; None sends kei-agent-py-sdk/<version> python/<x.y.z>.", "USER_AGENT"),
    )
    headers: Mapping[str, str] = attrs.field(
        factory=dict,
        converter=_copy_headers,
        repr=_headers_repr,
        hash=False,
        metadata=_setting("Extra headers sent with every request."),
    )
    validate_requests: bool = attrs.field(
        default=True,
        metadata=_setting("Validate operation input against the spec before sending.", "VALIDATE_REQUESTS"),
    )

    def __attrs_post_init__(self) -> None:
        raise_if(self._problems(values_of(self), self._section), f"Invalid {type(self).__name__}")

    @staticmethod
    def _problems(values: Mapping[str, Any], prefix: str) -> list[FieldProblem]:
        check = Check(values, prefix)
        check.url("base_url", hint="use the API root, e.g. https://kei.example.com")
        check.secret("api_token")
        check.text("agent_id", header=True, hint="use a short id such as my-agent")
        check.text("tenant_id", optional=True, header=True)
        check.text("user_agent", optional=True, header=True)
        for name, cls in (("connection", ConnectionConfig), ("retry", RetryConfig)):
            if name in values and not isinstance(values[name], cls):
                check.add(name, f"must be a {cls.__name__}, got {type(values[name]).__name__}")
        check.flag("validate_requests")
        headers = values.get("headers", {})
        if not isinstance(headers, Mapping):
            check.add("headers", f"must be a mapping of header names to values, got {type(headers).__name__}")
        else:
            for name, value in headers.items():
                if not isinstance(name, str) or not HEADER_NAME.fullmatch(name):
                    check.add("headers", f"{show(name)} is not a valid header name")
                elif name.lower() in _RESERVED_HEADERS:
                    check.add(f"headers[{name!r}]", "is set by the client", f"use {_RESERVED_HEADERS[name.lower()]}")
                elif not isinstance(value, str) or not HEADER_VALUE.fullmatch(value):
                    check.add(f"headers[{name!r}]", "must be a string of printable ASCII characters")
        return check.problems

    @property
    def effective_user_agent(self) -> str:
        """The User-Agent header actually sent."""
        return self.user_agent if self.user_agent is not None else _default_user_agent()


_CONFIG_CLASSES: Final = (AgentClientConfig, ConnectionConfig, RetryConfig, ProtocolConfig, SecurityConfig)


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _env_fields(cls: type, path: tuple[str, ...] = ()) -> Iterator[tuple[str, tuple[str, ...], bool]]:
    """Yield (variable suffix, field path, secret) for every field of ``cls`` read from the environment."""
    hints = _type_hints(cls)
    for field in attrs.fields(cls):
        hint_type = hints[field.name]
        if isinstance(hint_type, type) and hint_type in _CONFIG_CLASSES:
            yield from _env_fields(hint_type, (*path, field.name))
        elif field.metadata.get("env"):
            yield field.metadata["env"], (*path, field.name), bool(field.metadata.get("secret"))


def _env_table() -> dict[str, str]:
    table: dict[str, list[str]] = {}
    for cls in (AgentClientConfig, ProtocolConfig, SecurityConfig):
        for suffix, path, _ in _env_fields(cls):
            table.setdefault("KEI_" + suffix, []).append(".".join((cls.__name__, *path)))
    return {name: ", ".join(paths) for name, paths in table.items()}


def _defaults_table() -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    for cls in (AgentClientConfig, ConnectionConfig, RetryConfig, ProtocolConfig, SecurityConfig):
        for field in attrs.fields(cls):
            if field.default is attrs.NOTHING:
                shown = "(required)"
            else:
                default = field_default(field)
                if attrs.has(type(default)):
                    shown = f"{type(default).__name__}()"
                elif isinstance(default, enum.Enum):
                    shown = f"{type(default).__name__}.{default.name}"
                else:
                    shown = repr(default)
            rows.append((f"{cls.__name__}.{field.name}", shown, field.metadata["doc"]))
    return rows


ENV_VARIABLES: Final[dict[str, str]] = _env_table()
"""Every environment variable the ``from_env`` constructors read (default prefix ``KEI_``) →
the setting it fills, e.g. ``KEI_MAX_ATTEMPTS`` → ``AgentClientConfig.retry.max_attempts``."""

DEFAULTS_TABLE: Final[list[tuple[str, str, str]]] = _defaults_table()
"""(setting, default, meaning) for every setting, in declaration order (used by the README)."""


def _accept_legacy_keywords() -> None:
    # The keywords of kei-agent-py-sdk 0.1.0b6 (timeout=, max_retries=, ssl_verify=, ...) keep
    # working, mapped and deprecated: see kei_agent._compat_config.
    from ._compat_config import accept_legacy_keywords

    for cls in (AgentClientConfig, ConnectionConfig, RetryConfig, SecurityConfig, ProtocolConfig):
        accept_legacy_keywords(cls)


_accept_legacy_keywords()
