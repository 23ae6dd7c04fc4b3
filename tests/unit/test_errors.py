from __future__ import annotations

import pickle

import attrs
import pytest

from kei_agent import errors
from kei_agent.errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CircuitBreakerOpenError,
    ConfigurationError,
    ConflictError,
    FieldProblem,
    InternalServerError,
    KeiSDKError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    ResponseValidationError,
    SecurityError,
    UnprocessableEntityError,
    ValidationError,
    redact_url,
    status_error,
)

CANARY = "canary-91b2-secret"
URL = "https://kei.example.com/api/v1/rpc/plan"


@pytest.mark.parametrize(
    ("cls", "parent"),
    [
        (APIError, KeiSDKError),
        (APIStatusError, APIError),
        (BadRequestError, APIStatusError),
        (AuthenticationError, APIStatusError),
        (PermissionDeniedError, APIStatusError),
        (NotFoundError, APIStatusError),
        (ConflictError, APIStatusError),
        (UnprocessableEntityError, APIStatusError),
        (RateLimitError, APIStatusError),
        (InternalServerError, APIStatusError),
        (APIConnectionError, APIError),
        (APITimeoutError, APIConnectionError),
        (ResponseValidationError, APIError),
        (ValidationError, KeiSDKError),
        (SecurityError, KeiSDKError),
        (ConfigurationError, KeiSDKError),
        (CircuitBreakerOpenError, KeiSDKError),
        (ProtocolError, KeiSDKError),
        (KeiSDKError, Exception),
    ],
)
def test_hierarchy(cls, parent):
    assert issubclass(cls, parent)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (504, InternalServerError),
        (520, InternalServerError),
        (599, InternalServerError),
        (405, APIStatusError),
        (418, APIStatusError),
        (499, APIStatusError),
        (302, APIStatusError),
    ],
)
def test_status_error_picks_the_class(status, cls):
    error = status_error(status, method="get", url=URL)
    assert type(error) is cls
    assert error.status_code == status
    assert error.method == "GET"


def test_message_is_a_readable_one_liner():
    error = status_error(
        404,
        method="POST",
        url=URL,
        request_id="req-1",
        correlation_id="corr-1",
        problem={"title": "Not Found", "status": 404, "detail": "No agent with id x"},
        body=b'{"detail": "No agent with id x"}',
    )
    assert str(error) == (
        "POST /api/v1/rpc/plan failed with 404 Not Found: No agent with id x (request_id=req-1, correlation_id=corr-1)"
    )
    assert error.problem == {"title": "Not Found", "status": 404, "detail": "No agent with id x"}
    assert error.body == b'{"detail": "No agent with id x"}'
    assert error.path == "/api/v1/rpc/plan"


@pytest.mark.parametrize(
    ("problem", "expected_tail"),
    [
        (None, "failed with 409 Conflict"),
        ({"title": "Conflict", "status": 409}, "failed with 409 Conflict"),
        ({"title": "Agent exists", "status": 409}, "failed with 409 Conflict: Agent exists"),
        ({"title": "Agent exists", "status": 409, "detail": "my-agent"}, "failed with 409 Conflict: my-agent"),
        ({"status": 409, "detail": "line one\n\n  line two"}, "failed with 409 Conflict: line one line two"),
    ],
)
def test_detail_comes_from_the_problem_document(problem, expected_tail):
    error = status_error(409, method="PUT", url=URL, problem=problem)
    assert str(error) == f"PUT /api/v1/rpc/plan {expected_tail}"


def test_long_details_are_truncated():
    error = status_error(400, method="POST", url=URL, problem={"status": 400, "detail": "x" * 5000})
    assert len(str(error)) < 600
    assert str(error).endswith("…")


def test_non_standard_status_has_no_phrase():
    error = status_error(520, method="GET", url=URL)
    assert str(error) == "GET /api/v1/rpc/plan failed with 520"


def test_ids_and_retry_after_fall_back_to_the_problem_document():
    problem = {
        "status": 429,
        "title": "Too Many Requests",
        "request_id": "r9",
        "correlation_id": "c9",
        "retry_after": 7,
    }
    error = status_error(429, method="POST", url=URL, problem=problem)
    assert isinstance(error, RateLimitError)
    assert (error.request_id, error.correlation_id, error.retry_after) == ("r9", "c9", 7.0)
    assert "retry_after=7s" in str(error)


def test_explicit_ids_win_over_the_problem_document():
    problem = {"status": 503, "request_id": "r-problem", "correlation_id": "c-problem", "retry_after": 7}
    error = status_error(
        503, method="GET", url=URL, problem=problem, request_id="r-header", correlation_id="c-header", retry_after=1.5
    )
    assert (error.request_id, error.correlation_id, error.retry_after) == ("r-header", "c-header", 1.5)


