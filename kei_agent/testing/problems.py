"""RFC 9457 problem documents: the :class:`ProblemError` handlers raise and the response it becomes."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from ._util import dumps

if TYPE_CHECKING:
    from .faults import FaultDecision

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://kei.dev/problems/"
MAX_ECHO = 1024

#: status → (type slug, title)
_KINDS: dict[int, tuple[str, str]] = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    408: ("timeout", "Request timeout"),
    409: ("conflict", "Conflict"),
    413: ("too-large", "Payload too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation", "Validation failed"),
    429: ("rate-limited", "Too many requests"),
    500: ("internal", "Internal server error"),
    502: ("bad-gateway", "Bad gateway"),
    503: ("unavailable", "Service unavailable"),
    504: ("gateway-timeout", "Gateway timeout"),
}


def problem_kind(status: int) -> tuple[str, str]:
    """(type URI, title) for a status; unknown statuses get a generic ``http-<status>`` type."""
    slug, title = _KINDS.get(status, (f"http-{status}", "Server error" if status >= 500 else "Client error"))
    return PROBLEM_BASE + slug, title


class ProblemError(Exception):
    """Raised anywhere in a request: becomes an ``application/problem+json`` response.

    ``extra`` holds extension members (``errors``, ``required_scope``, ``retry_after``);
    ``headers`` extra response headers (``Retry-After``, ``WWW-Authenticate``).
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        type_: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        kind_type, kind_title = problem_kind(status)
        self.type = type_ or kind_type
        self.title = title or kind_title
        self.headers = dict(headers or {})
        self.extra = extra

    def document(self, request_id: str | None = None, correlation_id: str | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status, "detail": self.detail}
        doc.update(self.extra)
        if request_id is not None:
            doc["request_id"] = request_id
        if correlation_id is not None:
            doc["correlation_id"] = correlation_id
        return doc


def retry_after_problem(status: int, detail: str, retry_after: int | float | str) -> ProblemError:
    """A 429/503-style problem with ``Retry-After`` (header and member)."""
    value = str(retry_after)
    extra: dict[str, Any] = {}
    if isinstance(retry_after, int) and not isinstance(retry_after, bool):
        extra["retry_after"] = retry_after
    elif isinstance(retry_after, float) and retry_after.is_integer():
        extra["retry_after"] = int(retry_after)
        value = str(int(retry_after))
    return ProblemError(status, detail, headers={"Retry-After": value}, **extra)


def problem_response(
    error: ProblemError,
    *,
    request_id: str,
    correlation_id: str | None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The HTTP response for ``error`` with ``X-Request-ID`` / ``X-Correlation-ID``."""
    all_headers = {"X-Request-ID": request_id}
    if correlation_id is not None:
        all_headers["X-Correlation-ID"] = correlation_id
    all_headers.update(error.headers)
    if headers:
        all_headers.update(headers)
    body = dumps(error.document(request_id, correlation_id))
    return Response(body, status_code=error.status, headers=all_headers, media_type=PROBLEM_MEDIA_TYPE)


def new_request_id() -> str:
    return f"req-{uuid.uuid4().hex}"


def echo_correlation(value: str | None) -> str | None:
    """The ``X-Correlation-ID`` to echo (a bounded, printable value; else none)."""
    if value is None or len(value) > MAX_ECHO or not value.isprintable():
        return None
    return value


def fault_problem(decision: FaultDecision) -> ProblemError:
    status = decision.status_code
    detail = decision.detail or f"Injected fault: {status}."
    if decision.retry_after is not None:
        return retry_after_problem(status, detail, decision.retry_after)
    return ProblemError(status, detail)
