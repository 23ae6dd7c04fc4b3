"""OIDC client credentials against a real OpenID provider (oidc-provider over HTTPS).

The reference server validates the provider's JWT access tokens through its JWKS. Token requests
are counted by the provider; API requests by the server. Written once for the async client;
tests/clients/_sync holds the generated twin.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from kei_agent import (
    AgentClientConfig,
    AuthenticationError,
    AuthType,
    ConnectionConfig,
    PermissionDeniedError,
    RetryConfig,
    SecurityConfig,
    TokenUnavailableError,
)
from kei_agent.testing import Fault, ServerHandle, TLSConfig, run_server
from kei_agent_async import KeiAgentClient
from kei_agent_async._backend import sleep
from kei_agent_async.auth import TokenAuth
from tests.clients.conftest import TOKEN
from tests.support.oidc import AUDIENCE, BASIC_CLIENT, PLAN_ONLY_CLIENT, POST_CLIENT, OIDCProvider
from tests.support.peers import free_port
from tests.support.pki import PKI

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryConfig(max_attempts=3, base_delay=0.01, max_delay=0.05)


def security(oidc: OIDCProvider, client_id: str = BASIC_CLIENT, **overrides: Any) -> SecurityConfig:
    settings: dict[str, Any] = {
        "auth_type": AuthType.OIDC,
        "oidc_issuer": oidc.issuer,
        "oidc_client_id": client_id,
        "oidc_client_secret": oidc.secrets.get(client_id, "unknown"),
        "oidc_scope": "kei:plan kei:act",
        "oidc_audience": AUDIENCE,
    }
    settings.update(overrides)
    return SecurityConfig(**settings)


def config(server: ServerHandle, pki: PKI, **overrides: Any) -> AgentClientConfig:
    settings: dict[str, Any] = {
        "agent_id": "oidc-agent",
        "retry": FAST_RETRY,
        "connection": ConnectionConfig(verify=str(pki.ca_file)),
    }
    settings.update(overrides)
    return AgentClientConfig(server.base_url, **settings)


def claims_of(authorization: str) -> dict[str, Any]:
    payload = authorization.removeprefix("Bearer ").split(".")[1]
    result: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return result


def token_auth(client: KeiAgentClient) -> TokenAuth:
    auth = client._auth
    assert isinstance(auth, TokenAuth)
    return auth


@pytest.mark.parametrize(
    ("client_id", "method"), [(BASIC_CLIENT, "client_secret_basic"), (POST_CLIENT, "client_secret_post")]
)
async def test_client_credentials_tokens_are_accepted_by_the_api(
    oidc: OIDCProvider, oidc_server: ServerHandle, pki: PKI, client_id: str, method: str
) -> None:
    settings = security(oidc, client_id, oidc_token_auth_method=method)
    async with KeiAgentClient(config(oidc_server, pki), security_config=settings) as client:
        for index in range(3):
            await client.plan_task(objective=f"task {index}")
        await client.execute_action("generate_report", {"title": "Q3"})
    assert oidc.token_requests() == 1
    assert oidc.issued(client_id) == 1
    headers = oidc_server.stats.last_headers("executeAction")
    assert headers is not None
    claims = claims_of(headers["authorization"])
    assert claims["iss"] == oidc.issuer
    assert claims["aud"] == AUDIENCE
    assert claims["client_id"] == client_id
    assert set(claims["scope"].split()) == {"kei:plan", "kei:act"}


async def test_an_explicit_token_url_skips_discovery(oidc: OIDCProvider, oidc_server: ServerHandle, pki: PKI) -> None:
    settings = security(oidc, oidc_issuer=None, oidc_token_url=oidc.token_url)
    async with KeiAgentClient(config(oidc_server, pki), security_config=settings) as client:
        await client.plan_task(objective="x")
    assert oidc.token_requests() == 1


@pytest.mark.parametrize(("refresh", "expected_tokens"), [(True, 2), (False, 1)])
async def test_tokens_are_refreshed_before_they_expire(
    oidc: OIDCProvider, oidc_server: ServerHandle, pki: PKI, refresh: bool, expected_tokens: int
) -> None:
    """A 3 s token with a 30 s leeway is renewed after half its lifetime (the leeway is clamped);
    with refreshing disabled the same token is still used then."""
    oidc.control(ttl=3)
    settings = security(oidc, token_refresh_enabled=refresh, token_refresh_leeway=30.0)
    async with KeiAgentClient(config(oidc_server, pki), security_config=settings) as client:
        await client.plan_task(objective="first")
        await sleep(0.3)
        await client.plan_task(objective="second")
        assert oidc.token_requests() == 1
        await sleep(1.3)
        await client.plan_task(objective="after the refresh point")
    assert oidc.token_requests() == expected_tokens
    assert oidc_server.stats.requests("planTask") == 3  # no 401, no replay: the API never saw an expired token
    first, *_, last = oidc_server.stats.all_headers("planTask")
    assert (first["authorization"] != last["authorization"]) is refresh


async def test_a_401_invalidates_the_token_and_the_call_is_replayed_once(
    oidc: OIDCProvider, oidc_server: ServerHandle, pki: PKI
) -> None:
    async with KeiAgentClient(config(oidc_server, pki), security_config=security(oidc)) as client:
        await client.plan_task(objective="warm up")
        oidc_server.faults.add(Fault.status(401, route="planTask", times=1))
        plan = await client.plan_task(objective="rejected once")
    assert plan["plan_id"]
    assert oidc.token_requests() == 2
    assert oidc_server.stats.requests("planTask") == 3
    sent = [headers["authorization"] for headers in oidc_server.stats.all_headers("planTask")]
    assert sent[0] == sent[1] != sent[2]


async def test_a_second_401_is_raised_without_another_replay(
    oidc: OIDCProvider, oidc_server: ServerHandle, pki: PKI
) -> None:
    oidc_server.faults.add(Fault.status(401, route="planTask", times=2))
    async with KeiAgentClient(config(oidc_server, pki), security_config=security(oidc)) as client:
        with pytest.raises(AuthenticationError):
            await client.plan_task(objective="rejected twice")
    assert oidc_server.stats.requests("planTask") == 2
    assert oidc.token_requests() == 2


async def test_token_endpoint_5xx_is_retried_with_backoff(
    oidc: OIDCProvider, oidc_server: ServerHandle, pki: PKI
) -> None:
    oidc.control(fail=[503, 502])
    async with KeiAgentClient(config(oidc_server, pki), security_config=security(oidc)) as client:
        plan = await client.plan_task(objective="after an outage")
    assert plan["plan_id"]
    assert oidc.token_requests() == 3
    assert oidc_server.stats.requests("planTask") == 1


async def test_a_persistent_token_endpoint_outage_raises_token_unavailable(
    oidc: OIDCProvider, oidc_server: ServerHandle, pki: PKI
) -> None:
    oidc.control(fail=[503, 503, 503])
    async with KeiAgentClient(config(oidc_server, pki), security_config=security(oidc)) as client:
        with pytest.raises(TokenUnavailableError) as caught:
            await client.plan_task(objective="never sent")
        assert client.protocol_downgrades == {}  # not mistaken for an API outage: no protocol fallback
    assert caught.value.attempts == 3
    assert caught.value.status_code == 503
    assert "503" in str(caught.value)
    assert oidc.token_requests() == 3
    assert oidc_server.stats.requests() == 0


async def test_an_unreachable_token_endpoint_raises_token_unavailable(
    oidc: OIDCProvider, oidc_server: ServerHandle, pki: PKI
) -> None:
    settings = security(oidc, oidc_issuer=None, oidc_token_url=f"https://127.0.0.1:{free_port()}/token")
    async with KeiAgentClient(config(oidc_server, pki), security_config=settings) as client:
        with pytest.raises(TokenUnavailableError) as caught:
            await client.plan_task(objective="never sent")
    assert caught.value.attempts == 3
    assert caught.value.status_code is None
    assert oidc_server.stats.requests() == 0


async def test_invalid_client_is_an_authentication_error_without_retries(
    oidc: OIDCProvider, oidc_server: ServerHandle, pki: PKI
) -> None:
    settings = security(oidc, oidc_client_secret="not-the-secret")
    async with KeiAgentClient(config(oidc_server, pki), security_config=settings) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.plan_task(objective="never sent")
    assert caught.value.oauth_error == "invalid_client"
    assert caught.value.status_code == 401
    assert "invalid_client" in str(caught.value)
    assert oidc.token_requests() == 1
    assert oidc_server.stats.requests() == 0


async def test_invalid_scope_is_an_authentication_error(
    oidc: OIDCProvider, oidc_server: ServerHandle, pki: PKI
) -> None:
    settings = security(oidc, PLAN_ONLY_CLIENT, oidc_scope="kei:plan kei:act")
    async with KeiAgentClient(config(oidc_server, pki), security_config=settings) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.plan_task(objective="never sent")
    assert caught.value.oauth_error == "invalid_scope"
    assert caught.value.status_code == 400
    assert oidc.token_requests() == 1


async def test_rbac_checks_the_scopes_granted_to_the_token(
    oidc: OIDCProvider, oidc_server: ServerHandle, pki: PKI
) -> None:
    settings = security(oidc, PLAN_ONLY_CLIENT, oidc_scope="kei:plan", rbac_enabled=True)
    async with KeiAgentClient(config(oidc_server, pki), security_config=settings) as client:
        plan = await client.plan_task(objective="allowed")
        with pytest.raises(PermissionDeniedError) as denied:
            await client.execute_action("generate_report", plan_id=plan["plan_id"])
    assert denied.value.required_scope == "kei:act"
    assert oidc_server.stats.requests("executeAction") == 0
    assert oidc.token_requests() == 1


@pytest.fixture
def lenient_server(oidc: OIDCProvider, pki: PKI) -> Iterator[ServerHandle]:
    """Accepts the provider's tokens despite a clock difference of up to two hours."""
    with run_server(
        tls=TLSConfig(certfile=pki.server_cert, keyfile=pki.server_key),
        oidc_issuer=oidc.issuer,
        audience=AUDIENCE,
        oidc_ca_file=pki.ca_file,
        jwt_leeway_seconds=7200,
    ) as handle:
        yield handle


