"""The credential strategies as ``httpx.Auth`` flows, driven step by step (no server needed).

Written once for the async flavour; tests/clients/_sync holds the generated twin.
"""

from __future__ import annotations

import httpx
import pytest

from kei_agent import PermissionDeniedError, Secret
from kei_agent.auth import AccessToken
from kei_agent_async.auth import BearerAuth, TokenAuth

pytestmark = pytest.mark.anyio

URL = "https://kei.test/api/v1/rpc/plan"


class Tokens:
    """A TokenSource handing out the given tokens in turn, counting the fetches."""

    def __init__(self, *values: str, expires_in: float | None = 300.0, scopes: str | None = None) -> None:
        self.values = list(values)
        self.expires_in = expires_in
        self.scopes = scopes
        self.fetches = 0

    async def fetch_token(self) -> AccessToken:
        self.fetches += 1
        return AccessToken(self.values.pop(0), expires_in=self.expires_in, scopes=self.scopes)


def request(**extensions: object) -> httpx.Request:
    return httpx.Request("POST", URL, json={"objective": "x"}, extensions=extensions)


def answer(status: int, sent: httpx.Request) -> httpx.Response:
    return httpx.Response(status, request=sent)


async def test_a_401_invalidates_the_token_and_the_request_is_replayed_once() -> None:
    source = Tokens("token-a", "token-b", "token-c")
    auth = TokenAuth(source)
    flow = auth.async_auth_flow(request())
    first = await flow.__anext__()
    assert first.headers["Authorization"] == "Bearer token-a"
    replay = await flow.asend(answer(401, first))
    assert replay.headers["Authorization"] == "Bearer token-b"
    with pytest.raises(StopAsyncIteration):
        await flow.asend(answer(401, replay))  # a second 401 is the caller's: no second replay
    assert source.fetches == 2


async def test_a_stale_401_cannot_discard_a_newer_token() -> None:
    """Two requests sent with token A both come back 401: the first swaps A for B; the second
    (stale) 401 must not throw B away - it is replayed with B, and no third token is fetched."""
    source = Tokens("token-a", "token-b", "token-c")
    auth = TokenAuth(source)
    flow_1, flow_2 = auth.async_auth_flow(request()), auth.async_auth_flow(request())
    sent_1, sent_2 = await flow_1.__anext__(), await flow_2.__anext__()
    assert sent_1.headers["Authorization"] == sent_2.headers["Authorization"] == "Bearer token-a"
    replay_1 = await flow_1.asend(answer(401, sent_1))
    replay_2 = await flow_2.asend(answer(401, sent_2))
    assert replay_1.headers["Authorization"] == replay_2.headers["Authorization"] == "Bearer token-b"
    assert source.fetches == 2
    entry = auth.cache.entry
    assert entry is not None
    assert entry.token.value == Secret("token-b")


async def test_a_request_whose_body_cannot_be_sent_again_is_not_replayed() -> None:
    async def body():  # a streamed upload: gone once sent
        yield b'{"objective": "x"}'

    source = Tokens("token-a", "token-b")
    auth = TokenAuth(source)
    flow = auth.async_auth_flow(httpx.Request("POST", URL, content=body()))
    sent = await flow.__anext__()
    with pytest.raises(StopAsyncIteration):
        await flow.asend(answer(401, sent))
    assert source.fetches == 1


async def test_a_static_token_is_not_replayed_after_a_401() -> None:
    auth = BearerAuth("static-token")
    flow = auth.async_auth_flow(request())
    sent = await flow.__anext__()
    with pytest.raises(StopAsyncIteration):
        await flow.asend(answer(401, sent))


async def test_a_callable_is_asked_per_request_and_replayed_only_with_a_new_token() -> None:
    values = iter(["old", "new", "new", "new"])
    auth = BearerAuth(lambda: next(values))
    flow = auth.async_auth_flow(request())
    sent = await flow.__anext__()
    assert sent.headers["Authorization"] == "Bearer old"
    replay = await flow.asend(answer(401, sent))
    assert replay.headers["Authorization"] == "Bearer new"
    second = auth.async_auth_flow(request())
    sent = await second.__anext__()
    with pytest.raises(StopAsyncIteration):
        await second.asend(answer(401, sent))  # the callable answers the same token: no replay


async def test_rbac_refuses_before_anything_is_sent() -> None:
    auth = TokenAuth(Tokens("token-a", scopes="kei:plan"), rbac_enabled=True)
    allowed = await auth.async_auth_flow(request(kei_scopes=("kei:plan",))).__anext__()
    assert allowed.headers["Authorization"] == "Bearer token-a"
    with pytest.raises(PermissionDeniedError) as denied:
        await auth.async_auth_flow(request(kei_scopes=("kei:act",), kei_operation="executeAction")).__anext__()
    assert denied.value.required_scope == "kei:act"
    assert denied.value.status_code == 403
    assert "kei:act" in str(denied.value)
    assert "nothing was sent" in str(denied.value)


async def test_rbac_cannot_judge_an_opaque_token_and_lets_the_server_decide() -> None:
    auth = BearerAuth("opaque-token", rbac_enabled=True)
    sent = await auth.async_auth_flow(request(kei_scopes=("kei:act",))).__anext__()
    assert sent.headers["Authorization"] == "Bearer opaque-token"


async def test_tokens_are_cached_until_the_refresh_point() -> None:
    now = [1000.0]
    source = Tokens("token-a", "token-b", expires_in=10.0)
    auth = TokenAuth(source, leeway=30.0, clock=lambda: now[0])
    assert (await auth.token()).value == Secret("token-a")
    now[0] += 4.9  # leeway clamped to half the lifetime: refresh after 5 s
    assert (await auth.token()).value == Secret("token-a")
    now[0] += 0.2
    assert (await auth.token()).value == Secret("token-b")
    assert source.fetches == 2


async def test_without_refresh_a_token_is_used_until_it_expires() -> None:
    now = [1000.0]
    source = Tokens("token-a", "token-b", expires_in=10.0)
    auth = TokenAuth(source, refresh_enabled=False, clock=lambda: now[0])
    await auth.token()
    now[0] += 9.9
    assert (await auth.token()).value == Secret("token-a")
    now[0] += 0.2
    assert (await auth.token()).value == Secret("token-b")


async def test_a_source_failure_reaches_every_waiting_call_and_the_next_call_tries_again() -> None:
    class Flaky:
        def __init__(self) -> None:
            self.fetches = 0

        async def fetch_token(self) -> str:
            self.fetches += 1
            if self.fetches == 1:
                raise RuntimeError("provider down")
            return "token-b"

    source = Flaky()
    auth = TokenAuth(source)
    with pytest.raises(RuntimeError, match="provider down"):
        await auth.token()
    assert (await auth.token()).value == Secret("token-b")
    assert source.fetches == 2
