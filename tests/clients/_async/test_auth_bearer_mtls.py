"""Bearer tokens (static, callables, token sources), client-side RBAC, TLS rules and mutual TLS,
against the reference server over real sockets. Written once for the async client;
tests/clients/_sync holds the generated twin.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from kei_agent import (
    AccessToken,
    AgentClientConfig,
    APIConnectionError,
    AuthenticationError,
    AuthType,
    ConfigurationError,
    ConnectionConfig,
    PermissionDeniedError,
    RetryConfig,
    SecurityConfig,
    SecurityError,
)
from kei_agent.testing import ServerHandle, run_server
from kei_agent_async import KeiAgentClient
from kei_agent_async.auth import BearerAuth, TokenAuth
from tests.clients.conftest import TOKEN
from tests.support.pki import PKI

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryConfig(max_attempts=3, base_delay=0.01, max_delay=0.05)
ONE_ATTEMPT = RetryConfig(max_attempts=1)


def jwt_like(claims: dict[str, Any]) -> str:
    """An unsigned JWT: the reference server accepts it as a static token, the client reads its claims."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.signature"


PLAN_ONLY_JWT = jwt_like({"sub": "agent-7", "scope": "kei:plan", "iat": 1_700_000_000, "exp": 1_700_000_600})


def config(url: str, **overrides: Any) -> AgentClientConfig:
    settings: dict[str, Any] = {"agent_id": "auth-agent", "retry": FAST_RETRY}
    settings.update(overrides)
    return AgentClientConfig(url, **settings)


@pytest.fixture
def narrow_server() -> Iterator[ServerHandle]:
    """Grants PLAN_ONLY_JWT and the opaque token `narrow-token` only kei:plan; TOKEN everything."""
    scopes = {PLAN_ONLY_JWT: ["kei:plan"], "narrow-token": ["kei:plan"], TOKEN: ["kei:plan", "kei:act"]}
    with run_server(tokens=scopes) as handle:
        yield handle


# ------------------------------------------------------------------------------------ bearer


async def test_the_security_config_token_takes_precedence(server: ServerHandle) -> None:
    settings = SecurityConfig(api_token=TOKEN)
    async with KeiAgentClient(config(server.base_url, api_token="other"), security_config=settings) as client:
        await client.plan_task(objective="x")
    headers = server.stats.last_headers("planTask")
    assert headers is not None
    assert headers["authorization"] == f"Bearer {TOKEN}"


async def test_a_token_callable_is_asked_for_every_request(server: ServerHandle) -> None:
    calls: list[int] = []

    def current_token() -> str:
        calls.append(1)
        return TOKEN

    settings = SecurityConfig(token_provider=current_token)
    async with KeiAgentClient(config(server.base_url), security_config=settings) as client:
        for _ in range(3):
            await client.plan_task(objective="x")
        await client.health_check()  # needs no credentials: the callable is not asked
    assert len(calls) == 3


async def test_a_rotated_token_is_picked_up_after_a_401(server: ServerHandle) -> None:
    tokens = iter(["revoked-token", TOKEN])
    settings = SecurityConfig(token_provider=lambda: next(tokens))
    async with KeiAgentClient(config(server.base_url), security_config=settings) as client:
        plan = await client.plan_task(objective="x")
    assert plan["plan_id"]
    assert server.stats.requests("planTask") == 2


async def test_a_wrong_static_token_is_rejected_without_a_replay(server: ServerHandle) -> None:
    async with KeiAgentClient(config(server.base_url, api_token="wrong-token")) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.plan_task(objective="x")
    assert caught.value.status_code == 401
    assert server.stats.requests("planTask") == 1


async def test_a_token_source_is_cached_and_asked_again_after_a_401(server: ServerHandle) -> None:
    class Rotating:
        def __init__(self) -> None:
            self.values = ["revoked-token", TOKEN]

        def fetch_token(self) -> AccessToken:
            return AccessToken(self.values.pop(0), expires_in=300)

    settings = SecurityConfig(token_provider=Rotating())
    async with KeiAgentClient(config(server.base_url), security_config=settings) as client:
        await client.plan_task(objective="first")
        await client.plan_task(objective="second")
        auth = client._auth
        assert isinstance(auth, TokenAuth)
        assert auth.fetches == 2
    assert server.stats.requests("planTask") == 3


async def test_bearer_without_any_token_is_a_configuration_error(server: ServerHandle) -> None:
    with pytest.raises(ConfigurationError, match="api_token"):
        KeiAgentClient(config(server.base_url))


# -------------------------------------------------------------------------------------- RBAC


async def test_rbac_refuses_an_operation_outside_the_token_scopes_without_a_request(
    narrow_server: ServerHandle,
) -> None:
    settings = SecurityConfig(api_token=PLAN_ONLY_JWT, rbac_enabled=True)
    async with KeiAgentClient(config(narrow_server.base_url), security_config=settings) as client:
        plan = await client.plan_task(objective="allowed")
        with pytest.raises(PermissionDeniedError) as denied:
            await client.execute_action("generate_report", plan_id=plan["plan_id"])
    assert denied.value.required_scope == "kei:act"
    assert "kei:act" in str(denied.value)
    assert narrow_server.stats.requests("executeAction") == 0


async def test_without_rbac_the_server_answers_403(narrow_server: ServerHandle) -> None:
    settings = SecurityConfig(api_token=PLAN_ONLY_JWT)
    async with KeiAgentClient(config(narrow_server.base_url), security_config=settings) as client:
        with pytest.raises(PermissionDeniedError) as denied:
            await client.execute_action("generate_report")
    assert denied.value.required_scope == "kei:act"
    assert narrow_server.stats.requests("executeAction") == 1


