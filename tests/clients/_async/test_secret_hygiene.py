"""Canary secrets: tokens, client secrets and key passphrases never leak.

For bearer, OIDC and mTLS, on success, retry and failure paths (a failing token endpoint
included), no canary appears in a log record (loguru with our packages enabled and
``diagnose=True``, and stdlib logging at DEBUG, which requests-oauthlib uses), in the ``repr`` of
any SDK object or anything it holds, in an exception (message, ``repr``, ``args``, attributes,
chained causes) or in the locals of the SDK frames of its traceback. Written once for the async
client; tests/clients/_sync holds the generated twin.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from kei_agent import (
    AgentClientConfig,
    AuthenticationError,
    AuthType,
    ConfigurationError,
    ConnectionConfig,
    InternalServerError,
    PermissionDeniedError,
    RetryConfig,
    SecurityConfig,
    TokenUnavailableError,
)
from kei_agent.testing import Fault, ServerHandle, run_server
from kei_agent_async import KeiAgentClient
from tests.support.canary import SecretWatch
from tests.support.oidc import AUDIENCE, BASIC_CLIENT, POST_CLIENT, OIDCProvider
from tests.support.pki import PKI

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryConfig(max_attempts=3, base_delay=0.01, max_delay=0.05)
BEARER_CANARY = "canary-bearer-" + secrets.token_hex(12)


def jwt_with(signature: str, claims: dict[str, Any]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJub25lIn0.{payload}.{signature}"


PLAN_ONLY_CANARY_JWT = jwt_with("canary-jwt-" + secrets.token_hex(12), {"scope": "kei:plan", "sub": "agent-7"})


@pytest.fixture
def canary_server() -> Iterator[ServerHandle]:
    with run_server(tokens={BEARER_CANARY: ["kei:plan", "kei:act"], PLAN_ONLY_CANARY_JWT: ["kei:plan"]}) as handle:
        yield handle


async def exercise(client: KeiAgentClient) -> BaseException | None:
    """The documented flow; returns the exception it ended with, if any."""
    try:
        plan = await client.plan_task(objective="Write a quarterly report", context={"quarter": "Q3"})
        await client.execute_action("generate_report", {"title": "Q3"}, plan_id=plan["plan_id"])
        await client.health_check()
    except Exception as exc:
        return exc
    return None


def inspect_client(watch: SecretWatch, client: KeiAgentClient, error: BaseException | None) -> None:
    watch.check_objects(client, client._auth, client._pipeline, client._shared, client.config)
    if error is not None:
        watch.check_exception(error)


def issued_tokens(server: ServerHandle) -> list[str]:
    values = []
    for operation in ("planTask", "executeAction"):
        for headers in server.stats.all_headers(operation):
            if "authorization" in headers:
                values.append(headers["authorization"].removeprefix("Bearer "))
    return values


# ------------------------------------------------------------------------------------ bearer


@pytest.mark.parametrize("path", ["success", "retry", "rotated after 401", "server error", "rejected", "rbac"])
async def test_bearer_tokens_never_leak(canary_server: ServerHandle, path: str) -> None:
    token = PLAN_ONLY_CANARY_JWT if path == "rbac" else BEARER_CANARY
    security = SecurityConfig(api_token=token, rbac_enabled=path == "rbac")
    if path == "retry":
        canary_server.faults.add(Fault.status(503, retry_after=0, route="planTask", times=2))
    if path == "server error":
        canary_server.faults.add(Fault.status(500, retry_after=0, route="planTask"))
    if path == "rejected":
        security = SecurityConfig(api_token="canary-unknown-" + secrets.token_hex(12))
    revoked = "canary-revoked-" + secrets.token_hex(12)
    if path == "rotated after 401":
        rotation = iter([revoked, BEARER_CANARY, BEARER_CANARY, BEARER_CANARY])
        security = SecurityConfig(token_provider=lambda: next(rotation))
    with SecretWatch(BEARER_CANARY, PLAN_ONLY_CANARY_JWT, revoked, security.api_token) as watch:
        config = AgentClientConfig(canary_server.base_url, retry=FAST_RETRY, api_token=BEARER_CANARY)
        async with KeiAgentClient(config, security_config=security) as client:
            error = await exercise(client)
            inspect_client(watch, client, error)
        inspect_client(watch, client, error)
    expected = {
        "success": None,
        "retry": None,
        "rotated after 401": None,
        "server error": InternalServerError,
        "rejected": AuthenticationError,
        "rbac": PermissionDeniedError,
    }[path]
    assert type(error) is expected if expected else error is None
    watch.assert_clean()


# -------------------------------------------------------------------------------------- OIDC


@pytest.mark.parametrize(
    "path",
    [
        "success",
        "client_secret_post",
        "token endpoint retry",
        "api retry and 401 replay",
        "invalid_client",
        "token endpoint outage",
        "api rejects the token",
    ],
)
async def test_oidc_secrets_and_tokens_never_leak(
    oidc: OIDCProvider, oidc_server: ServerHandle, pki: PKI, path: str
) -> None:
    client_id = POST_CLIENT if path == "client_secret_post" else BASIC_CLIENT
    secret = oidc.secrets[client_id]
    wrong_secret = "canary-wrong-secret-" + secrets.token_hex(12)
    security = SecurityConfig(
        auth_type=AuthType.OIDC,
        oidc_issuer=oidc.issuer,
        oidc_client_id=client_id,
        oidc_client_secret=wrong_secret if path == "invalid_client" else secret,
        oidc_token_auth_method="client_secret_post" if path == "client_secret_post" else "client_secret_basic",
        oidc_scope="kei:plan kei:act",
        oidc_audience=AUDIENCE,
    )
    if path == "token endpoint retry":
        oidc.control(fail=[503, 500])
    if path == "token endpoint outage":
        oidc.control(fail=[503, 503, 503])
    if path == "api retry and 401 replay":
        oidc_server.faults.add(Fault.status(503, retry_after=0, route="planTask", times=1))
        oidc_server.faults.add(Fault.status(401, route="executeAction", times=1))
    if path == "api rejects the token":
        oidc_server.faults.add(Fault.status(401, route="planTask"))
    with SecretWatch(*oidc.secrets.values(), wrong_secret) as watch:
        config = AgentClientConfig(
            oidc_server.base_url, retry=FAST_RETRY, connection=ConnectionConfig(verify=str(pki.ca_file))
        )
        async with KeiAgentClient(config, security_config=security) as client:
            error = await exercise(client)
            watch.add(*issued_tokens(oidc_server))
            entry = getattr(client._auth, "cache", None)
            if entry is not None and entry.entry is not None:
                watch.add(entry.entry.token.value)
            inspect_client(watch, client, error)
        inspect_client(watch, client, error)
    expected = {
        "invalid_client": AuthenticationError,
        "token endpoint outage": TokenUnavailableError,
        "api rejects the token": AuthenticationError,
    }.get(path)
    assert type(error) is expected if expected else error is None
    if path in ("success", "api retry and 401 replay"):
        assert issued_tokens(oidc_server)  # tokens were issued, sent and watched
    watch.assert_clean()


# ---------------------------------------------------------------------------------------- mTLS


@pytest.mark.parametrize("path", ["success", "retry", "server error", "wrong passphrase"])
async def test_key_passphrases_never_leak(mtls_server: ServerHandle, pki: PKI, path: str) -> None:
    wrong = "canary-wrong-passphrase-" + secrets.token_hex(8)
    security = SecurityConfig(
        auth_type=AuthType.MTLS,
        mtls_cert_path=str(pki.client_cert),
        mtls_key_path=str(pki.encrypted_client_key),
        mtls_key_password=wrong if path == "wrong passphrase" else pki.key_passphrase,
        mtls_ca_path=str(pki.ca_file),
    )
    if path == "retry":
        mtls_server.faults.add(Fault.status(503, retry_after=0, route="planTask", times=2))
    if path == "server error":
        mtls_server.faults.add(Fault.status(500, retry_after=0, route="planTask"))
    with SecretWatch(pki.key_passphrase, wrong) as watch:
        config = AgentClientConfig(mtls_server.base_url, retry=FAST_RETRY)
        watch.check_objects(security, config)
        if path == "wrong passphrase":
            with pytest.raises(ConfigurationError) as caught:
                KeiAgentClient(config, security_config=security)
            watch.check_exception(caught.value)
        else:
            async with KeiAgentClient(config, security_config=security) as client:
                error = await exercise(client)
                inspect_client(watch, client, error)
            assert type(error) is InternalServerError if path == "server error" else error is None
    watch.assert_clean()


async def test_configuration_errors_keep_every_secret_out(pki: PKI) -> None:
    passphrase, secret, token = "canary-pass-" + secrets.token_hex(8), "canary-cs-" + secrets.token_hex(8), "x" * 3
    with SecretWatch(passphrase, secret) as watch:
        with pytest.raises(ConfigurationError) as caught:
            SecurityConfig(
                auth_type=AuthType.OIDC,
                oidc_issuer="http://id.example.com",
                oidc_client_secret=secret,
                oidc_token_auth_method="private_key_jwt",
                mtls_key_password=passphrase,
                api_token=token,
                token_provider=lambda: token,
            )
        watch.check_exception(caught.value)
        with pytest.raises(ConfigurationError) as from_env:
            SecurityConfig.from_env({"KEI_AUTH_TYPE": "mtls", "KEI_MTLS_KEY_PASSWORD": passphrase})
        watch.check_exception(from_env.value)
    assert {problem.path for problem in caught.value.problems} >= {
        "oidc_issuer",
        "oidc_client_id",
        "oidc_token_auth_method",
        "mtls_key_password",
        "token_provider",
    }
    watch.assert_clean()
