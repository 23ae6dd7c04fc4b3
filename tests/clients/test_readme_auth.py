"""The README's OIDC and mTLS examples run as written against the real peers, in both flavours.

The ```py blocks of the "Authentication" section are executed with their placeholders (issuer,
API URL, certificate paths) pointed at the OpenID provider and the reference servers of the test
setup; the configuration they build is then used with the async client as well. The bearer
example is a ```python block run by tests/test_readme.py.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

import kei_agent_async
from kei_agent.testing import ServerHandle
from tests.support.oidc import AUDIENCE, BASIC_CLIENT, OIDCProvider
from tests.support.peers import REPO_ROOT
from tests.support.pki import PKI

SECTION = (REPO_ROOT / "README.md").read_text().split("## Authentication", 1)[1].split("\n## ", 1)[0]
EXAMPLES = re.findall(r"```py\n(.+?)```", SECTION, re.S)


def example(kind: str) -> str:
    (code,) = [code for code in EXAMPLES if f"AuthType.{kind}" in code]
    return code


def run_both_flavours(code: str, replacements: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    for old, new in replacements.items():
        assert old in code, old
        code = code.replace(old, new)
    namespace: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), namespace)  # the sync client, as written
    assert capsys.readouterr().out.strip().startswith("plan-")

    async def main() -> str:
        async with kei_agent_async.KeiAgentClient(namespace["config"], security_config=namespace["security"]) as c:
            return str((await c.plan_task(objective="Write a quarterly report"))["plan_id"])

    assert asyncio.run(main()).startswith("plan-")


def test_the_readme_has_the_three_security_examples() -> None:
    assert len(EXAMPLES) == 2
    assert "AuthType.BEARER" in SECTION.split("```python", 1)[1].split("```", 1)[0]


def test_the_oidc_example(
    oidc: OIDCProvider,
    oidc_server: ServerHandle,
    pki: PKI,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KEI_OIDC_CLIENT_SECRET", oidc.secrets[BASIC_CLIENT])
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.ca_file))  # the test CA stands in for a public one
    replacements = {
        '"https://kei.example.com/api"': repr(AUDIENCE),
        '"https://kei.example.com"': repr(oidc_server.base_url),
        '"https://id.example.com"': repr(oidc.issuer),
    }
    run_both_flavours(example("OIDC"), replacements, capsys)
    assert oidc.token_requests() == 2  # one per client


def test_the_mtls_example(mtls_server: ServerHandle, pki: PKI, capsys: pytest.CaptureFixture[str]) -> None:
    replacements = {
        '"https://kei.example.com"': repr(mtls_server.base_url),
        '"/etc/kei/client.pem"': repr(str(pki.client_cert)),
        '"/etc/kei/client.key"': repr(str(pki.client_key)),
        '"/etc/kei/ca.pem"': repr(str(pki.ca_file)),
    }
    run_both_flavours(example("MTLS"), replacements, capsys)
    assert mtls_server.stats.requests("planTask") == 2
