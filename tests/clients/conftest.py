"""Fixtures for the client scenarios (both flavours): servers, TLS material, a black-hole socket."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from kei_agent.testing import ServerHandle, TLSConfig, run_server
from tests.support.oidc import AUDIENCE, OIDCProvider, run_oidc_provider
from tests.support.pki import PKI, make_pki
from tests.support.proxy import ForwardProxy, run_forward_proxy

TOKEN = "scenario-token"

#: The async scenarios run once per transport of the async client (``ConnectionConfig.transport``);
#: ``KEI_TRANSPORT=httpx`` (or ``aiohttp``) in the environment runs them on that one only.
ASYNC_TRANSPORTS = (os.environ["KEI_TRANSPORT"],) if os.environ.get("KEI_TRANSPORT") else ("httpx", "aiohttp")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.path.parent.name == "_async":
        metafunc.parametrize("kei_transport", ASYNC_TRANSPORTS, indirect=True)


@pytest.fixture(autouse=True)
def kei_transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """The transport the async scenarios run on (``KEI_TRANSPORT``, which ``transport="auto"`` reads)."""
    transport: str | None = getattr(request, "param", None)
    if transport is not None:
        monkeypatch.setenv("KEI_TRANSPORT", transport)
    return transport


@pytest.fixture
def server() -> Iterator[ServerHandle]:
    with run_server(tokens=[TOKEN]) as handle:
        yield handle


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(tls_ca: trustme.CA, tmp_path: Path) -> Iterator[tuple[ServerHandle, Path]]:
    """An HTTPS reference server with a certificate from a private CA; yields (server, CA bundle)."""
    cert = tls_ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file, ca_file = tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "ca.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(cert_file), append=True)
    cert.private_key_pem.write_to_path(str(key_file))
    tls_ca.cert_pem.write_to_path(str(ca_file))
    with run_server(tokens=[TOKEN], tls=TLSConfig(certfile=cert_file, keyfile=key_file)) as handle:
        yield handle, ca_file


@pytest.fixture
def env_proxy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ForwardProxy]:
    """A forward proxy (pproxy) named by ``HTTP_PROXY`` and ``HTTPS_PROXY``, ``NO_PROXY`` unset."""
    with run_forward_proxy(tmp_path / "proxy.log") as proxy:
        for name in ("no_proxy", "all_proxy", "http_proxy", "https_proxy"):
            monkeypatch.delenv(name, raising=False)
            monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        yield proxy


@pytest.fixture
def black_hole() -> Iterator[str]:
    """A loopback address whose accept queue is full: new TCP connects hang until they time out."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


# ------------------------------------------------------------------ auth peers (OIDC, mTLS)


@pytest.fixture(scope="session")
def pki(tls_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> PKI:
    """Server certificate (from ``tls_ca``), client certificates (own CA), an encrypted key, a rogue CA."""
    return make_pki(Path(tmp_path_factory.mktemp("pki")), tls_ca)


@pytest.fixture(scope="session")
def oidc_provider(pki: PKI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OIDCProvider]:
    """oidc-provider (npm, pinned) over HTTPS on a free port, for the whole session."""
    workdir = Path(tmp_path_factory.mktemp("oidc"))
    with run_oidc_provider(workdir, pki.server_cert, pki.server_key, pki.ca_file) as provider:
        yield provider


@pytest.fixture
def oidc(oidc_provider: OIDCProvider) -> OIDCProvider:
    """The provider with its defaults restored and its counters at zero."""
    oidc_provider.control(reset=True)
    return oidc_provider


@pytest.fixture
def oidc_server(oidc: OIDCProvider, pki: PKI) -> Iterator[ServerHandle]:
    """An HTTPS reference server that validates the provider's JWTs through its JWKS (and TOKEN)."""
    with run_server(
        tokens=[TOKEN],
        tls=TLSConfig(certfile=pki.server_cert, keyfile=pki.server_key),
        oidc_issuer=oidc.issuer,
        audience=AUDIENCE,
        oidc_ca_file=pki.ca_file,
    ) as handle:
        yield handle


@pytest.fixture
def mtls_server(pki: PKI) -> Iterator[ServerHandle]:
    """An HTTPS reference server that requires a client certificate of ``pki.client_ca_file``."""
    tls = TLSConfig(
        certfile=pki.server_cert, keyfile=pki.server_key, ca_certs=pki.client_ca_file, require_client_cert=True
    )
    with run_server(tokens=[TOKEN], tls=tls) as handle:
        yield handle