async def test_rbac_leaves_opaque_tokens_to_the_server(narrow_server: ServerHandle) -> None:
    settings = SecurityConfig(api_token="narrow-token", rbac_enabled=True)
    async with KeiAgentClient(config(narrow_server.base_url), security_config=settings) as client:
        with pytest.raises(PermissionDeniedError):
            await client.execute_action("generate_report")
    assert narrow_server.stats.requests("executeAction") == 1


# ---------------------------------------------------------------------------------- TLS rules


@pytest.mark.parametrize("url", ["http://kei.example.com", "http://10.0.0.8:8080", "HTTP://Kei.Example.com/api"])
async def test_credentials_are_never_sent_over_plain_http(url: str) -> None:
    with pytest.raises(SecurityError, match="plain http"):
        KeiAgentClient(config(url, api_token=TOKEN))
    with pytest.raises(SecurityError, match="plain http"):
        KeiAgentClient(config(url), security_config=SecurityConfig(token_provider=lambda: TOKEN))


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9", "http://localhost:9", "http://[::1]:9", "https://kei.example.com"]
)
async def test_loopback_http_and_https_may_carry_credentials(url: str) -> None:
    async with KeiAgentClient(config(url, api_token=TOKEN)):
        pass


async def test_plain_http_without_credentials_is_allowed() -> None:
    async with KeiAgentClient(
        config("http://kei.example.com"), security_config=SecurityConfig(auth_type=AuthType.NONE)
    ):
        pass


async def test_the_server_certificate_is_verified_against_the_configured_ca(
    mtls_server: ServerHandle, pki: PKI
) -> None:
    settings = SecurityConfig(
        auth_type=AuthType.MTLS, mtls_cert_path=str(pki.client_cert), mtls_key_path=str(pki.client_key)
    )
    async with KeiAgentClient(config(mtls_server.base_url, retry=ONE_ATTEMPT), security_config=settings) as client:
        with pytest.raises(APIConnectionError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.health_check()


# -------------------------------------------------------------------------------- mutual TLS


def mtls(pki: PKI, **overrides: Any) -> SecurityConfig:
    settings: dict[str, Any] = {
        "auth_type": AuthType.MTLS,
        "mtls_cert_path": str(pki.client_cert),
        "mtls_key_path": str(pki.client_key),
        "mtls_ca_path": str(pki.ca_file),
    }
    settings.update(overrides)
    return SecurityConfig(**settings)


async def test_mtls_with_the_right_certificate(mtls_server: ServerHandle, pki: PKI) -> None:
    async with KeiAgentClient(config(mtls_server.base_url), security_config=mtls(pki)) as client:
        plan = await client.plan_task(objective="over mTLS")
        agent = await client.register_agent("mtls agent")
    assert plan["plan_id"]
    assert agent["agent_id"] == "auth-agent"
    headers = mtls_server.stats.last_headers("planTask")
    assert headers is not None
    assert "authorization" not in headers


async def test_mtls_together_with_a_bearer_token(mtls_server: ServerHandle, pki: PKI) -> None:
    async with KeiAgentClient(config(mtls_server.base_url, api_token=TOKEN), security_config=mtls(pki)) as client:
        await client.plan_task(objective="certificate and token")
    headers = mtls_server.stats.last_headers("planTask")
    assert headers is not None
    assert headers["authorization"] == f"Bearer {TOKEN}"


async def test_mtls_with_an_encrypted_key_and_its_passphrase(mtls_server: ServerHandle, pki: PKI) -> None:
    settings = mtls(pki, mtls_key_path=str(pki.encrypted_client_key), mtls_key_password=pki.key_passphrase)
    async with KeiAgentClient(config(mtls_server.base_url), security_config=settings) as client:
        assert (await client.plan_task(objective="encrypted key"))["plan_id"]


@pytest.mark.parametrize("passphrase", [None, "wrong-passphrase"])
async def test_an_encrypted_key_without_its_passphrase_is_a_configuration_error(
    pki: PKI, passphrase: str | None
) -> None:
    settings = mtls(pki, mtls_key_path=str(pki.encrypted_client_key), mtls_key_password=passphrase)
    with pytest.raises(ConfigurationError, match="mtls_key_password") as caught:
        KeiAgentClient(config("https://kei.example.com"), security_config=settings)
    assert pki.key_passphrase not in str(caught.value)


async def test_mtls_without_a_client_certificate_fails_with_a_clear_error(mtls_server: ServerHandle, pki: PKI) -> None:
    settings = SecurityConfig(auth_type=AuthType.NONE)
    connection = ConnectionConfig(verify=str(pki.ca_file))
    async with KeiAgentClient(
        config(mtls_server.base_url, retry=ONE_ATTEMPT, connection=connection), security_config=settings
    ) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.health_check()
    assert "client certificate" in str(caught.value)
    assert "mtls_cert_path" in str(caught.value)
    assert mtls_server.stats.requests() == 0


async def test_mtls_with_a_certificate_of_an_untrusted_ca_fails_with_a_clear_error(
    mtls_server: ServerHandle, pki: PKI
) -> None:
    settings = mtls(pki, mtls_cert_path=str(pki.rogue_cert), mtls_key_path=str(pki.rogue_key))
    async with KeiAgentClient(config(mtls_server.base_url, retry=ONE_ATTEMPT), security_config=settings) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.health_check()
    assert "did not accept ours" in str(caught.value)
    assert mtls_server.stats.requests() == 0


async def test_the_strategies_show_no_secret_in_their_repr() -> None:
    assert "s3cret" not in repr(BearerAuth("s3cret-token"))
    assert "BearerAuth(token=********" in repr(BearerAuth("s3cret-token"))
