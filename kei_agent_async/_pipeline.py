"""The engine: one linear request loop that every operation goes through.

``call(operation, arguments)`` → prepare (body mapping → model, spec-derived validation, path
parameters and header values checked locally) → choose the protocols (routing policy, the
route's carriers from the spec) → one loop over protocols and attempts: [breaker admits? →
precomputed headers + per-call ones → send on the one pooled client (auth flow only where a
token can change) → read the body within the deadline and the size limit → classify (success /
transient / fatal / local) → back off (Retry-After, deadline)] → parse → typed result.

Call semantics, on every path including fallback: one deadline bounds the whole call; one
``Idempotency-Key`` per call, sent on every attempt and every protocol (a request that may have
executed is only ever re-sent under it); local failures (bad header value, bad input) and TLS
verification failures fail at once without retry, fallback or breaker cost; bodies are bounded;
errors name the operation, the origin tried and each protocol tried with why it stopped. One
:class:`CallOutcome` per call feeds the raw response, telemetry and the performance record.

Written once for both flavours: the blocking twin of this module is generated from it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import attrs
import httpx

from kei_agent._context import get_correlation_id, new_correlation_id, reset_correlation_id, set_correlation_id
from kei_agent._contract.operations import OPERATIONS, OperationSpec
from kei_agent._silence import loguru_loaded
from kei_agent.config import AgentClientConfig, ProtocolConfig, RetryConfig
from kei_agent.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    CircuitBreakerOpenError,
    FieldProblem,
    KeiSDKError,
    ProtocolError,
    ResponseValidationError,
    ValidationError,
    status_error,
)
from kei_agent.logging import get_logger
from kei_agent.logging._logger import base_logger
from kei_agent.observability import OperationScope, get_instrumentation
from kei_agent.policies.breaker import CircuitBreaker, CircuitState
from kei_agent.policies.failures import (
    as_protocol,
    check_headers,
    not_json,
    problem_document,
    tls_failure,
    transport_outcome,
)
from kei_agent.policies.retry import (
    Fail,
    OperationPolicy,
    Outcome,
    Retry,
    RetryPolicy,
    StatusFailure,
    Success,
    TransportFailure,
)
from kei_agent.policies.retry_after import parse_retry_after
from kei_agent.policies.routing import Protocol, ProtocolRouter
from kei_agent.responses import CallOutcome

from ._audit import AuditTrail
from ._backend import InFlight, PolicyLock, deadline_scope
from ._retrying import Retrying

_log = base_logger.bind(component="kei_agent.pipeline")
#: httpx's own logger: while it logs requests, the engine sends through ``httpx`` (not the transport).
_HTTPX_LOG = logging.getLogger("httpx")
_perf = get_logger("kei_agent.performance")

#: How long past the deadline the safety net waits for an inner bound (timeout, token fetch) to fire.
_DEADLINE_GRACE = 0.25
#: Error bodies kept in an exception are cut to this many bytes.
MAX_ERROR_BODY = 64 * 1024
_BUS = OPERATIONS["busRequest"]


@attrs.frozen
class CallOptions:
    """Per-client call settings; ``with_options`` derives new ones."""

    timeout: httpx.Timeout
    retry: RetryConfig
    headers: Mapping[str, str] = attrs.field(factory=dict)


class SharedState:
    """What clients derived with ``with_options`` share: pool, breakers, router, in-flight calls."""

    def __init__(
        self,
        *,
        config: AgentClientConfig,
        protocol_config: ProtocolConfig,
        http: httpx.AsyncClient,
        direct: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.protocol_config = protocol_config
        self.http = http
        # The transport of every request to the base URL, when nothing may come between (open_pool).
        self.direct = direct
        self.clock = clock
        self.lock = PolicyLock()
        self.inflight = InFlight()
        self.closed = False
        self.breakers: dict[str, CircuitBreaker] = {}
        self.router = ProtocolRouter(
            protocol_config,
            {op_id: spec.protocols for op_id, spec in OPERATIONS.items()},
            clock=clock,
            on_downgrade=self._log_downgrade,
        )
        self.modules: dict[str, ModuleType] = {}
        self.telemetry = get_instrumentation()
        self.audit: AuditTrail | None = None  # the client's audit trail, with SecurityConfig.audit_enabled
        url = httpx.URL(config.base_url)
        self.origin = f"{url.scheme}://{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
        self.base_url = config.base_url.rstrip("/")

    def module(self, spec: OperationSpec) -> ModuleType:
        """The generated endpoint module of an operation (imported once)."""
        module = self.modules.get(spec.operation_id)
        if module is None:
            module = importlib.import_module(spec.module)
            self.modules[spec.operation_id] = module
        return module

    def breaker(self, protocol: Protocol) -> CircuitBreaker:
        """The circuit breaker of (base URL, protocol), created on first use."""
        key = f"{self.config.base_url}|{protocol.value}"
        breaker = self.breakers.get(key)
        if breaker is None:
            breaker = CircuitBreaker(
                self.config.retry,
                clock=self.clock,
                key=key,
                on_transition=lambda old, new: self._log_transition(key, old, new),
            )
            self.breakers[key] = breaker
        return breaker

    def circuit_state(self, protocol: Protocol) -> CircuitState:
        """Current state of the breaker for ``protocol`` (CLOSED if never used)."""
        with self.lock.held():
            return self.breaker(protocol).state

    def _log_transition(self, key: str, old: CircuitState, new: CircuitState) -> None:
        _log.warning("circuit {key} {old} -> {new}", key=key, old=old.value, new=new.value)
        self.telemetry.breaker_transition(key, old.value, new.value)

    @staticmethod
    def _log_downgrade(operation_id: str, old: Protocol, new: Protocol) -> None:
        _log.warning(
            "{operation}: protocol {old} unavailable, falling back to {new}",
            operation=operation_id,
            old=old.value,
            new=new.value,
        )


class _Route:
    """Per (pipeline, operation, protocol) constants, computed on first use."""

    __slots__ = (
        "auth",
        "base_headers",
        "breaker",
        "carried",
        "direct",
        "extensions",
        "headers",
        "method",
        "module",
        "op_policy",
        "response_model",
        "spec",
        "url",
        "wire",
    )

    def __init__(self, pipeline: Pipeline, spec: OperationSpec, protocol: Protocol) -> None:
        shared = pipeline._shared
        self.spec = spec
        # The operation sent on the wire: itself, or busRequest carrying it.
        self.carried = protocol.value != spec.protocols[0]
        self.wire = _BUS if self.carried else spec
        self.module = shared.module(self.wire)
        self.method = self.wire.method
        self.op_policy = OperationPolicy(idempotent=spec.idempotent, retry_statuses=spec.retry_statuses)
        self.breaker = shared.breaker(protocol)
        self.headers = dict(pipeline._fixed_headers)
        self.auth: Any = httpx.USE_CLIENT_DEFAULT
        auth = pipeline._auth
        if self.wire.auth_required and auth is not None:
            static = auth.static_header()
            if static is not None and not auth.rbac_enabled:
                self.headers["Authorization"] = static  # a token that never changes: no auth flow per call
            else:
                self.auth = auth
        # Every request of the route starts from these: httpx's client defaults and the fixed
        # headers above, normalised once; a call adds its few (Content-Type, ids, retry count).
        self.base_headers = httpx.Headers(shared.http.headers)
        self.base_headers.update(self.headers)
        self.url: tuple[str, httpx.URL] | None = None  # the last URL sent, parsed (static paths: always)
        # Without an auth flow the request goes straight to the pool's transport (see open_pool).
        self.direct = shared.direct if self.auth is httpx.USE_CLIENT_DEFAULT else None
        self.extensions = {
            "kei_operation": spec.operation_id,
            "kei_scopes": spec.scopes,
            "kei_protocol": protocol.value,
        }
        schema = self.wire.response_schema
        self.response_model = getattr(_models(), schema) if schema else None


class _Stop(Exception):
    """The attempt loop of one protocol ended without a response to return.

    ``summary`` says in a few words why (for the message of a call that tried several protocols).
    """

    def __init__(self, error: KeiSDKError, *, fall_back: bool, summary: str | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.fall_back = fall_back
        self.summary = summary or type(error).__name__


def _validate(spec: OperationSpec, body: Mapping[str, Any] | None, arguments: Mapping[str, Any]) -> None:
    """Check the call's body and path/query parameters against the spec and the hardening limits."""
    from kei_agent.validation import validate_request  # loaded with the first call, not at import

    validate_request(
        spec.operation_id, body, parameters={key: value for key, value in arguments.items() if key != "body"}
    )


