"""Security: 401/403 problems, scopes per token, OIDC JWT access tokens, TLS and mutual TLS."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import trustme
from cryptography.hazmat.primitives.asymmetric import rsa

from kei_agent.testing import ServerHandle, TLSConfig, run_server
from kei_agent.testing.settings import ALL_SCOPES, ServerSettings

from .conftest import PLAN_ONLY, READ_REGISTRY, TOKEN

PLAN = "/api/v1/rpc/plan"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# -------------------------------------------------------------- static tokens
@pytest.mark.parametrize(
    "headers",
    [{}, bearer("wrong-token"), {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}],
    ids=["missing", "unknown", "basic", "empty"],
)
def test_missing_or_invalid_credentials_are_401_problems(server: ServerHandle, headers: dict[str, str]) -> None:
    response = httpx.post(f"{server.base_url}{PLAN}", json={"objective": "x"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 401
    assert problem["title"] == "Unauthorized"
    assert problem["request_id"] == response.headers["x-request-id"]


def test_missing_scope_is_403_with_required_scope(server: ServerHandle) -> None:
    with httpx.Client(base_url=server.base_url, headers=bearer(PLAN_ONLY)) as http:
        assert http.post(PLAN, json={"objective": "x"}).status_code == 200
        response = http.post("/api/v1/rpc/act", json={"action": "echo"})
        assert response.status_code == 403
        assert response.json()["required_scope"] == "kei:act"
        assert "kei:act" in response.json()["detail"]
        assert http.get("/api/v1/registry/agents").json()["required_scope"] == "kei:registry"
    with httpx.Client(base_url=server.base_url, headers=bearer(READ_REGISTRY)) as http:
        assert http.get("/api/v1/registry/agents").status_code == 200
        assert http.post(PLAN, json={"objective": "x"}).status_code == 403


def test_health_and_readiness_need_no_credentials(server: ServerHandle) -> None:
    health = httpx.get(f"{server.base_url}/api/v1/health")
    assert health.status_code == 200
    assert health.json()["status"] == "healthy"
    ready = httpx.get(f"{server.base_url}/api/v1/ready")
    assert ready.json()["ready"] is True


def test_development_token_only_without_configuration() -> None:
    assert ServerSettings().token_scopes() == {"dev-token": ALL_SCOPES}
    assert ServerSettings(tokens=["a"]).token_scopes() == {"a": ALL_SCOPES}
    assert ServerSettings(tokens={"a": ["kei:plan"]}).token_scopes() == {"a": frozenset({"kei:plan"})}
    assert ServerSettings(jwks_url="http://127.0.0.1:1/jwks").token_scopes() == {}
    with run_server(tokens=[TOKEN]) as server:
        assert httpx.get(f"{server.base_url}/api/v1/registry/agents", headers=bearer("dev-token")).status_code == 401


def test_dev_token_is_announced(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="kei_agent.testing"), run_server() as server:
        assert httpx.get(f"{server.base_url}/api/v1/mcp/tools", headers=bearer("dev-token")).status_code == 200
    assert "dev-token" in caplog.text


# ------------------------------------------------------------------------ JWT
class _Issuer:
    """A tiny OpenID provider: discovery document and JWKS over a real HTTP socket."""

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    body: Any = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"}
                elif self.path == "/jwks":
                    issuer.jwks_requests += 1
                    body = issuer.jwks
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.jwks_requests = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def token(self, *, key: Any = None, kid: str = "k1", **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": self.url, "aud": "kei-api", "sub": "svc-1", "iat": now, "exp": now + 60, **claims}
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, key or self.key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def issuer() -> Iterator[_Issuer]:
    provider = _Issuer()
    provider.thread.start()
    yield provider
    provider.httpd.shutdown()
    provider.httpd.server_close()
    provider.thread.join(5)


@pytest.fixture(scope="module")
def oidc_server(issuer: _Issuer) -> Iterator[ServerHandle]:
    with run_server(oidc_issuer=issuer.url, audience="kei-api", tokens={"static": ["kei:mcp"]}) as server:
        yield server


def test_jwt_scopes_authorise_operations(oidc_server: ServerHandle, issuer: _Issuer) -> None:
    with httpx.Client(
        base_url=oidc_server.base_url, headers=bearer(issuer.token(scope="kei:plan kei:explain"))
    ) as http:
        assert http.post(PLAN, json={"objective": "x"}).status_code == 200
        assert http.post("/api/v1/rpc/explain", json={"query": "?"}).status_code == 200
        denied = http.post("/api/v1/rpc/act", json={"action": "echo"})
        assert denied.status_code == 403
        assert denied.json()["required_scope"] == "kei:act"
    scp = bearer(issuer.token(scp=["kei:act"]))
    assert httpx.post(f"{oidc_server.base_url}/api/v1/rpc/act", json={"action": "echo"}, headers=scp).status_code == 200
    static = httpx.get(f"{oidc_server.base_url}/api/v1/mcp/tools", headers=bearer("static"))
    assert static.status_code == 200


@pytest.mark.parametrize(
    ("claims", "detail"),
    [
        ({"exp": int(time.time()) - 30}, "expired"),
        ({"aud": "someone-else"}, "audience"),
        ({"iss": "https://evil.example"}, "issuer"),
        ({"nbf": int(time.time()) + 3600}, "not yet valid"),
        ({"exp": None}, "exp"),
    ],
    ids=["expired", "wrong-aud", "wrong-iss", "not-yet-valid", "no-exp"],
)
def test_invalid_jwt_is_401(oidc_server: ServerHandle, issuer: _Issuer, claims: dict[str, Any], detail: str) -> None:
    token = issuer.token(scope="kei:plan", **claims)
    response = httpx.post(f"{oidc_server.base_url}{PLAN}", json={"objective": "x"}, headers=bearer(token))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert detail in response.json()["detail"].lower()


def test_jwt_signed_by_an_unknown_key_is_401(oidc_server: ServerHandle, issuer: _Issuer) -> None:
    forged = issuer.token(key=issuer.other_key, scope="kei:plan")
    response = httpx.post(f"{oidc_server.base_url}{PLAN}", json={"objective": "x"}, headers=bearer(forged))
    assert response.status_code == 401
    unknown_kid = issuer.token(key=issuer.other_key, kid="k2", scope="kei:plan")
    response = httpx.post(f"{oidc_server.base_url}{PLAN}", json={"objective": "x"}, headers=bearer(unknown_kid))
    assert response.status_code == 401
    unsigned = jwt.encode({"iss": issuer.url, "aud": "kei-api", "exp": int(time.time()) + 60}, key="", algorithm="none")
    response = httpx.post(f"{oidc_server.base_url}{PLAN}", json={"objective": "x"}, headers=bearer(unsigned))
    assert response.status_code == 401


def test_jwks_url_without_discovery(issuer: _Issuer) -> None:
    with run_server(jwks_url=f"{issuer.url}/jwks", oidc_issuer=issuer.url, audience="kei-api") as server:
        token = issuer.token(scope="kei:plan")
        assert httpx.post(f"{server.base_url}{PLAN}", json={"objective": "x"}, headers=bearer(token)).status_code == 200


# ------------------------------------------------------------------ TLS, mTLS
@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder: Path = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server_pem = folder / "server.pem"
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    ca_pem = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_pem))
    return {"ca": ca, "server": server_pem, "ca_pem": ca_pem, "client": ca.issue_cert("agent-7")}


def _context(pki: dict[str, Any], *, with_cert: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    pki["ca"].configure_trust(context)
    if with_cert:
        pki["client"].configure_cert(context)
    return context


def test_https_with_bearer_token(pki: dict[str, Any]) -> None:
    tls = TLSConfig(pki["server"], pki["server"])
    with run_server(tokens=[TOKEN], tls=tls) as server:
        assert server.base_url.startswith("https://")
        with httpx.Client(base_url=server.base_url, verify=_context(pki, with_cert=False)) as http:
            assert http.post(PLAN, json={"objective": "x"}, headers=bearer(TOKEN)).status_code == 200
            assert http.post(PLAN, json={"objective": "x"}).status_code == 401


def test_mutual_tls_client_certificate_authenticates(pki: dict[str, Any]) -> None:
    tls = TLSConfig(pki["server"], pki["server"], ca_certs=pki["ca_pem"], require_client_cert=True)
    with run_server(tokens=[TOKEN], tls=tls) as server:
        with httpx.Client(base_url=server.base_url, verify=_context(pki, with_cert=True)) as http:
            response = http.post(PLAN, json={"objective": "x"})
            assert response.status_code == 200, response.text
            assert http.get("/api/v1/health").status_code == 200
        with (
            httpx.Client(base_url=server.base_url, verify=_context(pki, with_cert=False)) as http,
            pytest.raises(httpx.TransportError),
        ):
            http.post(PLAN, json={"objective": "x"}, headers=bearer(TOKEN))


def test_optional_client_certificate(pki: dict[str, Any]) -> None:
    tls = TLSConfig(pki["server"], pki["server"], ca_certs=pki["ca_pem"])
    with run_server(tokens=[TOKEN], tls=tls) as server:
        with httpx.Client(base_url=server.base_url, verify=_context(pki, with_cert=True)) as http:
            assert http.post(PLAN, json={"objective": "x"}).status_code == 200
        with httpx.Client(base_url=server.base_url, verify=_context(pki, with_cert=False)) as http:
            assert http.post(PLAN, json={"objective": "x"}).status_code == 401
            assert http.post(PLAN, json={"objective": "x"}, headers=bearer(TOKEN)).status_code == 200
