"""Reading a JWT access token's claims *without* verifying it (the server verifies).

The client only uses claims as hints: the scopes it may check before sending (client-side RBAC),
the subject for audit records and the token's lifetime when the token endpoint did not say.
Nothing here ever raises on a malformed token; it is simply "not a JWT".
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from typing import Any

from kei_agent.secrets import Secret

__all__ = ["decode_jwt_claims", "parse_scopes", "scopes_from_claims"]


def decode_jwt_claims(token: str | Secret) -> dict[str, Any] | None:
    """The payload of a JWS compact token (``header.payload.signature``), unverified.

    Returns ``None`` when ``token`` is not a JWT (an opaque token, a malformed one). Never raises
    and never includes the token in anything it returns or raises.
    """
    parts = (token.reveal() if isinstance(token, Secret) else token).split(".")
    if len(parts) != 3 or not parts[1]:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def parse_scopes(value: object) -> frozenset[str] | None:
    """Scopes from an OAuth ``scope`` value: a space-separated string or a list of strings."""
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, Iterable) and not isinstance(value, bytes | Mapping):
        items = list(value)
        if all(isinstance(item, str) for item in items):
            return frozenset(scope for item in items for scope in item.split())
    return None


def scopes_from_claims(claims: Mapping[str, Any] | None) -> frozenset[str] | None:
    """The scopes a JWT grants (``scope``, else ``scp``); ``None`` when it names none."""
    if not claims:
        return None
    for name in ("scope", "scp"):
        if name in claims:
            return parse_scopes(claims[name])
    return None
