"""Negative controls for the canary suite: each check does find a secret that is there."""

from __future__ import annotations

import logging

import pytest
from loguru import logger

from kei_agent.auth import AccessToken, TokenCache
from kei_agent.testing import ServerHandle
from kei_agent_sync.auth import BearerAuth, OIDCClientCredentials
from tests.support.canary import SecretWatch
from tests.support.oidc import AUDIENCE, POST_CLIENT, OIDCProvider
from tests.support.pki import PKI

CANARY = "canary-control-0123456789"


def test_a_secret_in_a_loguru_record_is_found() -> None:
    with SecretWatch(CANARY) as watch:
        logger.bind(component="kei_agent.test").info("token {value}", value=CANARY)
    with pytest.raises(AssertionError, match="loguru records"):
        watch.assert_clean()


def test_a_secret_held_as_plain_text_by_an_sdk_object_is_found() -> None:
    cache = TokenCache()
    cache.leaked = CANARY  # type: ignore[attr-defined]
    with SecretWatch(CANARY) as watch:
        watch.check_objects(cache)
    with pytest.raises(AssertionError, match=r"TokenCache\.leaked"):
        watch.assert_clean()


def test_a_secret_inside_a_secret_is_where_it_belongs() -> None:
    with SecretWatch(CANARY) as watch:
        watch.check_objects(AccessToken(CANARY), BearerAuth(CANARY))
    watch.assert_clean()


def test_a_secret_in_the_locals_of_an_sdk_frame_is_found() -> None:
    def fails(token: str) -> None:
        raise ValueError("boom")

    fails.__code__ = fails.__code__.replace(co_filename="/site-packages/kei_agent/fake.py")
    with SecretWatch(CANARY) as watch:
        try:
            fails(CANARY)
        except ValueError as exc:
            watch.check_exception(exc)
    with pytest.raises(AssertionError, match="frame fails local token"):
        watch.assert_clean()


def test_requests_oauthlib_would_log_the_client_secret_without_the_sdk_filter(
    oidc: OIDCProvider, oidc_server: ServerHandle, pki: PKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control for the OIDC canaries: requests-oauthlib logs request bodies at DEBUG."""
    import kei_agent_sync.auth as auth_module

    monkeypatch.setattr(auth_module, "_FILTERED_LOGGERS", ())
    logging.getLogger("requests_oauthlib.oauth2_session").removeFilter(auth_module._FILTER)
    secret = oidc.secrets[POST_CLIENT]
    source = OIDCClientCredentials(
        client_id=POST_CLIENT,
        client_secret=secret,
        token_url=oidc.token_url,
        audience=AUDIENCE,
        auth_method="client_secret_post",
        ssl_context=__import__("ssl").create_default_context(cafile=str(pki.ca_file)),
    )
    with SecretWatch(secret) as watch:
        token = source.fetch_token()
    source.close()
    watch.add(token.value)
    with pytest.raises(AssertionError, match="stdlib logging records"):
        watch.assert_clean()
