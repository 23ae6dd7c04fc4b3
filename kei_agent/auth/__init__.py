"""Authentication building blocks shared by both client flavours (pure: no I/O).

* :class:`AccessToken`, :class:`TokenCache` - tokens, their lifetime on the monotonic clock,
  proactive refresh with a clamped leeway, compare-and-clear invalidation after a 401;
* :func:`decode_jwt_claims`, :func:`scopes_from_claims` - unverified claims as hints (scopes for
  client-side RBAC, subject for audit, lifetime);
* :func:`missing_scope` - the client-side RBAC decision;
* :class:`TokenSource`, :data:`TokenProvider` - the protocol for custom credential strategies;
* :class:`AuditRecord`, :func:`input_sha256`, :func:`emit_audit` - audit records.

The strategies themselves (``BearerAuth``, ``TokenAuth``, ``OIDCClientCredentials``) are
``httpx.Auth`` flows in :mod:`kei_agent_async.auth` and its generated twin
:mod:`kei_agent_sync.auth`.
"""

from __future__ import annotations

from collections.abc import Iterable

from .audit import AuditRecord, canonical_json, emit_audit, input_sha256
from .claims import decode_jwt_claims, parse_scopes, scopes_from_claims
from .providers import TokenLike, TokenProvider, TokenSource
from .tokens import AccessToken, CachedToken, TokenCache, effective_leeway

__all__ = [
    "AccessToken",
    "AuditRecord",
    "CachedToken",
    "TokenCache",
    "TokenLike",
    "TokenProvider",
    "TokenSource",
    "canonical_json",
    "decode_jwt_claims",
    "effective_leeway",
    "emit_audit",
    "input_sha256",
    "missing_scope",
    "parse_scopes",
    "scopes_from_claims",
]


def missing_scope(required: Iterable[str], granted: frozenset[str] | None) -> str | None:
    """The first ``required`` scope that ``granted`` lacks; ``None`` when all are granted or when
    the granted scopes are unknown (an opaque token: only the server can decide)."""
    if granted is None:
        return None
    for scope in required:
        if scope not in granted:
            return scope
    return None
