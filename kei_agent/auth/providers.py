"""The protocol for custom credential strategies.

A strategy is where access tokens come from. Give the client one through
``SecurityConfig(token_provider=...)``; it gets the same lifecycle as the built-in OIDC strategy:

* a **callable** (sync, or async for the async client) returning the token as ``str`` /
  :class:`~kei_agent.secrets.Secret` / :class:`~kei_agent.auth.AccessToken` is called for
  *every request* - for tokens your application already manages and rotates;
* a :class:`TokenSource` (an object with ``fetch_token()``) is asked for a token only when the
  client has no usable one: at the first call, shortly before the cached token expires
  (``token_refresh_leeway``, at most half its lifetime) and after the server rejected it with 401.
  Concurrent calls share one fetch (single-flight). Return an :class:`AccessToken` with
  ``expires_in`` so the client knows when to refresh; a plain string is kept until a 401.

In the async client ``fetch_token`` may be a coroutine function; a blocking one runs in a worker
thread so it cannot stall the event loop. The sync client needs a blocking one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol, TypeAlias, runtime_checkable

from kei_agent.secrets import Secret

from .tokens import AccessToken

__all__ = ["TokenLike", "TokenProvider", "TokenSource"]

TokenLike: TypeAlias = AccessToken | Secret | str
"""What a strategy may return: an :class:`AccessToken` (best: with lifetime and scopes), or the
bare token (scopes and lifetime are then read from its JWT claims, if it is a JWT)."""


@runtime_checkable
class TokenSource(Protocol):
    """A custom credential strategy whose tokens the client caches and refreshes.

    Example::

        class VaultTokens:
            def fetch_token(self) -> AccessToken:
                data = vault.read("kei/token")
                return AccessToken(data["token"], expires_in=data["ttl"], scopes=data["scopes"])

        SecurityConfig(token_provider=VaultTokens())
    """

    def fetch_token(self) -> TokenLike | Awaitable[TokenLike]:
        """A new token (called single-flight; may raise to fail the calls that need it)."""
        ...


TokenProvider: TypeAlias = TokenSource | Callable[[], TokenLike | Awaitable[TokenLike]]
"""``SecurityConfig.token_provider``: a :class:`TokenSource` (cached) or a callable (per request)."""
