"""OIDC against hostile token endpoints of our own (TLS, trustme): redirects and slow answers.

A token endpoint that redirects must never receive the client secret twice, nor may a token from
the redirect target reach the API; a token endpoint that stalls or trickles bytes is bounded by
the call's deadline. Written once for the async client; tests/clients/_sync holds the twin.
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme

from kei_agent import (
    AgentClientConfig,
    APITimeoutError,
    AuthType,
    ConnectionConfig,
    RetryConfig,
    SecurityConfig,
    SecurityError,
    TokenUnavailableError,
)
from kei_agent.testing import ServerHandle
from kei_agent_async import KeiAgentClient
from kei_agent_async.auth import OIDCClientCredentials, TokenAuth
from tests.clients.conftest import TOKEN
from tests.support.hostile_peers import issue_token, redirect_to, run_hostile, stall

pytestmark = pytest.mark.anyio

SECRET = "canary-client-secret-5b1f0c"
CLIENT_ID = "kei-hostile-client"


def oidc_settings(token_url: str, method: str) -> SecurityConfig:
    return SecurityConfig(
        auth_type=AuthType.OIDC,
        oidc_token_url=token_url,
        oidc_client_id=CLIENT_ID,
        oidc_client_secret=SECRET,
        oidc_scope="kei:plan",
        oidc_token_auth_method=method,
    )


def api_config(server: ServerHandle, ca_file: Path, **overrides: Any) -> AgentClientConfig:
    settings: dict[str, Any] = {
        "agent_id": "hostile-token-agent",
        "retry": RetryConfig(max_attempts=3, base_delay=0.01, max_delay=0.05),
        "connection": ConnectionConfig(verify=str(ca_file)),
    }
    settings.update(overrides)
    return AgentClientConfig(server.base_url, **settings)


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
@pytest.mark.parametrize("target", ["https-other-origin", "plain-http"])
@pytest.mark.parametrize("status", ["307 Temporary Redirect", "308 Permanent Redirect", "302 Found"])
async def test_a_redirecting_token_endpoint_gets_no_second_post_and_its_target_no_secret(
    tls_server: tuple[ServerHandle, Path], tls_ca: trustme.CA, method: str, target: str, status: str
) -> None:
    """The endpoint redirects to a server that collects what it gets and hands out a token the
    API would accept: the client refuses the redirect, names the endpoint, and neither the target
    nor the API sees a request."""
    server, ca_file = tls_server
    with (
        run_hostile(
            issue_token(TOKEN), ca=tls_ca if target == "https-other-origin" else None, host="localhost"
        ) as thief,
        run_hostile(redirect_to(f"{thief.origin}/token", status), ca=tls_ca) as endpoint,
    ):
        settings = oidc_settings(f"{endpoint.origin}/token", method)
        async with KeiAgentClient(api_config(server, ca_file), security_config=settings) as client:
            with pytest.raises(SecurityError) as caught:
                await client.plan_task(objective="never sent")
    assert not isinstance(caught.value, TokenUnavailableError)  # a refusal, not an outage worth retrying
    message = str(caught.value)
    assert endpoint.origin + "/token" in message
    assert "redirect" in message
    assert SECRET not in message
    assert SECRET not in repr(caught.value)
    assert len(endpoint.requests) == 1  # not retried
    assert thief.connections == 0
    assert thief.requests == []
    assert not thief.received(SECRET)
    assert server.stats.requests() == 0


@pytest.mark.parametrize("trickle", [False, True], ids=["never-answers", "trickles-header-bytes"])
async def test_a_slow_token_endpoint_is_bounded_by_the_call_deadline(
    tls_server: tuple[ServerHandle, Path], tls_ca: trustme.CA, trickle: bool
) -> None:
    """Timeouts per socket read (30 s) never fire against a peer that trickles a byte every 0.2 s:
    the call's deadline (1.5 s) ends the call with APITimeoutError naming the token endpoint."""
    server, ca_file = tls_server
    deadline = 1.5
    config = api_config(
        server,
        ca_file,
        retry=RetryConfig(max_attempts=3, base_delay=0.01, max_delay=0.05, deadline=deadline),
        connection=ConnectionConfig(verify=str(ca_file), timeout=30.0, connect_timeout=5.0),
    )
    with run_hostile(stall(trickle=trickle), ca=tls_ca) as endpoint:
        async with KeiAgentClient(
            config, security_config=oidc_settings(f"{endpoint.origin}/token", "client_secret_post")
        ) as client:
            started = time.monotonic()
            with pytest.raises(APITimeoutError) as caught:
                await client.plan_task(objective="never sent")
            elapsed = time.monotonic() - started
    assert deadline - 0.1 <= elapsed < deadline + 1.0, f"the call took {elapsed:.2f}s against a {deadline}s deadline"
    assert f"{endpoint.origin}/token" in str(caught.value)
    assert endpoint.connections >= 1
    assert server.stats.requests() == 0


async def test_the_token_fetch_honours_the_deadline_the_pipeline_puts_on_the_request(
    tls_server: tuple[ServerHandle, Path], tls_ca: trustme.CA
) -> None:
    """The auth flow reads the call's absolute deadline from ``request.extensions["kei_deadline"]``
    (``time.monotonic()`` based) before its own 60 s fetch bound."""
    server, ca_file = tls_server
    with run_hostile(stall(trickle=True), ca=tls_ca) as endpoint:
        trust = ssl.create_default_context(cafile=str(ca_file))
        source = OIDCClientCredentials(
            client_id=CLIENT_ID,
            client_secret=SECRET,
            token_url=f"{endpoint.origin}/token",
            ssl_context=trust,
            read_timeout=30.0,
        )
        auth = TokenAuth(source, fetch_timeout=60.0)
        async with httpx.AsyncClient(verify=trust) as http:
            started = time.monotonic()
            with pytest.raises(APITimeoutError) as caught:
                await http.get(
                    f"{server.base_url}/api/v1/registry/agents",
                    auth=auth,
                    extensions={"kei_deadline": started + 1.0},
                )
            elapsed = time.monotonic() - started
        auth.close()
    assert 0.9 <= elapsed < 2.0, f"the request took {elapsed:.2f}s against a 1 s deadline"
    assert endpoint.origin in str(caught.value)
    assert server.stats.requests() == 0


async def test_a_redirecting_discovery_document_is_refused(
    tls_server: tuple[ServerHandle, Path], tls_ca: trustme.CA
) -> None:
    """Discovery never follows a redirect either: another origin would choose the token endpoint."""
    server, ca_file = tls_server
    with (
        run_hostile(issue_token(TOKEN), ca=tls_ca, host="localhost") as thief,
        run_hostile(redirect_to(f"{thief.origin}/.well-known/openid-configuration"), ca=tls_ca) as issuer,
    ):
        settings = SecurityConfig(
            auth_type=AuthType.OIDC,
            oidc_issuer=issuer.origin,
            oidc_client_id=CLIENT_ID,
            oidc_client_secret=SECRET,
        )
        async with KeiAgentClient(api_config(server, ca_file), security_config=settings) as client:
            with pytest.raises(SecurityError) as caught:
                await client.plan_task(objective="never sent")
    assert not isinstance(caught.value, TokenUnavailableError)
    assert f"{issuer.origin}/.well-known/openid-configuration" in str(caught.value)
    assert len(issuer.requests) == 1
    assert thief.requests == []
    assert server.stats.requests() == 0
