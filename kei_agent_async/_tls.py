"""TLS settings shared by the API transport and the token endpoint.

One function builds the ``ssl.SSLContext`` from ``ConnectionConfig.verify`` and the
``SecurityConfig`` (CA bundle, client certificate, key passphrase), so the OpenID provider's token
endpoint is reached with exactly the trust and client identity the API uses.
"""

from __future__ import annotations

import ipaddress
import ssl
from typing import Final
from urllib.parse import urlsplit

import httpx

from kei_agent.config import AuthType, SecurityConfig
from kei_agent.errors import ConfigurationError, FieldProblem, SecurityError
from kei_agent.secrets import Secret

__all__ = [
    "SYSTEM_TRUST_STORE",
    "TRUSTSTORE_EXTRA",
    "TLSDiagnosticsTransport",
    "build_ssl_context",
    "is_loopback",
    "require_tls_for_credentials",
    "uses_client_certificate",
    "uses_system_trust_store",
]

#: ``ConnectionConfig(verify="system")``: the operating system's trust store.
SYSTEM_TRUST_STORE: Final = "system"
TRUSTSTORE_EXTRA: Final = 'pip install "kei-agent-py-sdk[truststore]"'


def uses_client_certificate(security: SecurityConfig) -> bool:
    """Whether connections present a client certificate (mTLS, alone or together with a token)."""
    return security.auth_type is AuthType.MTLS or security.mtls_cert_path is not None


def _no_passphrase() -> str:
    # Without a callback OpenSSL would prompt on the terminal for an encrypted key.
    return ""


def uses_system_trust_store(verify: bool | str) -> bool:
    """Whether ``ConnectionConfig.verify`` asks for the operating system's trust store (``"system"``)."""
    return isinstance(verify, str) and verify.strip().lower() == SYSTEM_TRUST_STORE


def _system_context() -> ssl.SSLContext:
    """A context verifying with the operating system's trust store (truststore: the ``truststore`` extra)."""
    try:
        import truststore
    except ImportError:
        raise ConfigurationError(
            [
                FieldProblem(
                    "connection.verify",
                    "the system trust store needs the truststore package",
                    f"install it: {TRUSTSTORE_EXTRA}",
                )
            ],
            title="Unusable TLS settings",
        ) from None
    return truststore.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def build_ssl_context(verify: bool | str, security: SecurityConfig, *, always: bool = False) -> ssl.SSLContext | bool:
    """The TLS settings for ``verify`` (bool, ``"system"`` or CA bundle path) and ``security``.

    Returns ``verify`` itself when nothing needs a context of our own (httpx then uses its
    default), unless ``always``. ``"system"``: the operating system's trust store (Windows and
    macOS certificate stores, OpenSSL's system locations on Linux) through truststore, so a
    TLS-inspecting proxy's CA installed there is trusted. CA bundles: ``security.mtls_ca_path`` and
    a ``verify`` path (both when both are set; added to the system store with ``"system"``); the
    client certificate whenever ``mtls_cert_path`` is set. Unloadable material raises
    ``ConfigurationError`` naming the setting (never a passphrase).
    """
    certificate = uses_client_certificate(security)
    system = uses_system_trust_store(verify)
    bundle = verify if isinstance(verify, str) and not system else None
    cafiles = [path for path in (security.mtls_ca_path, bundle) if path]
    if not always and not certificate and not cafiles and not system:
        return bool(verify)
    field = "connection.verify"
    try:
        if verify is False:
            context = httpx.create_ssl_context(verify=False)
        elif system:
            context = _system_context()
            for extra in cafiles:
                field = "security.mtls_ca_path"
                context.load_verify_locations(cafile=str(extra))
        elif cafiles:
            field = "security.mtls_ca_path" if security.mtls_ca_path else "connection.verify"
            context = ssl.create_default_context(cafile=str(cafiles[0]))
            for extra in cafiles[1:]:
                field = "connection.verify"
                context.load_verify_locations(cafile=str(extra))
        else:
            context = httpx.create_ssl_context(verify=True)
        if certificate:
            field = "security.mtls_cert_path"
            password = security.mtls_key_password
            context.load_cert_chain(
                str(security.mtls_cert_path),
                str(security.mtls_key_path) if security.mtls_key_path else None,
                password=password.reveal if isinstance(password, Secret) else _no_passphrase,
            )
    except (OSError, ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc) or type(exc).__name__
        problem = _tls_problem(field, str(reason))
    else:
        return context
    raise ConfigurationError([problem], title="Unusable TLS material")


def _tls_problem(field: str, reason: str) -> FieldProblem:
    lowered = reason.lower()
    if field == "security.mtls_cert_path" and ("decrypt" in lowered or "password" in lowered or "pem lib" in lowered):
        return FieldProblem(
            "security.mtls_key_password",
            f"cannot decrypt the private key of the client certificate ({reason})",
            "set mtls_key_password to the key's passphrase (or use an unencrypted key)",
        )
    if field == "security.mtls_cert_path" and "mismatch" in lowered:
        return FieldProblem(
            "security.mtls_key_path", f"the key does not belong to the certificate ({reason})", "check the pair"
        )
    return FieldProblem(field, f"cannot load TLS material: {reason}", "use PEM files")


def is_loopback(url: str) -> bool:
    """Whether ``url``'s host is this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def require_tls_for_credentials(url: str, what: str) -> None:
    """Refuse to send credentials over plain ``http://`` unless the host is loopback."""
    if urlsplit(url).scheme.lower() == "http" and not is_loopback(url):
        host = urlsplit(url).hostname
        raise SecurityError(
            f"refusing to send {what} over plain http:// to {host}: use https:// "
            "(plain http is allowed only for loopback hosts such as 127.0.0.1 and localhost)"
        )


_DROPPED: Final = ("server disconnected without sending a response", "connection reset", "eof occurred")
_ALERTS: Final = ("certificate_required", "certificate required", "unknown_ca", "unknown ca", "bad_certificate")


class TLSDiagnosticsTransport(httpx.AsyncBaseTransport):
    """Wraps the HTTPS transport to explain what a bare "server disconnected" means under mTLS.

    A TLS 1.3 server that requires a client certificate checks it only after the handshake and,
    if there is none or it is not trusted, closes the connection - often without the alert, so
    the client sees nothing but a disconnect. The error keeps its type (retry and fallback rules
    are unchanged); its message gains what to check.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, *, presents_certificate: bool) -> None:
        """Wrap ``inner``; ``presents_certificate`` tells whether a client certificate is configured."""
        self._inner = inner
        self._presents_certificate = presents_certificate

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the wrapped transport."""
        try:
            return await self._inner.handle_async_request(request)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError) as exc:
            text = str(exc).lower()
            if not (any(mark in text for mark in _ALERTS) or (not text.strip() or any(m in text for m in _DROPPED))):
                raise
            if self._presents_certificate:
                hint = (
                    "the server closed the TLS connection without an answer; if it requires a client certificate, "
                    "it did not accept ours: check that it trusts the CA of mtls_cert_path"
                )
            else:
                hint = (
                    "the server closed the TLS connection without an answer; if it requires a client certificate "
                    "(mutual TLS), configure SecurityConfig(mtls_cert_path=..., mtls_key_path=...)"
                )
            detail = str(exc).strip() or type(exc).__name__
            raise type(exc)(f"{detail} ({hint})", request=request) from exc

    async def aclose(self) -> None:
        """Close the wrapped transport."""
        await self._inner.aclose()
