"""The pure parts of authentication: tokens, lifetimes, claims, RBAC, audit digests, validation."""

from __future__ import annotations

import base64
import json
import math
import warnings
from pathlib import Path
from typing import Any

import pytest

from kei_agent import (
    AccessToken,
    AuthType,
    ConfigurationError,
    SecurityConfig,
    SecurityError,
    TokenSource,
    TokenUnavailableError,
)
from kei_agent._generated import models
from kei_agent._generated.types import UNSET
from kei_agent.auth import (
    TokenCache,
    canonical_json,
    decode_jwt_claims,
    effective_leeway,
    input_sha256,
    missing_scope,
    scopes_from_claims,
)
from kei_agent.errors import InsecureKeyFileWarning
from kei_agent.secrets import Secret
from kei_agent_async._tls import is_loopback, require_tls_for_credentials

CANARY = "canary-auth-core-4e1f"


def jwt(claims: dict[str, Any]) -> str:
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJSUzI1NiJ9.{payload}.c2lnbmF0dXJl"


def paths(error: pytest.ExceptionInfo[ConfigurationError]) -> list[str]:
    return [problem.path for problem in error.value.problems]


# ------------------------------------------------------------------------------------ claims


def test_jwt_claims_are_read_without_verification() -> None:
    token = jwt({"sub": "svc", "scope": "kei:plan kei:act", "exp": 2_000_000_300, "iat": 2_000_000_000})
    assert decode_jwt_claims(token) == {
        "sub": "svc",
        "scope": "kei:plan kei:act",
        "exp": 2_000_000_300,
        "iat": 2_000_000_000,
    }
    assert decode_jwt_claims(Secret(token)) is not None


@pytest.mark.parametrize("token", ["opaque", "a.b", "a.!!!.c", "a..c", f"x.{base64.b64encode(b'[1]').decode()}.y"])
def test_anything_else_is_not_a_jwt(token: str) -> None:
    assert decode_jwt_claims(token) is None


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"scope": "a b"}, {"a", "b"}),
        ({"scp": ["a", "b c"]}, {"a", "b", "c"}),
        ({"scope": "a", "scp": ["b"]}, {"a"}),
        ({"scope": 5}, None),
        ({"sub": "x"}, None),
        (None, None),
    ],
)
def test_scopes_from_claims(claims: dict[str, Any] | None, expected: set[str] | None) -> None:
    result = scopes_from_claims(claims)
    assert result == (frozenset(expected) if expected is not None else None)


# ------------------------------------------------------------------------------------ tokens


def test_an_access_token_keeps_its_value_secret() -> None:
    token = AccessToken(CANARY, expires_in=60, scopes="kei:plan")
    assert isinstance(token.value, Secret)
    assert token.value.reveal() == CANARY
    assert CANARY not in repr(token)
    assert CANARY not in str(token)
    assert token.scopes == frozenset({"kei:plan"})


@pytest.mark.parametrize("template", ["", "two words {}", "{}\n", "tök{}"])
def test_an_unsendable_token_is_refused_without_showing_it(template: str) -> None:
    with pytest.raises(ValueError, match="cannot be sent") as caught:
        AccessToken(template.format(CANARY))
    assert CANARY not in str(caught.value)


def test_a_token_lifetime_from_the_jwt_does_not_depend_on_the_local_clock() -> None:
    # exp/iat far in the past: only their difference counts.
    token = AccessToken.from_value(jwt({"sub": "svc", "iat": 1_000, "exp": 1_300, "scp": ["kei:act"]}))
    assert token.expires_in == 300
    assert token.subject == "svc"
    assert token.scopes == frozenset({"kei:act"})


def test_the_token_response_wins_over_the_jwt_claims() -> None:
    token = AccessToken.from_response(
        {"access_token": jwt({"scope": "a b", "iat": 0, "exp": 10}), "expires_in": 60, "scope": "a"}
    )
    assert token.expires_in == 60
    assert token.scopes == frozenset({"a"})
    with pytest.raises(ValueError, match="no access_token"):
        AccessToken.from_response({"token_type": "Bearer"})