@pytest.mark.parametrize("bad", [-1, "7", True, None])
def test_invalid_problem_retry_after_is_ignored(bad):
    error = status_error(429, method="GET", url=URL, problem={"status": 429, "retry_after": bad})
    assert error.retry_after is None


def test_authentication_error_carries_the_oauth_error():
    from_kwarg = status_error(401, method="POST", url=URL, oauth_error="invalid_token")
    from_problem = status_error(401, method="POST", url=URL, problem={"status": 401, "error": "invalid_client"})
    assert isinstance(from_kwarg, AuthenticationError)
    assert isinstance(from_problem, AuthenticationError)
    assert from_kwarg.oauth_error == "invalid_token"
    assert from_problem.oauth_error == "invalid_client"
    assert "oauth_error=invalid_token" in str(from_kwarg)
    assert status_error(401, method="GET", url=URL).oauth_error is None  # type: ignore[attr-defined]


def test_permission_denied_names_the_scope():
    error = status_error(403, method="POST", url=URL, problem={"status": 403, "required_scope": "kei:plan"})
    assert isinstance(error, PermissionDeniedError)
    assert error.required_scope == "kei:plan"
    assert "required_scope=kei:plan" in str(error)
    client_side = PermissionDeniedError("token lacks scope kei:act", method="POST", url=URL, required_scope="kei:act")
    assert client_side.status_code == 403
    assert client_side.required_scope == "kei:act"
    assert "token lacks scope kei:act" in str(client_side)


def test_unprocessable_entity_lists_the_errors():
    problem = {
        "title": "Validation failed",
        "status": 422,
        "errors": [
            {"path": "$.objective", "message": "must not be empty"},
            {"path": "$.context", "message": "must be an object"},
            "not a dict",
        ],
    }
    error = status_error(422, method="POST", url=URL, problem=problem)
    assert isinstance(error, UnprocessableEntityError)
    assert error.errors == [
        {"path": "$.objective", "message": "must not be empty"},
        {"path": "$.context", "message": "must be an object"},
    ]
    assert "Validation failed [$.objective: must not be empty; $.context: must be an object]" in str(error)


def test_unprocessable_entity_summarises_many_errors():
    problem = {"status": 422, "errors": [{"path": f"$.f{i}", "message": "bad"} for i in range(10)]}
    error = status_error(422, method="POST", url=URL, problem=problem)
    assert len(error.errors) == 10  # type: ignore[attr-defined]
    assert "and 7 more" in str(error)
    assert "$.f5" not in str(error)


def test_fixed_status_classes_default_their_status():
    assert NotFoundError(method="GET", url=URL).status_code == 404
    assert InternalServerError(method="GET", url=URL).status_code == 500
    with pytest.raises(TypeError, match="status_code"):
        APIStatusError(method="GET", url=URL)


@pytest.mark.parametrize(
    "url",
    [
        f"https://user:{CANARY}@kei.example.com/api/v1/rpc/plan?token={CANARY}#frag",
        f"https://kei.example.com:8443/api/v1/rpc/plan?api_key={CANARY}",
        f"/api/v1/rpc/plan?access_token={CANARY}",
    ],
)
def test_urls_lose_credentials_and_query_strings(url):
    for error in (
        status_error(500, method="GET", url=url),
        APIConnectionError(method="GET", url=url),
        ResponseValidationError("bad", method="GET", url=url, status_code=200),
    ):
        assert CANARY not in str(error)
        assert CANARY not in error.url
        assert error.path == "/api/v1/rpc/plan"
        assert "GET /api/v1/rpc/plan " in str(error)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://u:p@h.example:8443/a/b?q=1#f", "https://h.example:8443/a/b"),
        ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("/relative/path?x=1", "/relative/path"),
        ("https://h.example", "https://h.example"),
        ("https://h.example:notaport/x", "<invalid url>"),
    ],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (APIConnectionError(method="get", url=URL), "GET /api/v1/rpc/plan failed: connection error"),
        (APITimeoutError(method="POST", url=URL), "POST /api/v1/rpc/plan failed: request timed out"),
        (
            APIConnectionError("connection refused", method="POST", url=URL, correlation_id="c1"),
            "POST /api/v1/rpc/plan failed: connection refused (correlation_id=c1)",
        ),
        (APIError(method="DELETE", url=URL), "DELETE /api/v1/rpc/plan failed: request failed"),
    ],
)
def test_connection_error_messages(error, expected):
    assert str(error) == expected