class Pipeline:
    """Runs one operation call through routing, attempts and parsing."""

    def __init__(self, shared: SharedState, options: CallOptions, auth: Any) -> None:
        self._shared = shared
        self._options = options
        self._auth = auth
        self._retry = RetryPolicy(options.retry)
        config = shared.config
        check_headers({**config.headers, **options.headers}, "headers")
        # The headers that are the same on every request of this pipeline, merged once.
        self._fixed_headers: dict[str, str] = {
            **config.headers,
            **options.headers,
            "User-Agent": config.effective_user_agent,
            "X-Agent-ID": config.agent_id,
        }
        if config.tenant_id:
            self._fixed_headers["X-Tenant-ID"] = config.tenant_id
        self._routes: dict[tuple[str, Protocol], _Route] = {}
        self._max_body = config.connection.max_response_bytes

    @property
    def options(self) -> CallOptions:
        """The call settings of this pipeline."""
        return self._options

    def _headers(self, spec: OperationSpec, correlation_id: str, idempotency_key: str | None) -> dict[str, str]:
        """The headers of a request of ``spec`` sent outside the engine (event-stream connections)."""
        headers = dict(self._fixed_headers)
        headers["X-Correlation-ID"] = correlation_id
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def _route(self, spec: OperationSpec, protocol: Protocol) -> _Route:
        route = self._routes.get((spec.operation_id, protocol))
        if route is None:
            route = self._routes[(spec.operation_id, protocol)] = _Route(self, spec, protocol)
        return route

    # ------------------------------------------------------------------ the call

    async def call(
        self,
        operation_id: str,
        arguments: Mapping[str, Any],
        *,
        protocol: str | Protocol | None = None,
        idempotency_key: str | None = None,
        timeout: float | httpx.Timeout | None = None,
        extra_headers: Mapping[str, str] | None = None,
        raw: bool = False,
    ) -> Any:
        """Run ``operation_id`` with the operation's arguments; returns the parsed model.

        With ``raw``, a :class:`RawResponse` (model, status, headers, request id, retries).
        """
        shared = self._shared
        if shared.closed:
            raise KeiSDKError("the client is closed: create a new KeiAgentClient")
        spec = OPERATIONS.get(operation_id)
        if spec is None:
            raise ProtocolError(f"unknown operation {operation_id!r}", operation_id=operation_id)
        requested = as_protocol(protocol)
        # One correlation id for the whole call (all attempts, fallbacks and log records).
        correlation_id = get_correlation_id() or new_correlation_id()
        if not (correlation_id.isascii() and correlation_id.isprintable()):
            check_headers({"X-Correlation-ID": correlation_id}, "correlation_id")
        token = set_correlation_id(correlation_id)
        outcome = CallOutcome(correlation_id)
        started = time.perf_counter()
        try:
            audit = shared.audit.call(operation_id, arguments, requested) if shared.audit else contextlib.nullcontext()
            with shared.telemetry.operation(operation_id) as scope, audit:
                try:
                    arguments = self._prepare(spec, arguments, extra_headers, idempotency_key)
                    result = await self._run(
                        spec, arguments, requested, idempotency_key, timeout, extra_headers, outcome, scope
                    )
                finally:
                    outcome.elapsed = scope.duration = time.perf_counter() - started
                    if loguru_loaded():  # otherwise nothing could take the record: not built at all
                        _perf._performance(
                            "DEBUG",
                            operation_id,
                            outcome.elapsed * 1000.0,
                            {
                                "protocol": outcome.protocol,
                                "outcome": "success" if outcome.status_code and outcome.status_code < 300 else "error",
                                "attempts": outcome.attempts,
                            },
                        )
        finally:
            reset_correlation_id(token)
        return outcome.raw(result) if raw else result

    def _prepare(
        self,
        spec: OperationSpec,
        arguments: Mapping[str, Any],
        extra_headers: Mapping[str, str] | None,
        idempotency_key: str | None,
    ) -> Mapping[str, Any]:
        """Local checks before anything is sent: body as a model, validation, path parameters, headers."""
        body = arguments.get("body")
        body_dict: Mapping[str, Any] | None = None
        try:
            if body is not None:
                body_dict = body if isinstance(body, Mapping) else body.to_dict()
            if self._shared.config.validate_requests:
                _validate(spec, body_dict, arguments)
        except RecursionError:
            raise not_json(spec.operation_id, "it nests too deeply or contains itself") from None
        for name in spec.path_params:
            value = arguments.get(name.replace("-", "_"))
            if value is None or str(value).strip(".") == "" or str(value) != str(value).strip():
                raise ValidationError(
                    [
                        FieldProblem(
                            f"path.{name}",
                            f"must be a non-empty identifier, got {value!r}",
                            f"pass the {name} of an existing resource (not empty, '.' or '..')",
                        )
                    ]
                )
        if extra_headers:
            check_headers(extra_headers, "extra_headers")
        if idempotency_key is not None:
            check_headers({"Idempotency-Key": idempotency_key}, "idempotency_key")
        if isinstance(body, Mapping):
            model_name = spec.request_schema
            from kei_agent._generated import models

            try:
                model = getattr(models, model_name or "")
                arguments = {**arguments, "body": model.from_dict(dict(body))}
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                raise ValidationError(
                    [FieldProblem("body", f"is not a valid {model_name}: {exc!r}", f"see the {model_name} schema")]
                ) from None
        return arguments

    def _carriers(self, spec: OperationSpec, requested: Protocol | None) -> list[Protocol]:
        shared = self._shared
        carried = [Protocol(spec.protocols[0])]
        if spec.bus_operation is not None:
            carried.append(Protocol.BUS)
        with shared.lock.held():
            candidates = shared.router.candidates(spec.operation_id, requested)
        usable = [p for p in candidates if p in carried]
        if not usable:
            can = ", ".join(p.value for p in carried)
            asked = requested.value if requested is not None else "/".join(p.value for p in candidates)
            raise ProtocolError(
                f"{spec.operation_id} cannot be carried by {asked}: the protocols that carry it are {can}; "
                f"pass protocol= one of them (or leave protocol unset to let the client choose)",
                operation_id=spec.operation_id,
            )
        return usable

    async def _run(
        self,
        spec: OperationSpec,
        arguments: Mapping[str, Any],
        requested: Protocol | None,
        idempotency_key: str | None,
        timeout: float | httpx.Timeout | None,
        extra_headers: Mapping[str, str] | None,
        outcome: CallOutcome,
        scope: OperationScope,
    ) -> Any:
        shared = self._shared
        candidates = self._carriers(spec, requested)
        # One key for the whole call: every attempt and every protocol repeats the same request.
        if idempotency_key is None and not spec.idempotent:
            idempotency_key = new_correlation_id()
        deadline = shared.clock() + self._options.retry.deadline
        base_timeout = self._options.timeout
        if timeout is not None:
            base_timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(float(timeout))
        failures: list[str] = []
        shared.inflight.enter()
        try:
            for index, protocol in enumerate(candidates):
                route = self._route(spec, protocol)
                outcome.protocol = scope.protocol = protocol.value
                outcome.protocols_tried.append(protocol.value)
                try:
                    return await self._attempts(
                        route, protocol, arguments, idempotency_key, base_timeout, extra_headers, deadline, outcome
                    )
                except _Stop as stop:
                    failures.append(f"{protocol.value}: {stop.summary}")
                    has_next = index + 1 < len(candidates) and shared.clock() < deadline
                    with shared.lock.held():
                        fall_back = has_next and stop.fall_back and shared.router.should_fall_back(stop.error)
                        if fall_back:
                            shared.router.record_downgrade(spec.operation_id, protocol, candidates[index + 1])
                    if not fall_back:
                        if len(failures) > 1:
                            raise self._every_protocol_failed(spec, stop.error, failures) from stop.error
                        raise stop.error from stop.error.__cause__
            raise AssertionError("unreachable: the last protocol raises")  # pragma: no cover
        finally:
            shared.inflight.exit()

    def _every_protocol_failed(self, spec: OperationSpec, last: KeiSDKError, failures: list[str]) -> KeiSDKError:
        """The error of a call whose every protocol failed: it names what was called, where, and
        each protocol with why it stopped (a status error of the last protocol stays as it is)."""
        if isinstance(last, APIStatusError):
            return last
        cls = APITimeoutError if isinstance(last, APITimeoutError) else APIConnectionError
        return cls(
            f"{spec.method} {spec.path} failed ({spec.operation_id} at {self._shared.origin}; "
            f"protocols tried: {'; '.join(failures)})",
            method=spec.method,
            url=spec.path,
            correlation_id=getattr(last, "correlation_id", None),
        )

    async def _attempts(
        self,
        route: _Route,
        protocol: Protocol,
        arguments: Mapping[str, Any],
        idempotency_key: str | None,
        base_timeout: httpx.Timeout,
        extra_headers: Mapping[str, str] | None,
        deadline: float,
        outcome: CallOutcome,
    ) -> Any:
        shared = self._shared
        spec = route.spec
        if route.carried:
            arguments = {"body": self._bus_body(spec, arguments)}
        kwargs = route.module._get_kwargs(**arguments)
        url: str = kwargs.pop("url")
        kwargs.pop("method")
        if "json" in kwargs:
            kwargs["content"] = _json_body(spec.operation_id, kwargs.pop("json"))
        fixed = route.headers
        headers = {key: value for key, value in kwargs.pop("headers", {}).items() if key not in fixed}
        if extra_headers:
            headers.update(extra_headers)
        headers["X-Correlation-ID"] = outcome.correlation_id
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        full_url = f"{shared.base_url}{url}"
        breaker = route.breaker
        with shared.lock.held():
            try:
                breaker.before_call()
            except CircuitBreakerOpenError as exc:
                raise _Stop(exc, fall_back=True) from None
        retrying = Retrying(
            self._retry,
            route.op_policy,
            deadline=deadline,
            clock=shared.clock,
            idempotency_key_sent=idempotency_key is not None,
        )
        attempt = 0
        decision: Any = None
        body = b""
        try:
            while True:
                attempt = retrying.next_attempt()
                outcome.attempts += 1
                headers["X-Kei-Retry-Count"] = str(attempt - 1)
                remaining = deadline - shared.clock()
                error: BaseException | None = None
                response: httpx.Response | None = None
                result: Outcome
                if remaining <= 0:
                    error = httpx.ReadTimeout(f"the call's deadline ({self._options.retry.deadline:g} s) passed")
                    result = TransportFailure("timeout", sent=attempt > 1)
                else:
                    with shared.telemetry.attempt(
                        operation_id=spec.operation_id,
                        method=route.method,
                        url_template=route.wire.path,
                        url=full_url,
                        protocol=protocol.value,
                        retry_count=attempt - 1,
                        headers=headers,
                    ) as span:
                        try:
                            response, body = await self._exchange(
                                route, full_url, headers, kwargs, base_timeout, remaining, deadline
                            )
                        except httpx.TransportError as exc:
                            error = exc
                            result = transport_outcome(exc)
                            span.transport_error(exc)
                        except TimeoutError as exc:
                            error = httpx.ReadTimeout(
                                f"the call's deadline ({self._options.retry.deadline:g} s) passed before a complete "
                                f"answer arrived{f' ({exc})' if str(exc) else ''}"
                            )
                            result = TransportFailure("timeout", sent=True)
                            span.transport_error(error)
                        except RuntimeError as exc:
                            if not shared.closed:
                                raise
                            error = httpx.CloseError(f"the client was closed while the call was in progress ({exc})")
                            result = TransportFailure("closed", sent=True)
                        else:
                            span.response(response.status_code)
                            status = response.status_code
                            if 200 <= status < 300:
                                result = Success(status)
                            else:
                                result = StatusFailure(status, parse_retry_after(response.headers))
                if error is not None and shared.closed:
                    with shared.lock.held():
                        breaker.record_ignored()
                    closed = APIConnectionError(
                        f"{spec.method} {spec.path} ({spec.operation_id}) failed: the client was closed while the "
                        f"call was in progress ({type(error).__name__})",
                        method=spec.method,
                        url=spec.path,
                        correlation_id=outcome.correlation_id,
                    )
                    closed.__cause__ = error
                    raise _Stop(closed, fall_back=False)
                if error is not None:
                    local = self._local_failure(error, route)
                    if local is not None:
                        with shared.lock.held():
                            breaker.record_ignored()
                        raise _Stop(local, fall_back=False)
                decision = retrying.decide(result)
                if isinstance(decision, Retry) and not shared.closed:
                    await retrying.wait(
                        decision,
                        spec.operation_id,
                        operation=spec.operation_id,
                        protocol=protocol.value,
                        correlation_id=outcome.correlation_id,
                    )
                    continue
                break
        except _Stop:
            raise
        except BaseException:
            # Failed before an outcome (auth flow refused, cancelled, ...): free a half-open probe slot.
            with shared.lock.held():
                breaker.record_ignored()
            raise
        with shared.lock.held():
            if isinstance(result, Success) or (isinstance(result, StatusFailure) and result.status < 500):
                breaker.record_success()
            else:
                breaker.record_failure()
        if error is not None:
            cls = APITimeoutError if isinstance(error, httpx.TimeoutException) else APIConnectionError
            detail = f"{type(error).__name__}: {error}".strip()
            via = "" if not route.carried else f" over the bus ({route.method} {url})"
            message = (
                f"{spec.method} {spec.path} ({spec.operation_id}) failed after {attempt} attempt(s){via} "
                f"at {shared.origin}: {detail}"
            )
            failure = cls(message, method=spec.method, url=spec.path, correlation_id=outcome.correlation_id)
            failure.__cause__ = error
            summary = f"{type(error).__name__} after {attempt} attempt(s)"
            raise _Stop(failure, fall_back=True, summary=summary)
        assert response is not None
        outcome.status_code = response.status_code
        outcome.headers = response.headers
        outcome.request_id = response.headers.get("X-Request-ID")
        if isinstance(result, StatusFailure):
            retry_after = result.retry_after
            if isinstance(decision, Fail) and decision.retry_after is not None:
                retry_after = decision.retry_after
            raise _Stop(
                status_error(
                    response.status_code,
                    method=route.method,
                    url=url,
                    request_id=outcome.request_id,
                    correlation_id=response.headers.get("X-Correlation-ID", outcome.correlation_id),
                    problem=problem_document(body),
                    body=body[:MAX_ERROR_BODY],
                    retry_after=retry_after,
                ),
                fall_back=True,
                summary=f"status {response.status_code} after {attempt} attempt(s)",
            )
        parsed = self._parse(route, url, outcome.correlation_id, response, body)
        if route.carried:
            return self._unwrap_bus(spec, parsed, outcome.correlation_id)
        return parsed

    def _local_failure(self, error: BaseException, route: _Route) -> KeiSDKError | None:
        """A failure that retrying or another protocol cannot fix (TLS verification, unsendable header)."""
        tls = tls_failure(error)
        failure: APIConnectionError | None = None
        if tls is not None:
            reason = str(tls) or "certificate rejected"
            failure = APIConnectionError(
                f"{route.method} {route.wire.path} failed ({route.spec.operation_id}): TLS certificate verification "
                f"failed for {self._shared.origin}: {reason}; not retried. Check ConnectionConfig.verify "
                f"(a CA bundle path) or the server's certificate",
                method=route.method,
                url=route.wire.path,
            )
        elif isinstance(error, httpx.LocalProtocolError | UnicodeEncodeError):
            failure = APIConnectionError(
                f"{route.method} {route.wire.path} failed ({route.spec.operation_id}): the request could not be "
                f"encoded ({type(error).__name__}); nothing was sent. Check header values for control or "
                f"non-ASCII characters",
                method=route.method,
                url=route.wire.path,
            )
        if failure is not None:
            failure.transient = False
            failure.__cause__ = error
        return failure

    async def _exchange(
        self,
        route: _Route,
        full_url: str,
        headers: dict[str, str],
        kwargs: dict[str, Any],
        base_timeout: httpx.Timeout,
        remaining: float,
        deadline: float,
    ) -> tuple[httpx.Response, bytes]:
        """Send one attempt and read its body within the deadline and the size limit.

        The request is built from the route's prepared parts (``httpx.Request``: what the client's
        ``build_request`` would make of them, minus its per-call URL and header merging).
        """
        http = self._shared.http
        cached = route.url
        if cached is not None and cached[0] == full_url:
            url = cached[1]
        else:
            url = httpx.URL(full_url)
            route.url = (full_url, url)
        merged = route.base_headers.copy()
        merged.update(headers)
        timeout = _attempt_timeout(base_timeout, remaining)
        request = httpx.Request(
            route.method,
            url,
            headers=merged,
            extensions={**route.extensions, "timeout": timeout.as_dict(), "kei_deadline": deadline},
            **kwargs,
        )
        # A safety net for peers that trickle bytes (headers included): what runs inside bounds
        # itself by the deadline first (timeouts, token fetch), with its own, more precise error.
        async with deadline_scope(remaining + _DEADLINE_GRACE):
            direct = route.direct
            if direct is None or _HTTPX_LOG.isEnabledFor(logging.INFO):  # httpx logs its request lines in send()
                response = await http.send(request, auth=route.auth, stream=True)
            else:
                if self._shared.closed:
                    raise RuntimeError("the client was closed")
                response = await direct.handle_async_request(request)
                response.request = request
            try:
                body = await self._read(response, deadline)
            finally:
                await response.aclose()
        return response, body

    async def _read(self, response: httpx.Response, deadline: float) -> bytes:
        limit = self._max_body if response.status_code < 400 else MAX_ERROR_BODY
        declared = response.headers.get("Content-Length")
        if response.status_code < 400 and declared is not None and declared.isdigit() and int(declared) > limit:
            raise httpx.RemoteProtocolError(
                f"the response body of {declared} bytes exceeds ConnectionConfig.max_response_bytes ({limit})"
            )
        chunks: list[bytes] = []
        size = 0
        clock = self._shared.clock
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                if response.status_code >= 400:
                    chunks.append(chunk[: max(limit - (size - len(chunk)), 0)])
                    break
                raise httpx.RemoteProtocolError(
                    f"the response body exceeds ConnectionConfig.max_response_bytes ({limit} bytes, decoded)"
                )
            chunks.append(chunk)
            if clock() > deadline:
                raise httpx.ReadTimeout("the call's deadline passed while the body was arriving")
        return b"".join(chunks)

    # ------------------------------------------------------------------ the bus carrying an operation

    @staticmethod
    def _bus_body(spec: OperationSpec, arguments: Mapping[str, Any]) -> Any:
        from kei_agent._generated import models

        name = spec.bus_operation or ""
        if name.startswith("{") and name.endswith("}"):
            name = str(arguments[name[1:-1].replace("-", "_")])
        body = arguments["body"].to_dict()
        payload = body if spec.bus_payload in (None, "body") else body.get(spec.bus_payload, {})
        return models.BusRequest(operation=name, payload=models.BusRequestPayload.from_dict(payload))

    @staticmethod
    def _unwrap_bus(spec: OperationSpec, reply: Any, correlation_id: str) -> Any:
        from kei_agent._generated import models

        response_model = getattr(models, spec.response_schema or "")
        try:
            return response_model.from_dict(reply.result.to_dict())
        except (KeyError, ValueError, TypeError, AttributeError, RecursionError) as exc:
            raise ResponseValidationError(
                f"{spec.operation_id} over the bus: the reply is not a {spec.response_schema}: {exc!r}",
                method="POST",
                url=_BUS.path,
                correlation_id=correlation_id,
                status_code=200,
                body=json.dumps(reply.to_dict()).encode(),
                reason=repr(exc),
            ) from exc

    # ------------------------------------------------------------------ parsing

    def _parse(self, route: _Route, url: str, correlation_id: str, response: httpx.Response, body: bytes) -> Any:
        spec = route.wire

        def invalid(reason: str, cause: BaseException | None = None) -> _Stop:
            error = ResponseValidationError(
                f"{route.method} {url}: the {response.status_code} response does not match the spec ({reason})",
                method=route.method,
                url=url,
                correlation_id=correlation_id,
                status_code=response.status_code,
                body=body[:MAX_ERROR_BODY],
                reason=reason,
            )
            error.__cause__ = cause
            return _Stop(error, fall_back=False)

        if response.status_code != spec.success_status:
            raise invalid(f"expected status {spec.success_status}")
        model = route.response_model
        if model is None:
            return None
        try:
            return model.from_dict(json.loads(body))
        except (KeyError, ValueError, TypeError, AttributeError, RecursionError) as exc:
            raise invalid(f"{type(exc).__name__}: {str(exc)[:200]}", exc) from None


def _models() -> ModuleType:
    from kei_agent._generated import models

    return models


def _json_body(operation_id: str, payload: Any) -> bytes:
    """The request body as strict JSON (no NaN or Infinity), encoded once per call.

    Encoded here rather than by httpx, whose encoder allows NaN in some of the versions we support
    (0.27) and not in others: the same input gives the same bytes, or the same typed error, on all.
    """
    try:
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except (ValueError, TypeError, RecursionError) as exc:
        reason = "it nests too deeply or contains itself" if isinstance(exc, RecursionError) else str(exc)
        raise not_json(operation_id, reason) from None


def _attempt_timeout(base: httpx.Timeout, remaining: float) -> httpx.Timeout:
    """The attempt's timeouts: the configured ones, none beyond what is left of the deadline."""
    known = (base.connect, base.read, base.write, base.pool)
    if all(value is not None and value <= remaining for value in known):
        return base
    cap = max(remaining, 0.001)

    def bound(value: float | None) -> float:
        return cap if value is None else min(value, cap)

    return httpx.Timeout(
        connect=bound(base.connect), read=bound(base.read), write=bound(base.write), pool=bound(base.pool)
    )