@pytest.mark.parametrize(
    ("lifetime", "leeway", "expected"), [(300, 30, 30), (10, 30, 5), (0, 30, 0), (100, 0, 0), (1, 0.2, 0.2)]
)
def test_the_refresh_leeway_is_clamped_to_half_the_lifetime(lifetime: float, leeway: float, expected: float) -> None:
    assert effective_leeway(lifetime, leeway) == expected


def test_the_cache_refreshes_early_and_expires_on_time() -> None:
    now = [100.0]
    cache = TokenCache(leeway=30, clock=lambda: now[0])
    entry = cache.store(AccessToken("a", expires_in=300), obtained_at=100.0)
    assert (entry.refresh_at, entry.expires_at) == (370.0, 400.0)
    now[0] = 369.9
    assert cache.fresh() is not None
    now[0] = 370.0
    assert cache.fresh() is None
    assert entry.valid(399.9)
    assert not entry.valid(400.0)


def test_without_refresh_the_cache_keeps_a_token_until_it_expires() -> None:
    cache = TokenCache(leeway=30, refresh_enabled=False)
    entry = cache.store(AccessToken("a", expires_in=300), obtained_at=0.0)
    assert entry.refresh_at == entry.expires_at == 300.0


def test_a_token_of_unknown_lifetime_is_kept_until_invalidated() -> None:
    cache = TokenCache()
    entry = cache.store(AccessToken("a"), obtained_at=0.0)
    assert entry.expires_at == math.inf
    assert cache.fresh() is not None


def test_invalidation_is_compare_and_clear() -> None:
    cache = TokenCache()
    old, new = AccessToken("old"), AccessToken("new")
    cache.store(old, obtained_at=1.0)
    cache.store(new, obtained_at=2.0)
    assert cache.invalidate(old) is False  # a late 401 for the old token
    assert cache.fresh() == new
    assert cache.invalidate(new) is True
    assert cache.entry is None


def test_an_older_fetch_does_not_replace_a_newer_token() -> None:
    cache = TokenCache()
    cache.store(AccessToken("newer"), obtained_at=5.0)
    cache.store(AccessToken("older"), obtained_at=4.0)
    token = cache.fresh()
    assert token is not None
    assert token.value == Secret("newer")


def test_token_sources_are_recognised_by_their_fetch_token_method() -> None:
    class Source:
        def fetch_token(self) -> str:
            return "x"

    assert isinstance(Source(), TokenSource)
    assert not isinstance(lambda: "x", TokenSource)


# -------------------------------------------------------------------------------------- RBAC


@pytest.mark.parametrize(
    ("required", "granted", "expected"),
    [
        (("kei:plan",), frozenset({"kei:plan"}), None),
        (("kei:act",), frozenset({"kei:plan"}), "kei:act"),
        ((), frozenset(), None),
        (("kei:act",), None, None),  # unknown scopes: the server decides
    ],
)
def test_missing_scope(required: tuple[str, ...], granted: frozenset[str] | None, expected: str | None) -> None:
    assert missing_scope(required, granted) == expected


# ------------------------------------------------------------------------------------- audit


def test_canonical_json_is_sorted_compact_utf8_and_drops_unset() -> None:
    body = models.PlanRequest(objective="Bericht für Q3", context=UNSET)
    assert (
        canonical_json({"z": 1, "body": body, "cursor": UNSET})
        == '{"body":{"objective":"Bericht für Q3"},"z":1}'.encode()
    )


def test_equal_inputs_have_equal_digests_and_the_digest_hides_the_input() -> None:
    first = input_sha256({"body": {"a": 1, "b": [1, 2]}, "agent_id": "x"})
    second = input_sha256({"agent_id": "x", "body": {"b": [1, 2], "a": 1}})
    assert first == second
    assert len(first) == 64
    assert input_sha256({"body": {"a": 2}}) != first


# -------------------------------------------------------------------------- SecurityConfig


