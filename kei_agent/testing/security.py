"""Authentication and authorisation: static bearer tokens, OIDC JWT access tokens, client certificates.

:class:`Authenticator` turns a request's ``Authorization`` header (or the verified client
certificate of its TLS connection) into a :class:`Principal` with scopes, or raises a 401 problem
with ``WWW-Authenticate: Bearer``. :func:`require_scope` raises the 403 problem naming
``required_scope``.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from .problems import ProblemError
from .settings import ALL_SCOPES, ServerSettings

JWT_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
PeerAddress = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: ``via`` is ``token``, ``jwt`` or ``mtls``."""

    subject: str
    scopes: frozenset[str]
    via: str


class PeerCertificates:
    """Verified client certificates by peer address, filled by the TLS-aware HTTP protocol."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._certs: dict[PeerAddress, dict[str, Any]] = {}

    def add(self, peer: PeerAddress, cert: dict[str, Any]) -> None:
        with self._lock:
            self._certs[peer] = cert

    def discard(self, peer: PeerAddress) -> None:
        with self._lock:
            self._certs.pop(peer, None)

    def get(self, peer: PeerAddress | None) -> dict[str, Any] | None:
        if peer is None:
            return None
        with self._lock:
            return self._certs.get(peer)


def _unauthorized(detail: str, error: str | None = None) -> ProblemError:
    challenge = 'Bearer realm="kei"'
    if error is not None:
        challenge += f', error="{error}"'
    return ProblemError(401, detail, headers={"WWW-Authenticate": challenge})


def require_scope(principal: Principal, scopes: tuple[str, ...]) -> None:
    """403 unless ``principal`` holds every scope the operation requires."""
    for scope in scopes:
        if scope not in principal.scopes:
            raise ProblemError(
                403,
                f"The credentials lack the scope {scope}.",
                headers={"WWW-Authenticate": f'Bearer realm="kei", error="insufficient_scope", scope="{scope}"'},
                required_scope=scope,
            )


def _subject_of_cert(cert: Mapping[str, Any]) -> str:
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return "client-certificate"


class JWKSCache:
    """The issuer's signing keys, fetched on first use and again when an unknown ``kid`` shows up."""

    def __init__(self, settings: ServerSettings) -> None:
        self._settings = settings
        self._keys: dict[str, jwt.PyJWK] = {}
        self._single: list[jwt.PyJWK] = []
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    def _verify(self) -> ssl.SSLContext | bool:
        ca = self._settings.oidc_ca_file
        return ssl.create_default_context(cafile=str(ca)) if ca else True

    async def _jwks_url(self, client: httpx.AsyncClient) -> str:
        if self._settings.jwks_url:
            return self._settings.jwks_url
        issuer = (self._settings.oidc_issuer or "").rstrip("/")
        response = await client.get(f"{issuer}/.well-known/openid-configuration")
        response.raise_for_status()
        url = response.json().get("jwks_uri")
        if not isinstance(url, str):
            raise ValueError("the discovery document has no jwks_uri")
        return url

    async def refresh(self) -> None:
        async with httpx.AsyncClient(verify=self._verify(), timeout=10.0) as client:
            url = await self._jwks_url(client)
            response = await client.get(url)
            response.raise_for_status()
            key_set = jwt.PyJWKSet.from_dict(response.json())
        keys: dict[str, jwt.PyJWK] = {}
        single: list[jwt.PyJWK] = []
        for key in key_set.keys:
            if key.key_id:
                keys[key.key_id] = key
            single.append(key)
        self._keys, self._single, self._fetched_at = keys, single, time.monotonic()

    async def key_for(self, kid: str | None) -> jwt.PyJWK | None:
        key = self._lookup(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._lookup(kid)
            # Refetch for an unknown kid (key rotation), at most once a second.
            if key is None and time.monotonic() - self._fetched_at > 1.0:
                await self.refresh()
                key = self._lookup(kid)
            return key

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is not None:
            return self._keys.get(kid)
        return self._single[0] if len(self._single) == 1 else None


class Authenticator:
    """Decides who a request comes from. One per app; safe for concurrent requests."""

    def __init__(self, settings: ServerSettings, peers: PeerCertificates | None = None) -> None:
        self.settings = settings
        self.tokens = settings.token_scopes()
        self.peers = peers or PeerCertificates()
        self.jwks = JWKSCache(settings) if settings.oidc_enabled else None

    async def authenticate(self, authorization: str | None, peer: PeerAddress | None) -> Principal:
        if authorization:
            scheme, _, credentials = authorization.partition(" ")
            token = credentials.strip()
            if scheme.lower() != "bearer" or not token:
                raise _unauthorized("Use the Bearer scheme: `Authorization: Bearer <token>`.", "invalid_request")
            scopes = self.tokens.get(token)
            if scopes is not None:
                digest = hashlib.sha256(token.encode()).hexdigest()[:16]
                return Principal(subject=f"token:{digest}", scopes=scopes, via="token")
            if self.jwks is not None and token.count(".") == 2:
                return await self._verify_jwt(token)
            raise _unauthorized("The bearer token is not valid.", "invalid_token")
        cert = self.peers.get(peer)
        if cert:
            return Principal(subject=_subject_of_cert(cert), scopes=ALL_SCOPES, via="mtls")
        raise _unauthorized("A bearer token (or a client certificate) is required.")

    async def _verify_jwt(self, token: str) -> Principal:
        assert self.jwks is not None
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _unauthorized(f"The access token is malformed: {exc}", "invalid_token") from None
        algorithm = header.get("alg")
        if algorithm not in JWT_ALGORITHMS:
            raise _unauthorized(f"The access token's algorithm {algorithm!r} is not accepted.", "invalid_token")
        try:
            key = await self.jwks.key_for(header.get("kid"))
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            raise ProblemError(
                503, f"The identity provider's keys are unavailable: {exc}", headers={"Retry-After": "1"}, retry_after=1
            ) from None
        if key is None:
            raise _unauthorized("The access token was signed by an unknown key.", "invalid_token")
        settings = self.settings
        required = ["exp"]
        if settings.oidc_issuer:
            required.append("iss")
        if settings.audience:
            required.append("aud")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[str(algorithm)],
                audience=settings.audience,
                issuer=settings.oidc_issuer,
                leeway=settings.jwt_leeway_seconds,
                options={"require": required, "verify_aud": settings.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthorized("The access token has expired.", "invalid_token") from None
        except jwt.PyJWTError as exc:
            raise _unauthorized(f"The access token is not valid: {exc}", "invalid_token") from None
        subject = str(claims.get("sub") or claims.get("client_id") or claims.get("azp") or "jwt")
        return Principal(subject=subject, scopes=_scopes_of(claims), via="jwt")


def _scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    raw = claims.get("scope", claims.get("scp"))
    if isinstance(raw, str):
        return frozenset(raw.split())
    if isinstance(raw, list):
        return frozenset(str(scope) for scope in raw)
    return frozenset()
