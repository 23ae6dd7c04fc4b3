"""Credential strategies: ``httpx.Auth`` flows the pipeline runs for every attempt.

* :class:`BearerAuth` - a static token, or a callable (blocking or a coroutine function) asked on every request;
* :class:`TokenAuth` - tokens from a :class:`~kei_agent.auth.TokenSource`, cached, refreshed
  before they expire, fetched single-flight (concurrent calls share one token request);
* :class:`OIDCClientCredentials` - the OAuth 2 client-credentials grant against an OpenID
  provider (requests-oauthlib / oauthlib, imported on first use), with discovery,
  ``client_secret_basic`` / ``client_secret_post``, retries with backoff and the API's TLS settings;
* mutual TLS is a transport setting (see ``_tls``): it needs no flow, and combines with a token.

Every flow checks client-side RBAC before anything is sent (with ``rbac_enabled``: the
operation's required scope against the token's scopes) and answers a 401 once: the rejected token
is invalidated (compare-and-clear) and, if a different token is available and the request body can
be sent again, the request is replayed with it.

Written once for both flavours: the blocking twin of this module is generated from it.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Final, TypeVar

import httpx

from kei_agent.auth import AccessToken, TokenCache, TokenLike, TokenSource, missing_scope
from kei_agent.config import AgentClientConfig, AuthType, RetryConfig, SecurityConfig
from kei_agent.errors import (
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    FieldProblem,
    PermissionDeniedError,
    SecurityError,
    TokenUnavailableError,
    redact_url,
)
from kei_agent.logging._logger import base_logger
from kei_agent.observability import get_instrumentation
from kei_agent.policies.retry import OperationPolicy, Outcome, Retry, StatusFailure, TransportFailure
from kei_agent.policies.retry_after import parse_retry_after
from kei_agent.secrets import MaskedHeaderValue, Secret

from ._backend import AuthFlow, BlockingPool, SingleFlight, call_maybe_async
from ._retrying import Retrying
from ._tls import build_ssl_context

__all__ = ["BearerAuth", "KeiAuth", "OIDCClientCredentials", "TokenAuth", "build_auth"]

_T = TypeVar("_T")
_log = base_logger.bind(component="kei_agent.auth")

#: The token endpoint is safe to call again: retry connection errors and 408/429/5xx.
_ENDPOINT_POLICY: Final = OperationPolicy(idempotent=True, retry_statuses=frozenset())
_MAX_REASON = 300


_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/=")


def _check_token_value(value: str) -> None:
    """A bearer token must be sendable as is (RFC 6750 ``b64token``); the value is never shown."""
    if not value or not set(value) <= _TOKEN_CHARS:
        raise ConfigurationError(
            [
                FieldProblem(
                    "api_token",
                    "is not a usable bearer token: it is empty or contains spaces, control or non-ASCII characters "
                    "(value hidden)",
                    "pass the token exactly as issued (strip surrounding whitespace and newlines)",
                )
            ],
            title="Invalid bearer token",
        )


def _deadline_of(request: httpx.Request) -> float | None:
    """The call's absolute deadline (``time.monotonic()`` based) the pipeline put on ``request``."""
    deadline = request.extensions.get("kei_deadline")
    return float(deadline) if isinstance(deadline, int | float) and not isinstance(deadline, bool) else None


def _as_token(value: object) -> AccessToken:
    if isinstance(value, AccessToken):
        return value
    if isinstance(value, str | Secret):
        _check_token_value(value.reveal() if isinstance(value, Secret) else value)
        return AccessToken.from_value(value)
    raise TypeError(f"a token provider returned {type(value).__name__}; expected str, Secret or AccessToken")


