"""The OIDC and mTLS snippets of docs/authentication.md run as written against the real peers.

Their placeholders (issuer, API URL, certificate paths) are pointed at the OpenID provider and
the reference servers of the test setup (see tests/docs/snippets.py for the marker convention).
"""

from __future__ import annotations

from typing import Any

import pytest

from kei_agent.testing import ServerHandle
from tests.docs.snippets import special_snippets
from tests.support.oidc import AUDIENCE, BASIC_CLIENT, OIDCProvider
from tests.support.pki import PKI


def run(name: str, replacements: dict[str, str], capsys: pytest.CaptureFixture[str]) -> str:
    (snippet,) = special_snippets(name)
    code = snippet.code
    for old, new in replacements.items():
        assert old in code, old
        code = code.replace(old, new)
    namespace: dict[str, Any] = {}
    exec(compile(code, snippet.key, "exec"), namespace)
    return capsys.readouterr().out


def test_the_oidc_snippet(
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
    assert run("oidc", replacements, capsys).startswith("plan-")
    assert oidc.token_requests() == 1


def test_the_mtls_snippet(mtls_server: ServerHandle, pki: PKI, capsys: pytest.CaptureFixture[str]) -> None:
    replacements = {
        '"https://kei.example.com"': repr(mtls_server.base_url),
        '"/etc/kei/client.pem"': repr(str(pki.client_cert)),
        '"/etc/kei/client.key"': repr(str(pki.client_key)),
        '"/etc/kei/ca.pem"': repr(str(pki.ca_file)),
    }
    assert run("mtls", replacements, capsys).startswith("plan-")
    assert mtls_server.stats.requests("planTask") == 1