def test_every_security_problem_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        SecurityConfig(
            auth_type=AuthType.OIDC,
            oidc_issuer="http://id.example.com",
            oidc_client_id="c",
            oidc_client_secret=CANARY,
            oidc_token_auth_method="private_key_jwt",
            mtls_cert_path=str(tmp_path / "missing.pem"),
            mtls_key_path=str(tmp_path),
            mtls_ca_path=str(tmp_path / "ca.pem"),
        )
    assert paths(caught) == [
        "oidc_issuer",
        "oidc_token_auth_method",
        "mtls_cert_path",
        "mtls_key_path",
        "mtls_ca_path",
    ]
    message = str(caught.value)
    assert "must use https" in message
    assert "does not exist" in message
    assert "is not a file" in message
    assert CANARY not in message


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_key_readable_by_others_is_warned_about(tmp_path: Path, mode: int) -> None:
    key = tmp_path / "client.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    key.chmod(mode)
    with pytest.warns(InsecureKeyFileWarning, match="chmod 600"):
        SecurityConfig(auth_type=AuthType.MTLS, mtls_cert_path=str(key), mtls_key_path=str(key))


def test_a_private_key_file_is_not_warned_about(tmp_path: Path) -> None:
    key = tmp_path / "client.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    key.chmod(0o600)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SecurityConfig(auth_type=AuthType.MTLS, mtls_cert_path=str(key), mtls_key_path=str(key))


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"token_provider": 42}, ["token_provider"]),
        ({"token_provider": lambda: "t", "api_token": "t"}, ["token_provider"]),
        ({"token_provider": lambda: "t", "auth_type": AuthType.NONE}, ["token_provider"]),
        ({"mtls_key_password": CANARY}, ["mtls_key_password"]),
        ({"oidc_token_url": "https://id.example.com/token?x=1"}, ["oidc_token_url"]),
    ],
)
def test_security_config_rules(kwargs: dict[str, Any], expected: list[str]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        SecurityConfig(**kwargs)
    assert paths(caught) == expected
    assert CANARY not in str(caught.value)


def test_the_new_settings_come_from_the_environment(tmp_path: Path) -> None:
    key = tmp_path / "k.pem"
    key.write_text("x")
    key.chmod(0o600)
    config = SecurityConfig.from_env(
        {
            "KEI_AUTH_TYPE": "mtls",
            "KEI_MTLS_CERT_PATH": str(key),
            "KEI_MTLS_KEY_PATH": str(key),
            "KEI_MTLS_KEY_PASSWORD": CANARY,
            "KEI_OIDC_TOKEN_AUTH_METHOD": "client_secret_post",
        }
    )
    assert config.mtls_key_password == Secret(CANARY)
    assert config.oidc_token_auth_method == "client_secret_post"
    assert CANARY not in repr(config)


def test_a_token_provider_shows_only_its_type() -> None:
    class Vault:
        secret = CANARY

        def fetch_token(self) -> str:
            return CANARY

    assert "token_provider=<Vault>" in repr(SecurityConfig(token_provider=Vault()))


# ------------------------------------------------------------------------------- TLS rules


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://127.5.6.7", True),
        ("http://localhost", True),
        ("http://api.localhost:1", True),
        ("http://[::1]:8080", True),
        ("http://10.0.0.1", False),
        ("http://localhost.example.com", False),
        ("http://kei.example.com", False),
    ],
)
def test_loopback_hosts(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback


def test_credentials_over_http_are_refused_except_on_loopback() -> None:
    require_tls_for_credentials("https://kei.example.com", "credentials")
    require_tls_for_credentials("http://localhost:8080", "credentials")
    with pytest.raises(SecurityError, match=r"kei\.example\.com"):
        require_tls_for_credentials("http://kei.example.com", "credentials")


def test_token_unavailable_error_redacts_its_url() -> None:
    error = TokenUnavailableError("no token", url="https://user:pw@id.example.com/token?secret=1", attempts=3)
    assert error.url == "https://id.example.com/token"
    assert error.attempts == 3
    assert isinstance(error, SecurityError)