class KeiAuth(httpx.Auth):
    """Base of the SDK's credential strategies: RBAC before sending, one replay after a 401.

    Subclasses provide :meth:`token` (the token for the next request) and may override
    :meth:`invalidate` (called with the token a server rejected with 401).
    """

    def __init__(self, *, rbac_enabled: bool = False) -> None:
        """With ``rbac_enabled``, requests whose operation needs a scope the token lacks are refused."""
        self.rbac_enabled = rbac_enabled
        self._last: AccessToken | None = None

    async def token(self, deadline: float | None = None) -> AccessToken:
        """The token to send with the next request; fetching it ends by ``deadline``
        (``time.monotonic()`` based; ``TimeoutError`` after it)."""
        raise NotImplementedError

    def invalidate(self, token: AccessToken) -> None:
        """The server rejected ``token`` (401): do not hand it out again."""

    @property
    def client_id(self) -> str | None:
        """The OAuth client id behind the tokens, if any (for audit records)."""
        return None

    @property
    def subject(self) -> str | None:
        """The subject of the last token sent, if known (for audit records)."""
        return self._last.subject if self._last is not None else None

    def close(self) -> None:
        """Release resources (sessions, a token request in progress); the client calls it on close."""

    def static_header(self) -> MaskedHeaderValue | None:
        """The ``Authorization`` value when it can never change (a static token), else ``None``.

        The engine then sends it as a precomputed header instead of running the auth flow per call.
        """
        return None

    def auth_flow(self, request: httpx.Request) -> Any:
        raise SecurityError(
            f"{type(self).__name__} from {type(self).__module__} works only with the client flavour it belongs to"
        )

    async def async_auth_flow(self, request: httpx.Request) -> AuthFlow:
        deadline = _deadline_of(request)
        token = await self._token_for(request, deadline)
        self._authorize(request, token)
        response = yield request
        if response.status_code != 401 or not isinstance(request.stream, httpx.ByteStream):
            return
        self.invalidate(token)
        fresh = await self._token_for(request, deadline)
        if fresh.value == token.value:
            return
        _log.info(
            "{operation}: the server rejected the access token (401); replaying once with a new one",
            operation=request.extensions.get("kei_operation", request.url.path),
        )
        self._authorize(request, fresh)
        yield request

    async def _token_for(self, request: httpx.Request, deadline: float | None) -> AccessToken:
        try:
            return await self.token(deadline)
        except TimeoutError as exc:
            raise APITimeoutError(
                f"no access token within the call's deadline ({self.describe_source()}); nothing was sent",
                method=request.method,
                url=str(request.url),
                correlation_id=request.headers.get("X-Correlation-ID"),
            ) from exc

    def describe_source(self) -> str:
        """Where tokens come from, for error messages (never a secret)."""
        return type(self).__name__

    def _authorize(self, request: httpx.Request, token: AccessToken) -> None:
        if self.rbac_enabled:
            scope = missing_scope(request.extensions.get("kei_scopes", ()), token.scopes)
            if scope is not None:
                granted = ", ".join(sorted(token.scopes or ())) or "no scopes"
                raise PermissionDeniedError(
                    f"denied client-side: the access token does not grant the scope {scope} (it grants "
                    f"{granted}); nothing was sent",
                    method=request.method,
                    url=str(request.url),
                    correlation_id=request.headers.get("X-Correlation-ID"),
                    required_scope=scope,
                )
        self._last = token
        request.headers["Authorization"] = f"Bearer {token.value.reveal()}"


