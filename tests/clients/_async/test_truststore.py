"""``ConnectionConfig(verify="system")``: the operating system's trust store (truststore), for the
API and the OpenID token endpoint alike.

Each scenario runs the client in a subprocess whose only "system" trust store is one the test
sets up: on Linux truststore verifies with OpenSSL's default locations, which ``SSL_CERT_FILE`` and
``SSL_CERT_DIR`` point at. The trustme CA that signed the servers is installed there (trusted) or
another CA is (refused). Written once for the async client; tests/clients/_sync holds the twin.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from kei_agent.testing import ServerHandle
from tests.support.oidc import AUDIENCE, BASIC_CLIENT, OIDCProvider
from tests.support.peers import REPO_ROOT
from tests.support.pki import PKI

pytestmark = pytest.mark.anyio

SCRIPT = """
import asyncio, inspect, os, sys
from kei_agent import AgentClientConfig, AuthType, ConnectionConfig, RetryConfig, SecurityConfig
from kei_agent_async import KeiAgentClient

config = AgentClientConfig(
    base_url=os.environ["TEST_BASE_URL"], api_token="scenario-token", agent_id="truststore-agent",
    retry=RetryConfig(max_attempts=1), connection=ConnectionConfig(verify="system"),
)
security = None
if os.environ.get("TEST_OIDC_ISSUER"):
    security = SecurityConfig(
        auth_type=AuthType.OIDC, oidc_issuer=os.environ["TEST_OIDC_ISSUER"], oidc_client_id="kei-basic",
        oidc_client_secret=os.environ["TEST_OIDC_SECRET"], oidc_scope="kei:plan", oidc_audience=os.environ["TEST_AUD"],
    )

async def main():
    async with KeiAgentClient(config, security_config=security) as client:
        return (await client.plan_task(objective="through the system trust store")).objective

try:
    result = main()
    if inspect.iscoroutine(result):
        result = asyncio.run(result)
    print("OK", result)
except Exception as exc:
    print("FAILED", type(exc).__name__, exc)
"""


def run_with_trust_store(store: Path, tmp_path: Path, **env: str) -> str:
    """Run SCRIPT with ``store`` (a PEM bundle) as the only system trust store."""
    empty = tmp_path / "empty-cert-dir"
    empty.mkdir(exist_ok=True)
    environ = {key: value for key, value in os.environ.items() if not key.endswith("_CA_BUNDLE")}
    environ.update({"SSL_CERT_FILE": str(store), "SSL_CERT_DIR": str(empty), "PYTHONPATH": str(REPO_ROOT), **env})
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False, env=environ
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


async def test_the_api_is_trusted_through_the_system_trust_store(
    tls_server: tuple[ServerHandle, Path], tmp_path: Path
) -> None:
    server, ca_file = tls_server
    trusted = run_with_trust_store(ca_file, tmp_path, TEST_BASE_URL=server.base_url)
    assert trusted == "OK through the system trust store"
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    refused = run_with_trust_store(other, tmp_path, TEST_BASE_URL=server.base_url)
    assert refused.startswith("FAILED APIConnectionError")
    assert "CERTIFICATE_VERIFY_FAILED" in refused
    assert server.stats.requests("planTask") == 1  # only the trusted run reached the API


async def test_the_token_endpoint_is_trusted_through_the_system_trust_store(
    oidc: OIDCProvider, oidc_server: ServerHandle, pki: PKI, tmp_path: Path
) -> None:
    settings = {
        "TEST_BASE_URL": oidc_server.base_url,
        "TEST_OIDC_ISSUER": oidc.issuer,
        "TEST_OIDC_SECRET": oidc.secrets[BASIC_CLIENT],
        "TEST_AUD": AUDIENCE,
    }
    trusted = run_with_trust_store(pki.ca_file, tmp_path, **settings)
    assert trusted == "OK through the system trust store"
    assert oidc.issued(BASIC_CLIENT) == 1  # the token came from the provider over the system-trusted TLS
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    refused = run_with_trust_store(other, tmp_path, **settings)
    assert refused.startswith("FAILED")
    assert "CERTIFICATE_VERIFY_FAILED" in refused or "certificate verify failed" in refused
    assert oidc.issued(BASIC_CLIENT) == 1  # the provider never answered the refused run
    assert oidc_server.stats.requests("planTask") == 1


async def test_without_truststore_the_system_setting_is_a_configuration_error(tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "sys.modules['truststore'] = None  # the truststore extra is not installed\n"
        "from kei_agent import AgentClientConfig, ConfigurationError, ConnectionConfig\n"
        "from kei_agent_async import KeiAgentClient\n"
        "config = AgentClientConfig(base_url='https://127.0.0.1:9', api_token='t',"
        " connection=ConnectionConfig(verify='system'))\n"
        "try:\n"
        "    KeiAgentClient(config)\n"
        "except ConfigurationError as exc:\n"
        "    print(exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "connection.verify" in proc.stdout
    assert "the system trust store needs the truststore package" in proc.stdout
    assert 'pip install "kei-agent-py-sdk[truststore]"' in proc.stdout
