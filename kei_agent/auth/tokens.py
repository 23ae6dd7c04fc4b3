"""Access tokens and their cache: lifetime, proactive refresh and compare-and-clear invalidation.

Pure bookkeeping with an injectable monotonic clock; the flavour packages do the fetching.

* A token's lifetime is measured on the client's monotonic clock from the moment its request was
  sent, using the token endpoint's ``expires_in`` (or, lacking that, the JWT's ``exp - iat``):
  a skewed wall clock on either side cannot make a fresh token look expired or an old one fresh.
* With refreshing enabled a token is replaced ``leeway`` seconds before it expires, the leeway
  being clamped to half the token's lifetime (a 10 s token with a 30 s leeway is renewed after
  5 s, not on every call). Without refreshing it is used until it expires.
* :meth:`TokenCache.invalidate` clears the cache only if it still holds the token that was
  rejected, so a late 401 for an old token cannot throw away a newer one.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import attrs

from kei_agent.secrets import Secret

from .claims import decode_jwt_claims, parse_scopes, scopes_from_claims

__all__ = ["AccessToken", "CachedToken", "TokenCache", "effective_leeway"]

# RFC 6750 b64token, plus what real providers put in opaque tokens; anything else cannot be sent
# in an Authorization header (and would make httpx raise an error carrying the value).
_TOKEN_CHARACTERS: Final = re.compile(r"[\x21-\x7e]+")


def _to_secret(value: str | Secret) -> Secret:
    if isinstance(value, Secret):
        return value
    if isinstance(value, str):
        return Secret(value)
    raise TypeError(f"an access token must be a str or Secret, not {type(value).__name__}")


def _check_value(value: Secret) -> None:
    if not _TOKEN_CHARACTERS.fullmatch(value.reveal()):
        raise ValueError("the access token is empty or contains characters that cannot be sent in a header")


def _to_scopes(value: Iterable[str] | str | None) -> frozenset[str] | None:
    if value is None:
        return None
    scopes = parse_scopes(value)
    if scopes is None:
        raise TypeError("scopes must be a space-separated string or an iterable of strings")
    return scopes


def _to_lifetime(value: float | int | str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


@attrs.frozen(init=False)
class AccessToken:
    """A bearer access token and what the client knows about it.

    Attributes:
        value: the token itself (a :class:`~kei_agent.secrets.Secret`; plain strings are wrapped).
        expires_in: its lifetime in seconds from when it was requested; ``None`` if unknown
            (then it is used until the server rejects it).
        scopes: the scopes it grants; ``None`` if unknown (client-side RBAC then cannot check).
        subject: who it represents (``sub``), for audit records.
    """

    value: Secret
    expires_in: float | None
    scopes: frozenset[str] | None
    subject: str | None

    def __init__(
        self,
        value: str | Secret,
        *,
        expires_in: float | int | str | None = None,
        scopes: Iterable[str] | str | None = None,
        subject: str | None = None,
    ) -> None:
        """Describe a token; ``value`` must be sendable in a header (printable ASCII, no spaces).

        Raises:
            TypeError, ValueError: an unusable value (the message never contains it).
        """
        value = _to_secret(value)  # rebind at once: no raw token stays in this frame's locals
        _check_value(value)
        self.__attrs_init__(
            value=value, expires_in=_to_lifetime(expires_in), scopes=_to_scopes(scopes), subject=subject
        )

    @classmethod
    def from_value(
        cls,
        value: str | Secret,
        *,
        expires_in: float | int | str | None = None,
        scope: Iterable[str] | str | None = None,
        subject: str | None = None,
    ) -> AccessToken:
        """A token with what its JWT claims tell (unverified) for every attribute not given.

        Scopes come from ``scope``, else the JWT's ``scope``/``scp``; the lifetime from
        ``expires_in``, else the JWT's ``exp - iat`` (independent of the local clock); the
        subject from ``sub`` (or ``client_id``).
        """
        secret = _to_secret(value)
        claims = decode_jwt_claims(secret) or {}
        lifetime = _to_lifetime(expires_in)
        if lifetime is None:
            issued, expires = _number(claims.get("iat")), _number(claims.get("exp"))
            if issued is not None and expires is not None and expires >= issued:
                lifetime = expires - issued
        if subject is None:
            for claim in ("sub", "client_id", "azp"):
                if isinstance(claims.get(claim), str):
                    subject = claims[claim]
                    break
        scopes = _to_scopes(scope) if scope is not None else scopes_from_claims(claims)
        return cls(secret, expires_in=lifetime, scopes=scopes, subject=subject)

    @classmethod
    def from_response(cls, response: Mapping[str, Any]) -> AccessToken:
        """A token from an OAuth 2 token response (``access_token``, ``expires_in``, ``scope``)."""
        value = response.get("access_token")
        if not isinstance(value, str | Secret):
            raise ValueError("the token response has no access_token")
        return cls.from_value(value, expires_in=response.get("expires_in"), scope=response.get("scope"))


def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def effective_leeway(lifetime: float, leeway: float) -> float:
    """The refresh leeway used for a token of ``lifetime`` seconds: at most half the lifetime."""
    return max(0.0, min(leeway, lifetime / 2.0))


@attrs.frozen
class CachedToken:
    """A cached token with its deadlines on the monotonic clock (``math.inf`` when unknown)."""

    token: AccessToken
    obtained_at: float
    refresh_at: float
    expires_at: float

    def fresh(self, now: float) -> bool:
        """Usable without refreshing first."""
        return now < self.refresh_at

    def valid(self, now: float) -> bool:
        """Not expired (it may already be due for a refresh)."""
        return now < self.expires_at


class TokenCache:
    """Holds the current token of one credential strategy; safe to share between threads."""

    def __init__(
        self,
        *,
        leeway: float = 30.0,
        refresh_enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Refresh ``leeway`` seconds before expiry (clamped) when ``refresh_enabled``."""
        self.leeway = leeway
        self.refresh_enabled = refresh_enabled
        self.clock = clock
        self._lock = threading.Lock()
        self._entry: CachedToken | None = None

    def __repr__(self) -> str:
        entry = self._entry
        state = "empty" if entry is None else f"token expiring at {entry.expires_at:.1f}"
        return f"TokenCache({state}, leeway={self.leeway:g}, refresh_enabled={self.refresh_enabled})"

    @property
    def entry(self) -> CachedToken | None:
        """The cached token with its deadlines, if any."""
        return self._entry

    def fresh(self) -> AccessToken | None:
        """The cached token if it does not need a refresh yet."""
        entry = self._entry
        return entry.token if entry is not None and entry.fresh(self.clock()) else None

    def store(self, token: AccessToken, obtained_at: float) -> CachedToken:
        """Cache ``token``, requested at ``obtained_at``; a token requested earlier than the cached
        one does not replace it. Returns the entry now cached."""
        if token.expires_in is None:
            expires_at = refresh_at = math.inf
        else:
            expires_at = obtained_at + token.expires_in
            leeway = effective_leeway(token.expires_in, self.leeway) if self.refresh_enabled else 0.0
            refresh_at = expires_at - leeway
        entry = CachedToken(token, obtained_at, refresh_at, expires_at)
        with self._lock:
            current = self._entry
            if current is not None and current.obtained_at > obtained_at:
                return current
            self._entry = entry
            return entry

    def invalidate(self, token: AccessToken) -> bool:
        """Forget ``token`` if it is still the cached one (compare-and-clear); True if it was."""
        with self._lock:
            entry = self._entry
            if entry is not None and entry.token.value == token.value:
                self._entry = None
                return True
            return False

    def clear(self) -> None:
        """Forget the cached token."""
        with self._lock:
            self._entry = None