class BearerAuth(KeiAuth):
    """A static bearer token, or a callable returning one that is asked for every request.

    The callable may return ``str``, :class:`~kei_agent.secrets.Secret` or
    :class:`~kei_agent.auth.AccessToken`; in the asynchronous client it may be a coroutine function.
    After a 401 the callable is asked again and the request replayed once if the token changed.
    """

    def __init__(
        self,
        token: TokenLike | Callable[[], TokenLike | Awaitable[TokenLike]],
        *,
        rbac_enabled: bool = False,
    ) -> None:
        """Send ``token`` (or what the callable ``token`` returns) as ``Authorization: Bearer``."""
        super().__init__(rbac_enabled=rbac_enabled)
        self._static: AccessToken | None = None
        self._provider: Callable[[], TokenLike | Awaitable[TokenLike]] | None = None
        if isinstance(token, AccessToken | Secret | str):
            self._static = _as_token(token)
        elif callable(token):
            self._provider = token
        else:
            raise TypeError(f"BearerAuth needs a token or a callable, not {type(token).__name__}")

    def __repr__(self) -> str:
        if self._provider is not None:
            name = getattr(self._provider, "__qualname__", type(self._provider).__name__)
            return f"BearerAuth(provider={name}, rbac_enabled={self.rbac_enabled})"
        return f"BearerAuth(token=********, rbac_enabled={self.rbac_enabled})"

    def static_header(self) -> MaskedHeaderValue | None:
        """``Bearer <token>`` for a static token (masked in ``repr``); ``None`` with a callable."""
        if self._static is None:
            return None
        self._last = self._static
        return MaskedHeaderValue(f"Bearer {self._static.value.reveal()}")

    async def token(self, deadline: float | None = None) -> AccessToken:
        """The static token, or a fresh answer of the callable."""
        if self._static is not None:
            return self._static
        assert self._provider is not None
        return _as_token(await call_maybe_async(self._provider))