def test_response_validation_error_keeps_the_body_out_of_the_message():
    body = b'{"plan_id": ' + CANARY.encode()
    error = ResponseValidationError(
        "body is not valid JSON", method="POST", url=URL, status_code=200, body=body, correlation_id="c1"
    )
    assert error.body == body
    assert error.reason == "body is not valid JSON"
    assert error.status_code == 200
    assert CANARY not in str(error)
    assert str(error) == (
        f"POST /api/v1/rpc/plan returned an invalid response (status 200, {len(body)} bytes): "
        "body is not valid JSON (correlation_id=c1)"
    )


def test_field_problem_is_frozen_and_renders_path_message_hint():
    problem = FieldProblem("retry.max_attempts", "must be at least 1, got 0", "use 3")
    assert str(problem) == "retry.max_attempts: must be at least 1, got 0 (fix: use 3)"
    assert str(FieldProblem("$.objective", "must not be empty")) == "$.objective: must not be empty"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        problem.path = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("cls", "title"), [(ValidationError, "Invalid request"), (ConfigurationError, "Invalid configuration")]
)
def test_problem_lists_name_every_problem(cls, title):
    problems = [
        FieldProblem("$.objective", "must not be empty"),
        FieldProblem("$.context", "must be an object", "pass a dict"),
    ]
    error = cls(problems)
    assert error.problems == problems
    assert str(error) == (
        f"{title} (2 problems):\n"
        "  - $.objective: must not be empty\n"
        "  - $.context: must be an object (fix: pass a dict)"
    )


def test_circuit_breaker_open_error_says_when():
    error = CircuitBreakerOpenError("https://kei.example.com|rpc", 12.34)
    assert error.key == "https://kei.example.com|rpc"
    assert error.retry_after == 12.34
    assert "in 12.3s" in str(error)
    assert CircuitBreakerOpenError("k", -3).retry_after == 0.0


def test_protocol_error_names_the_operation():
    error = ProtocolError("no protocol", operation_id="plan_task")
    assert error.operation_id == "plan_task"
    assert str(error) == "no protocol"


@pytest.mark.parametrize(
    "error",
    [
        status_error(422, method="POST", url=URL, problem={"status": 422, "errors": [{"path": "$.a", "message": "m"}]}),
        status_error(401, method="POST", url=URL, oauth_error="invalid_client", request_id="r"),
        APITimeoutError(method="GET", url=URL, correlation_id="c"),
        ResponseValidationError("bad", method="GET", url=URL, status_code=520, body=b"x"),
        ConfigurationError([FieldProblem("a", "b")]),
        CircuitBreakerOpenError("k", 3.0),
        ProtocolError("p", operation_id="op"),
    ],
)
def test_errors_survive_pickling(error):
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is type(error)
    assert str(clone) == str(error)
    assert clone.__dict__ == error.__dict__


def test_every_public_name_is_exported():
    assert set(errors.__all__) <= set(dir(errors))


def test_a_message_that_names_the_request_is_used_whole_and_the_raw_url_is_redacted():
    url = f"https://kei.example.com/api/v1/rpc/plan?token={CANARY}"
    error = APIConnectionError(
        f"post {url} failed after 3 attempt(s): ConnectError: refused", method="POST", url=url, correlation_id="c1"
    )
    assert str(error) == "post /api/v1/rpc/plan failed after 3 attempt(s): ConnectError: refused (correlation_id=c1)"
    assert CANARY not in str(error)


def test_status_error_with_a_complete_message():
    error = status_error(503, method="GET", url=URL, message="GET /api/v1/rpc/plan: upstream down", request_id="r")
    assert str(error) == "GET /api/v1/rpc/plan: upstream down (request_id=r)"


def test_response_validation_error_with_message_and_reason():
    url = f"{URL}?api_key={CANARY}"
    error = ResponseValidationError(
        f"POST {url}: the 200 response does not match the spec (missing plan_id)",
        method="POST",
        url=url,
        status_code=200,
        body=b"{}",
        reason="KeyError('plan_id')",
    )
    assert error.reason == "KeyError('plan_id')"
    assert str(error) == "POST /api/v1/rpc/plan: the 200 response does not match the spec (missing plan_id)"
    by_reason = ResponseValidationError(method="GET", url=URL, status_code=520, reason="unexpected status 520")
    assert by_reason.reason == "unexpected status 520"
    assert str(by_reason).endswith("(status 520, 0 bytes): unexpected status 520")
    with pytest.raises(TypeError, match="message or a reason"):
        ResponseValidationError(method="GET", url=URL, status_code=200)