@pytest.mark.parametrize("skew", [-3600, 3600])
async def test_clock_skew_does_not_change_when_tokens_are_renewed(
    oidc: OIDCProvider, lenient_server: ServerHandle, pki: PKI, skew: int
) -> None:
    """The provider's clock is an hour off: its tokens' exp is in our past (or far future). The
    client measures lifetimes from expires_in on its monotonic clock, so it neither refetches on
    every call nor keeps a token for an hour."""
    oidc.control(skew=skew)
    async with KeiAgentClient(config(lenient_server, pki), security_config=security(oidc)) as client:
        for index in range(5):
            await client.plan_task(objective=f"task {index}")
        entry = token_auth(client).cache.entry
    assert oidc.token_requests() == 1
    assert entry is not None
    assert entry.expires_at - entry.obtained_at == pytest.approx(300, abs=1)


async def test_the_token_endpoint_uses_the_api_tls_settings_not_the_environment(
    oidc: OIDCProvider, oidc_server: ServerHandle, pki: PKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests would trust REQUESTS_CA_BUNDLE; the SDK's token endpoint trusts what the API trusts."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca_file))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(pki.ca_file))
    untrusting = config(oidc_server, pki, connection=ConnectionConfig(verify=True))
    async with KeiAgentClient(untrusting, security_config=security(oidc)) as client:
        with pytest.raises(TokenUnavailableError, match="CERTIFICATE_VERIFY_FAILED") as caught:
            await client.plan_task(objective="never sent")
    assert caught.value.attempts == 1  # a TLS failure is not retried


async def test_oidc_tokens_together_with_a_client_certificate(oidc: OIDCProvider, pki: PKI) -> None:
    tls = TLSConfig(pki.server_cert, pki.server_key, ca_certs=pki.client_ca_file, require_client_cert=True)
    settings = security(
        oidc, mtls_cert_path=str(pki.client_cert), mtls_key_path=str(pki.client_key), mtls_ca_path=str(pki.ca_file)
    )
    with run_server(tls=tls, oidc_issuer=oidc.issuer, audience=AUDIENCE, oidc_ca_file=pki.ca_file) as server:
        async with KeiAgentClient(AgentClientConfig(server.base_url, retry=FAST_RETRY), security_config=settings) as c:
            await c.plan_task(objective="both")
        headers = server.stats.last_headers("planTask")
    assert headers is not None
    assert claims_of(headers["authorization"])["client_id"] == BASIC_CLIENT
    assert oidc.token_requests() == 1


async def test_static_tokens_still_work_next_to_oidc_on_the_server(oidc_server: ServerHandle, pki: PKI) -> None:
    async with KeiAgentClient(config(oidc_server, pki, api_token=TOKEN)) as client:
        assert (await client.plan_task(objective="static"))["plan_id"]