class TokenAuth(KeiAuth):
    """Tokens from a :class:`~kei_agent.auth.TokenSource`: cached, refreshed, fetched single-flight.

    A cached token is used until ``leeway`` seconds (at most half its lifetime) before it expires;
    then the next call fetches a new one while calls that arrive during that fetch keep using the
    still-valid old token. Without a usable token every concurrent call waits for the same single
    fetch. A 401 invalidates the rejected token only if it is still the cached one.
    """

    def __init__(
        self,
        source: TokenSource,
        *,
        refresh_enabled: bool = True,
        leeway: float = 30.0,
        rbac_enabled: bool = False,
        fetch_timeout: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Cache the tokens of ``source``; a blocking ``fetch_token`` is bounded by ``fetch_timeout``
        (asynchronous client: it runs in a worker thread)."""
        super().__init__(rbac_enabled=rbac_enabled)
        self._source = source
        self._cache = TokenCache(leeway=leeway, refresh_enabled=refresh_enabled, clock=clock)
        self._flight: SingleFlight[AccessToken] = SingleFlight()
        self._pool = BlockingPool("kei-token-source")
        self._fetch_timeout = fetch_timeout
        self._fetch_deadline = 0.0
        self.fetches = 0
        """How many times the source was asked for a token."""

    def __repr__(self) -> str:
        return f"TokenAuth(source={self._source!r}, cache={self._cache!r}, rbac_enabled={self.rbac_enabled})"

    @property
    def cache(self) -> TokenCache:
        """The token cache (deadlines are on the monotonic clock)."""
        return self._cache

    @property
    def client_id(self) -> str | None:
        """The source's ``client_id``, if it has one."""
        value = getattr(self._source, "client_id", None)
        return value if isinstance(value, str) else None

    def describe_source(self) -> str:
        """The token endpoint (or the source's type), for error messages."""
        endpoint = getattr(self._source, "endpoint", None)
        return (
            f"token endpoint {endpoint}" if isinstance(endpoint, str) else f"token source {type(self._source).__name__}"
        )

    async def token(self, deadline: float | None = None) -> AccessToken:
        """The cached token, or a new one (single-flight) when there is none or it is due.

        Waiting for a new one ends by ``deadline`` (``time.monotonic()`` based; default: ``fetch_timeout``
        from now) with ``TimeoutError``; the fetch itself goes on for later calls (bounded by ``fetch_timeout``).
        """
        entry = self._cache.entry
        if entry is not None:
            now = self._cache.clock()
            if entry.fresh(now) or (entry.valid(now) and self._flight.running):
                return entry.token
        if deadline is None:  # no call deadline: the fetch's own bound (shared by the calls that join it)
            if not self._flight.running:
                self._fetch_deadline = time.monotonic() + self._fetch_timeout
            deadline = self._fetch_deadline
        return await self._flight.run(self._refresh, self._cache.fresh, deadline - time.monotonic())

    async def _refresh(self) -> AccessToken:
        started = self._cache.clock()
        self.fetches += 1
        instrumentation = get_instrumentation()
        auth_type = type(self._source).__name__
        try:
            token = _as_token(await call_maybe_async(self._source.fetch_token, self._fetch_timeout, self._pool))
        except BaseException:
            instrumentation.token_refresh("error", auth_type=auth_type)
            raise
        instrumentation.token_refresh("success", auth_type=auth_type)
        entry = self._cache.store(token, started)
        _log.debug(
            "new access token (expires in {lifetime}, scopes {scopes})",
            lifetime="unknown" if token.expires_in is None else f"{token.expires_in:g}s",
            scopes=" ".join(sorted(token.scopes)) if token.scopes is not None else "unknown",
        )
        return entry.token

    def invalidate(self, token: AccessToken) -> None:
        """Forget ``token`` if it is still the cached one."""
        if self._cache.invalidate(token):
            _log.debug("access token invalidated after a 401")

    def close(self) -> None:
        """Stop a token request in progress and close the source (if it can be closed)."""
        self._flight.cancel()
        self._pool.close()
        close = getattr(self._source, "close", None)
        if callable(close):
            close()


# ------------------------------------------------------------------------------------------ OIDC


class _EndpointFailure(Exception):
    """One failed attempt at the token endpoint (internal; never leaves this module)."""

    def __init__(
        self, outcome: Outcome | None, reason: str, status: int | None = None, *, redirect: str | None = None
    ) -> None:
        super().__init__(reason)
        self.outcome = outcome  # None: not worth retrying
        self.reason = reason
        self.status = status
        self.redirect = redirect  # the Location of a refused redirect (redacted)


_quiet = threading.local()


class _SuppressDuringTokenRequests(logging.Filter):
    """requests-oauthlib logs request headers and bodies (the client secret) and the tokens at
    DEBUG; drop its records while this module talks to a token endpoint in the current thread."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_quiet, "active", False)


_FILTER: Final = _SuppressDuringTokenRequests()
_FILTERED_LOGGERS: Final = ("requests_oauthlib.oauth2_session",)


@contextlib.contextmanager
def _quiet_oauth_logs() -> Iterator[None]:
    for name in _FILTERED_LOGGERS:
        target = logging.getLogger(name)
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
    _quiet.active = True
    try:
        yield
    finally:
        _quiet.active = False


def _tls_adapter(context: ssl.SSLContext) -> Any:
    from requests.adapters import HTTPAdapter

    class _TLSAdapter(HTTPAdapter):
        """Connects with the SDK's SSL context (CA bundle, client certificate) instead of
        requests' own CA settings, so the token endpoint is trusted exactly like the API."""

        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            kwargs["ssl_context"] = context
            super().init_poolmanager(*args, **kwargs)

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            kwargs["ssl_context"] = context
            return super().proxy_manager_for(proxy, **kwargs)

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            """The SSL context already carries the trust anchors and the client certificate."""

    return _TLSAdapter(max_retries=0)


def _reason_of(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."


def _redirect_refused(response: Any) -> _EndpointFailure:
    location = response.headers.get("Location")
    target = redact_url(location) if location else "an unnamed location"
    status = int(response.status_code)
    return _EndpointFailure(None, f"answered {status} (redirect)", status, redirect=target)


def _oauth_error(response: Any) -> str | None:
    try:
        data = response.json()
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, str) else None


class OIDCClientCredentials:
    """Access tokens from an OpenID provider with the OAuth 2 client-credentials grant.

    A :class:`~kei_agent.auth.TokenSource` (use it through :class:`TokenAuth`). The token endpoint
    is ``token_url``, or found once through OpenID discovery of ``issuer``. The client
    authenticates with ``client_secret_basic`` (default) or ``client_secret_post``; ``scope`` is
    requested and ``audience`` is sent as the ``resource`` (RFC 8707) and ``audience`` parameters.

    Token-endpoint connection errors, timeouts and 408/429/5xx answers are retried with the
    backoff of ``retry`` (Retry-After honoured); when they persist :class:`TokenUnavailableError`
    is raised. An OAuth error answer (``invalid_client``, ``invalid_scope``, ...) raises
    :class:`AuthenticationError` with ``oauth_error`` at once. The HTTP exchange uses
    requests-oauthlib (imported on first use) with ``ssl_context``; in the asynchronous client it runs in
    a worker thread, bounded by the timeouts.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str | Secret,
        issuer: str | None = None,
        token_url: str | None = None,
        scope: str | None = None,
        audience: str | None = None,
        auth_method: str = "client_secret_basic",
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        retry: RetryConfig | None = None,
    ) -> None:
        """Describe the client; nothing is sent before the first :meth:`fetch_token`."""
        if issuer is None and token_url is None:
            raise ConfigurationError([FieldProblem("oidc_issuer", "needs oidc_issuer or oidc_token_url")])
        for name, url in (("oidc_issuer", issuer), ("oidc_token_url", token_url)):
            if url is not None and not url.lower().startswith("https://"):
                raise SecurityError(
                    f"{name} must use https:// ({redact_url(url)}): the client secret would travel in clear text"
                )
        if auth_method not in ("client_secret_basic", "client_secret_post"):
            raise ConfigurationError([FieldProblem("oidc_token_auth_method", f"unknown method {auth_method!r}")])
        self.client_id = client_id
        self._client_secret = client_secret if isinstance(client_secret, Secret) else Secret(client_secret)
        self.issuer = issuer.rstrip("/") if issuer else None
        self.token_url = token_url
        self.scope = scope
        self.audience = audience
        self.auth_method = auth_method
        self._ssl_context = ssl_context if ssl_context is not None else httpx.create_ssl_context()
        self._verify = self._ssl_context.verify_mode != ssl.CERT_NONE
        self._timeout = (connect_timeout, read_timeout)
        self._bound = connect_timeout + read_timeout + 1.0
        self._retry = retry or RetryConfig()
        self._session: Any = None
        self._answer_status: int | None = None
        self._pool = BlockingPool("kei-oidc-token", max_workers=2)

    @classmethod
    def from_config(cls, config: AgentClientConfig, security: SecurityConfig) -> OIDCClientCredentials:
        """The source described by ``security`` (TLS and timeouts as for ``config``'s API calls)."""
        context = build_ssl_context(config.connection.verify, security, always=True)
        assert isinstance(context, ssl.SSLContext)
        assert security.oidc_client_id is not None
        assert security.oidc_client_secret is not None
        return cls(
            client_id=security.oidc_client_id,
            client_secret=security.oidc_client_secret,
            issuer=security.oidc_issuer,
            token_url=security.oidc_token_url,
            scope=security.oidc_scope,
            audience=security.oidc_audience,
            auth_method=security.oidc_token_auth_method,
            ssl_context=context,
            connect_timeout=config.connection.connect_timeout,
            read_timeout=config.connection.timeout,
            retry=config.retry,
        )

    def __repr__(self) -> str:
        where = self.token_url or self.issuer
        return (
            f"OIDCClientCredentials(client_id={self.client_id!r}, endpoint={where!r}, "
            f"auth_method={self.auth_method!r}, client_secret=********)"
        )

    @property
    def endpoint(self) -> str:
        """The token endpoint (or the issuer, before discovery), without credentials or query."""
        return redact_url(self.token_url or self.issuer)

    async def fetch_token(self) -> AccessToken:
        """Request a new access token (discovering the token endpoint first if needed)."""
        token_url = self.token_url
        if token_url is None:
            assert self.issuer is not None
            token_url = await self._retrying(f"{self.issuer}/.well-known/openid-configuration", self._discover)
            self.token_url = token_url
        endpoint = token_url
        return await self._retrying(endpoint, lambda: self._request_token(endpoint))

    def close(self) -> None:
        """Close the HTTP session to the provider."""
        self._pool.close()
        session, self._session = self._session, None
        if session is not None:
            session.close()

    async def _retrying(self, url: str, attempt_once: Callable[[], _T]) -> _T:
        retrying = Retrying.of(self._retry, _ENDPOINT_POLICY)
        while True:
            retrying.next_attempt()
            try:
                return await self._pool.run(attempt_once, self._bound)
            except _EndpointFailure as exc:
                if exc.redirect is not None:
                    raise SecurityError(
                        f"{redact_url(url)} answered {exc.status} with a redirect to {exc.redirect}: the client "
                        "never follows redirects from the OpenID provider (the client secret would go to, or a "
                        "token be accepted from, another URL); configure the final token endpoint URL"
                    ) from None
                failure = _EndpointFailure(exc.outcome, exc.reason, exc.status)
            except TimeoutError:
                failure = _EndpointFailure(TransportFailure("timeout", sent=True), f"no answer within {self._bound:g}s")
            if failure.outcome is None:
                break
            decision = retrying.decide(failure.outcome)
            if not isinstance(decision, Retry):
                break
            await retrying.wait(decision, f"token endpoint {redact_url(url)} ({failure.reason})", level="WARNING")
        attempt = retrying.attempt
        raise TokenUnavailableError(
            f"no access token from {redact_url(url)}: {failure.reason} (after {attempt} attempt(s))",
            url=url,
            status_code=failure.status,
            attempts=attempt,
        )

    # The methods below block: the asynchronous client runs them in a worker thread.

    def _oauth_session(self) -> Any:
        if self._session is None:
            from oauthlib.oauth2 import BackendApplicationClient
            from requests_oauthlib import OAuth2Session

            class _NoRedirects(OAuth2Session):  # type: ignore[misc]
                """Never follows a redirect: a 3xx answer is returned as it is (and refused)."""

                def get_redirect_target(self, response: Any) -> None:
                    return None

            scopes = self.scope.split() if self.scope else None
            session = _NoRedirects(client=BackendApplicationClient(client_id=self.client_id, scope=scopes))
            session.trust_env = False  # no REQUESTS_CA_BUNDLE / .netrc: the SDK's TLS settings and secret only
            session.mount("https://", _tls_adapter(self._ssl_context))
            session.register_compliance_hook("access_token_response", self._inspect_answer)
            self._session = session
        return self._session

    def _proxies(self, url: str) -> dict[str, str]:
        from requests.utils import get_environ_proxies

        return dict(get_environ_proxies(url))

    def _discover(self) -> str:
        import requests

        url = f"{self.issuer}/.well-known/openid-configuration"
        failure: _EndpointFailure | None = None
        document: Any = None
        with _quiet_oauth_logs():
            try:
                response = self._oauth_session().get(
                    url, timeout=self._timeout, verify=self._verify, proxies=self._proxies(url), withhold_token=True
                )
            except requests.exceptions.SSLError as exc:
                failure = _EndpointFailure(None, f"TLS failure: {_reason_of(exc)}")
            except requests.RequestException as exc:
                failure = _EndpointFailure(TransportFailure("connect", sent=True), _reason_of(exc))
            else:
                status = response.status_code
                if 300 <= status < 400:
                    failure = _redirect_refused(response)
                elif status >= 300:
                    outcome = StatusFailure(status, parse_retry_after(response.headers))
                    failure = _EndpointFailure(outcome, f"discovery answered {status}", status)
                else:
                    try:
                        document = response.json()
                    except ValueError:
                        document = None
        if failure is not None:
            raise failure
        endpoint = document.get("token_endpoint") if isinstance(document, dict) else None
        issuer = document.get("issuer") if isinstance(document, dict) else None
        if not isinstance(endpoint, str) or not endpoint.lower().startswith("https://"):
            raise _EndpointFailure(None, "the discovery document names no https token_endpoint")
        if isinstance(issuer, str) and issuer.rstrip("/") != self.issuer:
            raise _EndpointFailure(None, f"the discovery document is for another issuer ({redact_url(issuer)})")
        return endpoint

    def _inspect_answer(self, response: Any) -> Any:
        """requests-oauthlib compliance hook: classify the answer before oauthlib parses it."""
        status = int(response.status_code)
        self._answer_status = status
        if 200 <= status < 300:
            return response
        if 300 <= status < 400:
            raise _redirect_refused(response)
        if status < 500 and _oauth_error(response) is not None:
            return response  # an OAuth error: oauthlib raises it with its code
        outcome = StatusFailure(status, parse_retry_after(response.headers))
        raise _EndpointFailure(outcome, f"answered {status} {response.reason or ''}".strip(), status)

    def _request_token(self, token_url: str) -> AccessToken:
        import requests
        from oauthlib.oauth2 import OAuth2Error

        extra: dict[str, Any] = {}
        if self.audience:
            extra["resource"] = self.audience
            extra["audience"] = self.audience
        failure: _EndpointFailure | None = None
        refusal: tuple[str, str | None] | None = None
        answer: Any = None
        self._answer_status = None
        with _quiet_oauth_logs():
            try:
                answer = self._oauth_session().fetch_token(
                    token_url,
                    client_secret=self._client_secret.reveal(),
                    include_client_id=self.auth_method == "client_secret_post",
                    timeout=self._timeout,
                    verify=self._verify,
                    proxies=self._proxies(token_url),
                    **extra,
                )
            except _EndpointFailure as exc:
                failure = _EndpointFailure(exc.outcome, exc.reason, exc.status, redirect=exc.redirect)
            except requests.exceptions.SSLError as exc:
                failure = _EndpointFailure(None, f"TLS failure: {_reason_of(exc)}")
            except requests.exceptions.ConnectTimeout as exc:
                failure = _EndpointFailure(TransportFailure("timeout", sent=False), _reason_of(exc))
            except requests.exceptions.Timeout as exc:
                failure = _EndpointFailure(TransportFailure("timeout", sent=True), _reason_of(exc))
            except requests.RequestException as exc:
                failure = _EndpointFailure(TransportFailure("connect", sent=True), _reason_of(exc))
            except OAuth2Error as exc:
                refusal = (str(exc.error), exc.description if isinstance(exc.description, str) else None)
        if failure is not None:
            raise failure
        if refusal is not None:
            error, description = refusal
            status = self._answer_status or 400
            detail = f": {description}" if description else ""
            raise AuthenticationError(
                f"the OpenID provider refused the client credentials of {self.client_id!r}: {error}{detail}",
                status_code=status,
                method="POST",
                url=token_url,
                oauth_error=error,
            )
        try:
            return AccessToken.from_response(answer if isinstance(answer, Mapping) else {})
        except (TypeError, ValueError) as exc:
            reason = str(exc)
        raise _EndpointFailure(None, f"unusable token response: {reason}", self._answer_status)


# --------------------------------------------------------------------------------------- factory


def build_auth(config: AgentClientConfig, security: SecurityConfig) -> KeiAuth | None:
    """The credential strategy ``security`` describes (``None``: no credentials are sent).

    Raises ``ConfigurationError`` when a bearer strategy has no token.
    """
    rbac = security.rbac_enabled
    if security.auth_type is AuthType.NONE:
        return None
    if security.auth_type is AuthType.OIDC:
        source = OIDCClientCredentials.from_config(config, security)
        return TokenAuth(
            source,
            refresh_enabled=security.token_refresh_enabled,
            leeway=security.token_refresh_leeway,
            rbac_enabled=rbac,
            fetch_timeout=config.retry.deadline,
        )
    provider = security.token_provider
    if provider is not None:
        if isinstance(provider, TokenSource):
            return TokenAuth(
                provider,
                refresh_enabled=security.token_refresh_enabled,
                leeway=security.token_refresh_leeway,
                rbac_enabled=rbac,
                fetch_timeout=config.retry.deadline,
            )
        return BearerAuth(provider, rbac_enabled=rbac)
    token = security.api_token or config.api_token
    if token is None:
        if security.auth_type is AuthType.MTLS:
            return None
        raise ConfigurationError(
            [
                FieldProblem(
                    "api_token",
                    "bearer authentication needs a token",
                    "set api_token or KEI_API_TOKEN, or SecurityConfig.token_provider",
                )
            ]
        )
    return BearerAuth(token, rbac_enabled=rbac)
