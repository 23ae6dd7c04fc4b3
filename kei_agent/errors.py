"""The SDK's exception tree: one root, :class:`KeiSDKError`.

::

    KeiSDKError
    ├── APIError                      a call to the API failed (method, url, correlation_id)
    │   ├── APIStatusError            the server answered 4xx/5xx (status_code, request_id, problem)
    │   │   ├── BadRequestError             400
    │   │   ├── AuthenticationError         401 (oauth_error)
    │   │   ├── PermissionDeniedError       403 (required_scope)
    │   │   ├── NotFoundError               404
    │   │   ├── ConflictError               409
    │   │   ├── UnprocessableEntityError    422 (errors)
    │   │   ├── RateLimitError              429 (retry_after)
    │   │   └── InternalServerError         5xx
    │   ├── APIConnectionError        no usable response (connect, read, write errors)
    │   │   └── APITimeoutError
    │   └── ResponseValidationError   a response that does not match the contract (raw body kept)
    ├── ValidationError               client-side input validation, every problem with its path
    ├── SecurityError                 a security requirement is not met
    │   └── TokenUnavailableError     no access token: the token endpoint failed after retries
    ├── ConfigurationError            every configuration problem with its path and a fix
    ├── CircuitBreakerOpenError       the breaker rejects calls for ``retry_after`` seconds
    └── ProtocolError                 no protocol can carry the operation

Messages are readable and never contain secrets: a request is described by its method and
path only (no credentials, no query string), and :attr:`APIError.url` is redacted the same way.
"""

from __future__ import annotations

import http
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NotRequired, Required, TypedDict, Unpack, cast
from urllib.parse import urlsplit, urlunsplit

import attrs

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CircuitBreakerOpenError",
    "ConfigurationError",
    "ConflictError",
    "FieldProblem",
    "InsecureKeyFileWarning",
    "InternalServerError",
    "KeiSDKError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitError",
    "ResponseValidationError",
    "SecurityError",
    "TokenUnavailableError",
    "UnprocessableEntityError",
    "ValidationError",
    "redact_url",
    "status_error",
]

_MAX_DETAIL = 500
_MAX_LISTED_ERRORS = 3
_WHITESPACE = re.compile(r"\s+")


def redact_url(url: object) -> str:
    """Return ``url`` without credentials, query string and fragment (safe for messages and logs).

    A relative URL keeps only its path; something that is not a URL gives ``"<invalid url>"``.
    """
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        netloc = f"{host}:{parts.port}" if parts.port is not None else host
    except ValueError:
        return "<invalid url>"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _path_of(url: str) -> str:
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return "<invalid url>"


def _one_line(text: str) -> str:
    text = _WHITESPACE.sub(" ", text).strip()
    if len(text) > _MAX_DETAIL:
        text = text[: _MAX_DETAIL - 1] + "…"
    return text


def _suffix(**ids: object) -> str:
    shown = [f"{name}={value}" for name, value in ids.items() if value is not None and value != ""]
    return f" ({', '.join(shown)})" if shown else ""


