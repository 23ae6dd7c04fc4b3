"""The client's connection pool: which transport carries the httpx requests, built once per client.

``ConnectionConfig.transport`` chooses it (``KEI_TRANSPORT`` in the environment):

* ``"httpx"``: httpx's own transport (httpcore);
* ``"aiohttp"``: an aiohttp connection pool under the same httpx API (``pip install
  "kei-agent-py-sdk[aiohttp]"``); less CPU per call than httpcore, the more so the more calls
  are in flight (BENCHMARKS.md), HTTP/1.1 only;
* ``"auto"`` (the default): the ``KEI_TRANSPORT`` environment variable when it is set, otherwise
  ``"aiohttp"`` when the extra is installed (and ``http2`` is off), otherwise ``"httpx"``.

The sync client always uses httpx's own transport and ignores the setting (aiohttp needs an
event loop), so one configuration serves both flavours.

Whatever the transport, the client is an ``httpx.AsyncClient`` with the same TLS context (CA bundle,
client certificate), pool limits, timeouts and error types; proxies from the environment
(``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``) are read with the standard library
(:func:`environment_mounts`) and each proxy gets a transport of the chosen kind, mounted with httpx's
public ``mounts=`` routing (the same patterns httpx derives from the environment itself).
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import ssl
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from kei_agent.config import ConnectionConfig, SecurityConfig
from kei_agent.errors import ConfigurationError, FieldProblem

from ._backend import AIOHTTP_FLAVOUR, aiohttp_transport, httpcore_transport
from ._tls import TLSDiagnosticsTransport, build_ssl_context, uses_client_certificate

__all__ = ["TRANSPORTS", "TRANSPORT_ENV", "aiohttp_installed", "choose_transport", "environment_mounts", "open_pool"]

#: The environment variable ``transport="auto"`` consults first.
TRANSPORT_ENV = "KEI_TRANSPORT"
#: The values of ``ConnectionConfig.transport``.
TRANSPORTS = ("auto", "httpx", "aiohttp")
AIOHTTP_EXTRA = "pip install 'kei-agent-py-sdk[aiohttp]'"


def aiohttp_installed() -> bool:
    """Whether the ``aiohttp`` extra (httpx-aiohttp and aiohttp) is installed."""
    return importlib.util.find_spec("httpx_aiohttp") is not None and importlib.util.find_spec("aiohttp") is not None


def choose_transport(connection: ConnectionConfig, environ: Mapping[str, str] | None = None) -> str:
    """``"httpx"`` or ``"aiohttp"``: the transport ``connection`` asks for (see the module docstring).

    An unusable request (unknown ``KEI_TRANSPORT`` value, extra not installed, ``http2`` with
    aiohttp) raises ``ConfigurationError`` naming the setting and the fix.
    """
    if not AIOHTTP_FLAVOUR:
        return "httpx"
    setting, where = connection.transport, "connection.transport"
    if setting == "auto":
        value = (os.environ if environ is None else environ).get(TRANSPORT_ENV, "").strip().lower()
        if value and value not in TRANSPORTS:
            raise ConfigurationError(
                [FieldProblem(TRANSPORT_ENV, f"must be one of {', '.join(TRANSPORTS)}", "use httpx or aiohttp")],
                title="Invalid environment",
            )
        if value:
            setting, where = value, TRANSPORT_ENV
    if setting == "auto":
        return "aiohttp" if aiohttp_installed() and not connection.http2 else "httpx"
    if setting == "aiohttp":
        problems = []
        if not aiohttp_installed():
            problems.append(FieldProblem(where, "aiohttp needs the aiohttp extra", AIOHTTP_EXTRA))
        if connection.http2:
            problems.append(FieldProblem(where, "aiohttp speaks HTTP/1.1 only", "use transport='httpx' for http2=True"))
        if problems:
            raise ConfigurationError(problems, title="Unusable transport")
    return setting


def _is_ip(hostname: str) -> bool:
    try:
        ipaddress.ip_address(hostname.split("/")[0])
    except ValueError:
        return False
    return True


def environment_mounts(proxies: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """httpx mount patterns for the environment's proxies: pattern -> proxy URL, or ``None`` (no proxy).

    ``proxies`` is :func:`urllib.request.getproxies` (the default): ``http``/``https``/``all``
    proxies become ``"http://"``, ``"https://"`` and ``"all://"`` mounts; every ``NO_PROXY`` entry
    becomes a ``None`` mount (host names match their subdomains too, as in curl and httpx:
    ``example.com`` -> ``"all://*example.com"``; IP addresses and ``localhost`` match exactly);
    ``NO_PROXY=*`` turns proxies off. httpx picks the most specific matching pattern per request.
    """
    info = urllib.request.getproxies() if proxies is None else proxies
    mounts: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        url = info.get(scheme)
        if url:
            mounts[f"{scheme}://"] = url if "://" in url else f"http://{url}"
    for entry in info.get("no", "").split(","):
        hostname = entry.strip()
        if hostname == "*":
            return {}
        if not hostname:
            continue
        if "://" in hostname:
            mounts[hostname] = None
        elif _is_ip(hostname):
            mounts[f"all://[{hostname}]" if ":" in hostname else f"all://{hostname}"] = None
        elif hostname.lower() == "localhost":
            mounts[f"all://{hostname}"] = None
        else:
            mounts[f"all://*{hostname}"] = None
    return mounts


def open_pool(
    base_url: str,
    connection: ConnectionConfig,
    security: SecurityConfig,
    *,
    kind: str,
    transport: httpx.AsyncBaseTransport | None = None,
    event_hooks: Mapping[str, list[Callable[..., Any]]] | None = None,
) -> tuple[httpx.AsyncClient, httpx.AsyncBaseTransport | None]:
    """The client's one ``httpx.AsyncClient`` over a ``kind`` pool (:func:`choose_transport`), and
    the transport that carries every request to ``base_url`` when nothing can come between them.

    ``transport`` replaces the network, proxies included (transport edge-case tests).

    The second value is that transport when no proxy from the environment applies and no event
    hooks are set (``None`` otherwise): the engine then hands its requests (``httpx.Request``s built
    from each route's prepared parts) straight to it. It uses none of what ``AsyncClient.send`` adds per request -
    cookies (a bearer API sets none; the jar still costs a copy of every header per response),
    auth flows (a static token is a header), redirects (never followed), event hooks - and the
    pool, TLS context, limits and timeouts are the same.
    """
    context = build_ssl_context(connection.verify, security, always=True)
    assert isinstance(context, ssl.SSLContext)
    limits = httpx.Limits(
        max_connections=connection.max_connections,
        max_keepalive_connections=connection.max_keepalive_connections,
        keepalive_expiry=connection.keepalive_expiry,
    )
    diagnose = base_url.lower().startswith("https://")
    presents_certificate = uses_client_certificate(security)

    def network(proxy: httpx.Proxy | None) -> httpx.AsyncBaseTransport:
        inner: httpx.AsyncBaseTransport
        if kind == "aiohttp":
            inner = aiohttp_transport(ssl_context=context, limits=limits, proxy=proxy)
        else:
            inner = httpcore_transport(ssl_context=context, http2=connection.http2, limits=limits, proxy=proxy)
        return TLSDiagnosticsTransport(inner, presents_certificate=presents_certificate) if diagnose else inner

    if transport is not None:
        mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
    else:
        transport = network(None)
        mounts = {
            pattern: None if url is None else network(httpx.Proxy(url)) for pattern, url in environment_mounts().items()
        }
    client = httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(connection.timeout, connect=connection.connect_timeout),
        limits=limits,
        http2=connection.http2,
        verify=context,
        follow_redirects=False,
        transport=transport,
        mounts=mounts,
        trust_env=False,  # the environment's proxies are the mounts above
        event_hooks=dict(event_hooks) if event_hooks else None,
    )
    return client, None if mounts or event_hooks else transport
