"""Configuration of the reference server: :class:`ServerSettings` and :class:`TLSConfig` (pure data)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kei_agent._contract.operations import OPERATIONS

#: Every OAuth2 scope the spec defines; a plain token list grants all of them.
ALL_SCOPES: frozenset[str] = frozenset(scope for op in OPERATIONS.values() for scope in op.scopes)

#: The token accepted when nothing else is configured (printed at start).
DEV_TOKEN = "dev-token"

TokenSpec = Mapping[str, Iterable[str]] | Iterable[str]


@dataclass(frozen=True, slots=True)
class TLSConfig:
    """Serve HTTPS. With ``ca_certs``, client certificates signed by that CA are verified and
    authenticate the caller (all scopes); ``require_client_cert`` makes them mandatory (mTLS)."""

    certfile: str | Path
    keyfile: str | Path
    ca_certs: str | Path | None = None
    require_client_cert: bool = False


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """How the reference server behaves. Every field has a finite default.

    ``tokens``: accepted static bearer tokens - a mapping token → granted scopes, or a plain
    iterable of tokens (each granted every scope). ``None`` (and no OIDC issuer / JWKS URL) means
    development mode: the one token ``dev-token`` is accepted with every scope.

    ``oidc_issuer`` / ``jwks_url`` / ``audience``: JWT access tokens are validated against the
    issuer's JWKS (from its discovery document, or ``jwks_url``): signature, ``iss``, ``aud``,
    ``exp``, ``nbf``; scopes come from ``scope`` (space separated) or ``scp``. ``oidc_ca_file``
    verifies an HTTPS issuer.

    ``max_wait_seconds`` caps every long poll (bus and stream polling); ``sse_max_duration`` closes
    an SSE response after that many seconds (clients reconnect with ``Last-Event-ID``; ``None``:
    never). ``validate_responses`` checks every JSON response against the spec (a 500 problem
    instead of a non-conforming answer) - for tests, it costs time.

    ``admin_token``: the one bearer token the ``/_admin`` endpoints accept (with
    ``admin_enabled``; ``None``: a random one is made, see ``settings.admin_token``) - API tokens
    never reach them. ``max_body_bytes``: larger request bodies are refused with 413 before they
    are read whole. ``idle_timeout_seconds``: a connection that sends nothing for that long
    (before or between requests) is closed. ``first_event_id``: the id of the first stream event
    (``None``: the clock in microseconds, so a restarted server's ids continue above the old ones).
    """

    tokens: TokenSpec | None = None
    oidc_issuer: str | None = None
    jwks_url: str | None = None
    audience: str | None = None
    oidc_ca_file: str | Path | None = None
    jwt_leeway_seconds: float = 0.0
    tls: TLSConfig | None = None
    admin_enabled: bool = False
    admin_token: str | None = None
    max_body_bytes: int = 1024 * 1024
    idle_timeout_seconds: float = 30.0
    first_event_id: int | None = None
    seed: int | None = None
    max_wait_seconds: float = 30.0
    sse_keepalive_seconds: float = 15.0
    sse_max_duration: float | None = None
    ws_ping_interval: float = 20.0
    event_history: int = 10_000
    bus_queue_limit: int = 10_000
    heartbeat_interval_seconds: float = 30.0
    idempotency_ttl_seconds: float = 24 * 3600.0
    max_action_sleep_seconds: float = 10.0
    validate_responses: bool = False
    server_version: str = "1.0.0"

    def __post_init__(self) -> None:
        # Normalise once (an iterator of tokens must not be consumed twice).
        if self.tokens is not None:
            object.__setattr__(self, "tokens", _normalise_tokens(self.tokens))
        if self.admin_enabled and self.admin_token is None:
            object.__setattr__(self, "admin_token", "admin-" + secrets.token_urlsafe(18))

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer or self.jwks_url)

    @property
    def dev_mode(self) -> bool:
        """No tokens and no OIDC configured: ``dev-token`` is accepted."""
        return self.tokens is None and not self.oidc_enabled

    def token_scopes(self) -> dict[str, frozenset[str]]:
        """The accepted static tokens with their scopes (``dev-token`` in development mode)."""
        if self.tokens is None:
            return {DEV_TOKEN: ALL_SCOPES} if self.dev_mode else {}
        return _normalise_tokens(self.tokens)


def _normalise_tokens(tokens: TokenSpec) -> dict[str, frozenset[str]]:
    if isinstance(tokens, Mapping):
        return {
            str(token): frozenset([scopes] if isinstance(scopes, str) else scopes) for token, scopes in tokens.items()
        }
    if isinstance(tokens, str):
        return {tokens: ALL_SCOPES}
    return {str(token): ALL_SCOPES for token in tokens}