def _restore(cls: type[KeiSDKError], args: tuple[Any, ...], state: dict[str, Any]) -> KeiSDKError:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class KeiSDKError(Exception):
    """Root of every exception the SDK raises on purpose."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors break Exception's default pickling; restore the state instead.
        return (_restore, (type(self), self.args, dict(self.__dict__)))


@attrs.frozen
class FieldProblem:
    """One problem with one input or configuration value.

    Attributes:
        path: where the value lives, e.g. ``retry.max_attempts``, ``$.objective`` or
            ``KEI_MAX_ATTEMPTS``.
        message: what is wrong (never contains a secret value).
        hint: how to fix it, when there is something useful to say.
    """

    path: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.path}: {self.message}"
        return f"{text} (fix: {self.hint})" if self.hint else text


def _problem_list(title: str, problems: Sequence[FieldProblem]) -> str:
    count = len(problems)
    noun = "problem" if count == 1 else "problems"
    lines = "".join(f"\n  - {problem}" for problem in problems)
    return f"{title} ({count} {noun}):{lines}"


# --------------------------------------------------------------------------------------- API errors


class SecurityError(KeiSDKError):
    """A security requirement is not met (e.g. credentials over plain HTTP, unusable key material),
    or the server refused the credentials (:class:`AuthenticationError`, :class:`PermissionDeniedError`
    are security errors too, as kei-agent-py-sdk 0.1.0b6 documented)."""


class APIError(KeiSDKError):
    """A call to the KEI API failed.

    Attributes:
        method: the HTTP method (upper case).
        url: the request URL without credentials, query string or fragment.
        correlation_id: the ``X-Correlation-ID`` the request carried, if known.
    """

    default_reason: ClassVar[str] = "request failed"

    method: str
    url: str
    correlation_id: str | None

    def __init__(
        self,
        message: str | None = None,
        *,
        method: str,
        url: str,
        correlation_id: str | None = None,
    ) -> None:
        """Describe a failed call.

        ``message`` is the reason (a default is used when omitted); the method and path are
        prepended unless the message already starts with them. Occurrences of the raw ``url`` in
        the message are replaced by its path, so a query string cannot leak through it.
        """
        self.method = method.upper()
        self.url = redact_url(url)
        self.correlation_id = correlation_id
        raw_url = str(url)
        if message and raw_url:
            message = message.replace(raw_url, self.path)
        super().__init__(self._compose(message))

    @property
    def path(self) -> str:
        """The request path (what the messages show)."""
        return _path_of(self.url)

    def _complete(self, message: str | None) -> str | None:
        """``message`` as the whole description when it already names the method and path."""
        prefix = f"{self.method} {self.path}"
        if message and message.upper().startswith(prefix.upper()):
            return _one_line(message)
        return None

    def _compose(self, message: str | None) -> str:
        suffix = _suffix(correlation_id=self.correlation_id)
        complete = self._complete(message)
        if complete is not None:
            return complete + suffix
        reason = _one_line(message) if message else self.default_reason
        return f"{self.method} {self.path} failed: {reason}{suffix}"


class StatusErrorArgs(TypedDict):
    """The keyword arguments every :class:`APIStatusError` takes (subclasses add their own)."""

    status_code: NotRequired[int | None]
    method: Required[str]
    url: Required[str]
    request_id: NotRequired[str | None]
    correlation_id: NotRequired[str | None]
    problem: NotRequired[Mapping[str, Any] | None]
    body: NotRequired[bytes]
    retry_after: NotRequired[float | None]


class APIStatusError(APIError):
    """The server answered with an error status (4xx/5xx).

    Attributes:
        status_code: the HTTP status.
        request_id: the server's ``X-Request-ID`` (or the problem document's ``request_id``).
        correlation_id: the request's correlation id (echoed by the server).
        problem: the parsed RFC 9457 problem document as a plain dict, if the body was one.
        body: the raw response body.
        retry_after: seconds the server asked to wait (``Retry-After`` / ``retry-after-ms`` or the
            problem's ``retry_after``), if any.
    """

    default_status: ClassVar[int | None] = None

    status_code: int
    request_id: str | None
    problem: dict[str, Any] | None
    body: bytes
    retry_after: float | None

    def __init__(
        self,
        message: str | None = None,
        *,
        status_code: int | None = None,
        method: str,
        url: str,
        request_id: str | None = None,
        correlation_id: str | None = None,
        problem: Mapping[str, Any] | None = None,
        body: bytes = b"",
        retry_after: float | None = None,
    ) -> None:
        """Describe an error response; ``message`` overrides the detail taken from the problem document."""
        code = status_code if status_code is not None else self.default_status
        if code is None:
            raise TypeError(f"{type(self).__name__}() needs a status_code")
        self.status_code = code
        self.problem = dict(problem) if problem is not None else None
        self.body = body
        self.request_id = request_id if request_id is not None else self._problem_str("request_id")
        if correlation_id is None:
            correlation_id = self._problem_str("correlation_id")
        if retry_after is None:
            value = (self.problem or {}).get("retry_after")
            if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                retry_after = float(value)
        self.retry_after = retry_after
        super().__init__(message, method=method, url=url, correlation_id=correlation_id)

    def _problem_str(self, key: str) -> str | None:
        value = (self.problem or {}).get(key)
        return value if isinstance(value, str) and value else None

    def _detail(self) -> str | None:
        detail = self._problem_str("detail")
        title = self._problem_str("title")
        if detail is None and title is not None and title != _phrase(self.status_code):
            detail = title
        return detail

    def _extra_ids(self) -> dict[str, object]:
        return {}

    def _compose(self, message: str | None) -> str:
        retry_after = None if self.retry_after is None else f"{self.retry_after:g}s"
        suffix = _suffix(
            **self._extra_ids(),
            retry_after=retry_after,
            request_id=self.request_id,
            correlation_id=self.correlation_id,
        )
        complete = self._complete(message)
        if complete is not None:
            return complete + suffix
        detail = message or self._detail()
        phrase = _phrase(self.status_code)
        status = f"{self.status_code} {phrase}" if phrase else str(self.status_code)
        text = f"{self.method} {self.path} failed with {status}"
        if detail:
            text += f": {_one_line(detail)}"
        return text + suffix


def _phrase(status_code: int) -> str:
    try:
        return http.HTTPStatus(status_code).phrase
    except ValueError:
        return ""


class BadRequestError(APIStatusError):
    """400 Bad Request."""

    default_status = 400


class AuthenticationError(APIStatusError, SecurityError):
    """401 Unauthorized, or a token endpoint refused the credentials.

    Attributes:
        oauth_error: the OAuth 2 error code (``invalid_client``, ``invalid_token``, ...), if known.
    """

    default_status = 401

    oauth_error: str | None

    def __init__(
        self,
        message: str | None = None,
        *,
        oauth_error: str | None = None,
        **kwargs: Unpack[StatusErrorArgs],
    ) -> None:
        """Like :class:`APIStatusError`; ``oauth_error`` defaults to the problem's ``error`` member."""
        problem = kwargs.get("problem")
        self.problem = dict(problem) if problem is not None else None
        self.oauth_error = oauth_error if oauth_error is not None else self._problem_str("error")
        super().__init__(message, **kwargs)

    def _extra_ids(self) -> dict[str, object]:
        return {"oauth_error": self.oauth_error}


class PermissionDeniedError(APIStatusError, SecurityError):
    """403 Forbidden (also raised client-side when RBAC finds a missing scope).

    Attributes:
        required_scope: the missing scope, if known (defaults to the problem's ``required_scope``).
    """

    default_status = 403

    required_scope: str | None

    def __init__(
        self,
        message: str | None = None,
        *,
        required_scope: str | None = None,
        **kwargs: Unpack[StatusErrorArgs],
    ) -> None:
        """Like :class:`APIStatusError`, plus the missing scope."""
        problem = kwargs.get("problem")
        self.problem = dict(problem) if problem is not None else None
        self.required_scope = required_scope if required_scope is not None else self._problem_str("required_scope")
        super().__init__(message, **kwargs)

    def _extra_ids(self) -> dict[str, object]:
        return {"required_scope": self.required_scope}


class NotFoundError(APIStatusError):
    """404 Not Found."""

    default_status = 404


class ConflictError(APIStatusError):
    """409 Conflict."""

    default_status = 409


class UnprocessableEntityError(APIStatusError):
    """422: the server rejected the input.

    Attributes:
        errors: the problem document's ``errors`` (dicts with ``path``, ``message``, maybe ``code``).
    """

    default_status = 422

    errors: list[dict[str, Any]]

    def __init__(
        self,
        message: str | None = None,
        **kwargs: Unpack[StatusErrorArgs],
    ) -> None:
        """Like :class:`APIStatusError`; ``errors`` is read from the problem document."""
        raw = (kwargs.get("problem") or {}).get("errors")
        self.errors = [dict(item) for item in raw if isinstance(item, Mapping)] if isinstance(raw, list) else []
        super().__init__(message, **kwargs)

    def _detail(self) -> str | None:
        detail = super()._detail()
        listed = [f"{item.get('path', '?')}: {item.get('message', '?')}" for item in self.errors[:_MAX_LISTED_ERRORS]]
        if len(self.errors) > _MAX_LISTED_ERRORS:
            listed.append(f"and {len(self.errors) - _MAX_LISTED_ERRORS} more")
        if not listed:
            return detail
        joined = "; ".join(listed)
        return f"{detail} [{joined}]" if detail else joined


class RateLimitError(APIStatusError):
    """429 Too Many Requests (also raised when ``Retry-After`` exceeds ``retry_after_max``)."""

    default_status = 429


class InternalServerError(APIStatusError):
    """Any 5xx status."""

    default_status = 500


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error(
    status_code: int,
    *,
    method: str,
    url: str,
    request_id: str | None = None,
    correlation_id: str | None = None,
    problem: Mapping[str, Any] | None = None,
    body: bytes = b"",
    retry_after: float | None = None,
    message: str | None = None,
    oauth_error: str | None = None,
) -> APIStatusError:
    """Build the :class:`APIStatusError` subclass for ``status_code``.

    400/401/403/404/409/422/429 get their classes, every 5xx (including non-standard ones such as
    520) is an :class:`InternalServerError`, anything else an :class:`APIStatusError`.
    ``oauth_error`` is used only for 401.
    """
    cls = _STATUS_CLASSES.get(status_code)
    if cls is None:
        cls = InternalServerError if 500 <= status_code <= 599 else APIStatusError
    if cls is AuthenticationError:
        return AuthenticationError(
            message,
            status_code=status_code,
            method=method,
            url=url,
            request_id=request_id,
            correlation_id=correlation_id,
            problem=problem,
            body=body,
            retry_after=retry_after,
            oauth_error=oauth_error,
        )
    return cls(
        message,
        status_code=status_code,
        method=method,
        url=url,
        request_id=request_id,
        correlation_id=correlation_id,
        problem=problem,
        body=body,
        retry_after=retry_after,
    )


class APIConnectionError(APIError):
    """No usable response: the connection could not be made, broke, or the peer spoke garbage.

    ``transient`` is ``False`` when trying again cannot help (a TLS certificate that does not
    verify, a request that cannot be encoded): such a failure was neither retried nor carried
    over to another protocol.
    """

    default_reason = "connection error"
    transient: bool = True


class APITimeoutError(APIConnectionError):
    """The request timed out (connect, read, write or pool timeout, or the call's deadline)."""

    default_reason = "request timed out"


class ResponseValidationError(APIError):
    """The response does not match the contract (non-JSON body, missing fields, unknown enum
    values, an unexpected status code).

    Attributes:
        status_code: the response status.
        body: the raw response body.
        reason: what did not match.
        request_id: the server's request id, if known.
    """

    status_code: int
    body: bytes
    reason: str
    request_id: str | None

    def __init__(
        self,
        message: str | None = None,
        *,
        method: str,
        url: str,
        status_code: int,
        body: bytes = b"",
        reason: str | None = None,
        correlation_id: str | None = None,
        request_id: str | None = None,
    ) -> None:
        """Describe an invalid response; the body is kept but never shown in the message.

        ``reason`` is the short cause (defaults to ``message``); ``message`` describes the
        failure (defaults to ``reason``). At least one of them is needed.
        """
        if message is None and reason is None:
            raise TypeError("ResponseValidationError() needs a message or a reason")
        self.status_code = status_code
        self.body = body
        self.reason = reason if reason is not None else cast("str", message)
        self.request_id = request_id
        super().__init__(
            message if message is not None else reason, method=method, url=url, correlation_id=correlation_id
        )

    def _compose(self, message: str | None) -> str:
        suffix = _suffix(request_id=self.request_id, correlation_id=self.correlation_id)
        complete = self._complete(message)
        if complete is not None:
            return complete + suffix
        return (
            f"{self.method} {self.path} returned an invalid response (status {self.status_code}, "
            f"{len(self.body)} bytes): {_one_line(message or self.reason)}{suffix}"
        )


# ------------------------------------------------------------------------------- client-side errors


class ValidationError(KeiSDKError):
    """Input rejected before sending; :attr:`problems` lists every problem with its JSON path."""

    problems: list[FieldProblem]

    def __init__(self, problems: Sequence[FieldProblem], *, title: str = "Invalid request") -> None:
        """List ``problems`` (at least one) under ``title``."""
        self.problems = list(problems)
        super().__init__(_problem_list(title, self.problems))


class TokenUnavailableError(SecurityError):
    """No access token could be obtained: the OpenID provider's token endpoint (or its discovery
    document) was unreachable, timed out, or answered 5xx / a non-OAuth body after the retries.

    A refusal (``invalid_client``, ``invalid_scope``, ...) is an :class:`AuthenticationError`
    instead. The call was not sent to the API, so it is safe to try again later.

    Attributes:
        url: the endpoint that failed (redacted like :attr:`APIError.url`).
        status_code: its last HTTP status, if it answered at all.
        attempts: how many requests were made.
    """

    url: str
    status_code: int | None
    attempts: int

    def __init__(self, message: str, *, url: str, status_code: int | None = None, attempts: int = 1) -> None:
        """Describe the failure (``message`` must not contain credentials)."""
        self.url = redact_url(url)
        self.status_code = status_code
        self.attempts = attempts
        super().__init__(message)


class InsecureKeyFileWarning(UserWarning):
    """A private key file is readable by group or others."""


class ConfigurationError(KeiSDKError):
    """Invalid configuration; :attr:`problems` lists every problem with its path and a fix hint."""

    problems: list[FieldProblem]

    def __init__(self, problems: Sequence[FieldProblem], *, title: str = "Invalid configuration") -> None:
        """List ``problems`` (at least one) under ``title``."""
        self.problems = list(problems)
        super().__init__(_problem_list(title, self.problems))


class CircuitBreakerOpenError(KeiSDKError):
    """The circuit breaker for :attr:`key` rejects calls.

    Attributes:
        key: which breaker (e.g. ``https://api.example.com|rpc``).
        retry_after: seconds until the breaker lets a probe call through.
    """

    key: str
    retry_after: float

    def __init__(self, key: str, retry_after: float, *, message: str | None = None) -> None:
        """Reject a call; the default message says when the next probe is allowed."""
        self.key = key
        self.retry_after = max(0.0, retry_after)
        if message is None:
            message = (
                f"Circuit breaker {key!r} is open after repeated failures; "
                f"the next probe call is allowed in {self.retry_after:.1f}s"
            )
        super().__init__(message)


class ProtocolError(KeiSDKError):
    """No enabled protocol can carry the operation, or a protocol-level exchange failed.

    Attributes:
        operation_id: the operation concerned, if any.
    """

    operation_id: str | None

    def __init__(self, message: str, *, operation_id: str | None = None) -> None:
        """Describe the protocol problem."""
        self.operation_id = operation_id
        super().__init__(message)
