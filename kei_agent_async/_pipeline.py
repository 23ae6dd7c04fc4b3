"""The request pipeline every operation goes through.

validate → route → build the generated request (``_get_kwargs``) → per attempt: breaker admits?
→ credentials and headers → send on the one pooled client → classify → back off (Retry-After
and deadline aware) → parse (``_build_response``, malformed → ``ResponseValidationError``).
On a transport-level failure the router may carry the call over the next protocol.

Around each call: input validation (``kei_agent.validation``, when ``validate_requests``), one
correlation id for the whole call (the ``LogContext`` one, else a new one, current while the call
runs), a span and metrics (``kei_agent.observability``: a no-op without OpenTelemetry), a child
span per HTTP attempt with ``traceparent``, and a DEBUG performance record with the call's duration.

Written once for both flavours: the blocking twin of this module is generated from it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import time
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import attrs
import httpx

from kei_agent._context import get_correlation_id, new_correlation_id, reset_correlation_id, set_correlation_id
from kei_agent._contract.operations import OPERATIONS, OperationSpec
from kei_agent._generated.client import Client as _LowLevelClient
from kei_agent.config import AgentClientConfig, ProtocolConfig, RetryConfig
from kei_agent.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    CircuitBreakerOpenError,
    KeiSDKError,
    ProtocolError,
    ResponseValidationError,
    status_error,
)
from kei_agent.logging import get_logger
from kei_agent.logging._logger import base_logger
from kei_agent.observability import OperationScope, get_instrumentation
from kei_agent.policies.breaker import CircuitBreaker, CircuitState
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

from ._audit import AuditTrail
from ._backend import InFlight, PolicyLock, sleep

_log = base_logger.bind(component="kei_agent.pipeline")
_perf = get_logger("kei_agent.performance")

#: RPC operations that the bus can carry (``busRequest``), by their bus operation name.
BUS_OPERATION_NAMES = {
    "planTask": "plan",
    "executeAction": "act",
    "observeEnvironment": "observe",
    "explainReasoning": "explain",
}


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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.protocol_config = protocol_config
        self.http = http
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
        self.lowlevel = _LowLevelClient(base_url=config.base_url)
        self.modules: dict[str, ModuleType] = {}
        self.telemetry = get_instrumentation()
        self.audit: AuditTrail | None = None  # the client's audit trail, with SecurityConfig.audit_enabled

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


def _transport_outcome(exc: httpx.TransportError) -> TransportFailure:
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return TransportFailure("timeout", sent=False)
    if isinstance(exc, httpx.TimeoutException):
        return TransportFailure("timeout", sent=True)
    if isinstance(exc, httpx.ConnectError):
        return TransportFailure("connect", sent=False)
    if isinstance(exc, httpx.WriteError):
        return TransportFailure("write", sent=True)
    if isinstance(exc, httpx.RemoteProtocolError | httpx.LocalProtocolError):
        return TransportFailure("protocol", sent=True)
    if isinstance(exc, httpx.CloseError):
        return TransportFailure("closed", sent=True)
    return TransportFailure("read", sent=True)


def _problem(response: httpx.Response) -> dict[str, Any] | None:
    try:
        data = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _validate(spec: OperationSpec, arguments: Mapping[str, Any]) -> None:
    """Check the call's body and path/query parameters against the spec and the hardening limits."""
    from kei_agent.validation import validate_request  # loaded with the first call, not at import

    body = arguments.get("body")
    if body is not None and not isinstance(body, Mapping):
        body = body.to_dict()
    validate_request(
        spec.operation_id, body, parameters={key: value for key, value in arguments.items() if key != "body"}
    )


class Pipeline:
    """Runs one operation call through routing, attempts and parsing."""

    def __init__(self, shared: SharedState, options: CallOptions, auth: httpx.Auth | None) -> None:
        self._shared = shared
        self._options = options
        self._auth = auth
        self._retry = RetryPolicy(options.retry)
        config = shared.config
        # The headers that are the same on every request of this pipeline, merged once.
        self._fixed_headers: dict[str, str] = {
            **config.headers,
            **options.headers,
            "User-Agent": config.effective_user_agent,
            "X-Agent-ID": config.agent_id,
        }
        if config.tenant_id:
            self._fixed_headers["X-Tenant-ID"] = config.tenant_id
        base = options.timeout
        known = [value for value in (base.connect, base.read, base.write, base.pool) if value is not None]
        # The per-attempt timeout is the configured one until the deadline comes closer than that.
        self._timeout_headroom = max(known) if len(known) == 4 else float("inf")

    @property
    def options(self) -> CallOptions:
        """The call settings of this pipeline."""
        return self._options

    async def call(
        self,
        operation_id: str,
        arguments: Mapping[str, Any],
        *,
        protocol: Protocol | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Run ``operation_id`` with the generated ``_get_kwargs`` arguments; returns the parsed model."""
        shared = self._shared
        if shared.closed:
            raise KeiSDKError("the client is closed: create a new KeiAgentClient")
        spec = OPERATIONS[operation_id]
        # One correlation id for the whole call (all attempts, fallbacks and log records).
        token = set_correlation_id(get_correlation_id() or new_correlation_id())
        started = time.perf_counter()
        try:
            audit = shared.audit.call(operation_id, arguments, protocol) if shared.audit else contextlib.nullcontext()
            with shared.telemetry.operation(operation_id) as scope, audit:
                outcome = "error"
                try:
                    if shared.config.validate_requests:
                        _validate(spec, arguments)
                    result = await self._route(spec, arguments, protocol, idempotency_key, scope)
                    outcome = "success"
                    return result
                finally:
                    scope.duration = time.perf_counter() - started
                    _perf._performance(
                        "DEBUG", operation_id, scope.duration * 1000.0, {"protocol": scope.protocol, "outcome": outcome}
                    )
        finally:
            reset_correlation_id(token)

    async def _route(
        self,
        spec: OperationSpec,
        arguments: Mapping[str, Any],
        protocol: Protocol | None,
        idempotency_key: str | None,
        scope: OperationScope,
    ) -> Any:
        shared = self._shared
        operation_id = spec.operation_id
        with shared.lock.held():
            candidates = shared.router.candidates(operation_id, protocol)
        candidates = [p for p in candidates if self._carries(spec, p)]
        if not candidates:
            raise ProtocolError(f"{operation_id}: no enabled protocol can carry this operation")
        shared.inflight.enter()
        try:
            last_error: KeiSDKError | None = None
            for index, candidate in enumerate(candidates):
                scope.protocol = candidate.value
                try:
                    return await self._call_over(spec, candidate, arguments, idempotency_key)
                except (APIConnectionError, APIStatusError, CircuitBreakerOpenError) as exc:
                    last_error = exc
                    has_next = index + 1 < len(candidates)
                    with shared.lock.held():
                        fall_back = has_next and shared.router.should_fall_back(self._failure_of(exc))
                        if fall_back:
                            shared.router.record_downgrade(operation_id, candidate, candidates[index + 1])
                    if not fall_back:
                        raise
            raise ProtocolError(f"{operation_id}: every protocol failed") from last_error
        finally:
            shared.inflight.exit()

    @staticmethod
    def _failure_of(exc: KeiSDKError) -> Outcome | CircuitBreakerOpenError:
        if isinstance(exc, CircuitBreakerOpenError):
            return exc
        if isinstance(exc, APIStatusError):
            return StatusFailure(exc.status_code, exc.retry_after)
        return TransportFailure("connect", sent=False)

    @staticmethod
    def _carries(spec: OperationSpec, protocol: Protocol) -> bool:
        native = spec.protocols[0] if spec.protocols else "rpc"
        if protocol.value == native:
            return True
        return protocol is Protocol.BUS and spec.operation_id in BUS_OPERATION_NAMES

    async def _call_over(
        self,
        spec: OperationSpec,
        protocol: Protocol,
        arguments: Mapping[str, Any],
        idempotency_key: str | None,
    ) -> Any:
        native = spec.protocols[0] if spec.protocols else "rpc"
        if protocol.value == native:
            return await self._send(spec, protocol, arguments, idempotency_key)
        # An RPC operation carried by the bus: busRequest with the RPC body, reply parsed as RPC.
        from kei_agent._generated import models

        body = arguments["body"]
        bus_body = models.BusRequest(
            operation=BUS_OPERATION_NAMES[spec.operation_id],
            payload=models.BusRequestPayload.from_dict(body.to_dict()),
        )
        reply = await self._send(OPERATIONS["busRequest"], protocol, {"body": bus_body}, idempotency_key)
        response_model = getattr(models, spec.response_schema or "")
        try:
            return response_model.from_dict(reply.result.to_dict())
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise ResponseValidationError(
                f"{spec.operation_id} over the bus: the reply is not a {spec.response_schema}: {exc!r}",
                method="POST",
                url=OPERATIONS["busRequest"].path,
                correlation_id=None,
                status_code=200,
                body=json.dumps(reply.to_dict()).encode(),
                reason=repr(exc),
            ) from exc

    def _headers(self, spec: OperationSpec, correlation_id: str, idempotency_key: str | None) -> dict[str, str]:
        headers = dict(self._fixed_headers)
        headers["X-Correlation-ID"] = correlation_id
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def _attempt_timeout(self, remaining: float) -> httpx.Timeout:
        base = self._options.timeout
        if remaining >= self._timeout_headroom:
            return base
        cap = max(remaining, 0.001)

        def bound(value: float | None) -> float:
            return cap if value is None else min(value, cap)

        return httpx.Timeout(
            connect=bound(base.connect), read=bound(base.read), write=bound(base.write), pool=bound(base.pool)
        )

    async def _send(
        self,
        spec: OperationSpec,
        protocol: Protocol,
        arguments: Mapping[str, Any],
        idempotency_key: str | None,
    ) -> Any:
        shared = self._shared
        module = shared.module(spec)
        kwargs = module._get_kwargs(**arguments)
        method: str = kwargs.pop("method").upper()
        url: str = kwargs.pop("url")
        correlation_id = get_correlation_id() or new_correlation_id()
        if not spec.idempotent and idempotency_key is None:
            idempotency_key = new_correlation_id()
        headers = {**kwargs.pop("headers", {}), **self._headers(spec, correlation_id, idempotency_key)}
        retry = self._retry
        op_policy = OperationPolicy(idempotent=spec.idempotent, retry_statuses=spec.retry_statuses)
        breaker = shared.breaker(protocol)
        with shared.lock.held():
            breaker.before_call()
        started = shared.clock()
        attempt = 0
        try:
            while True:
                attempt += 1
                headers["X-Kei-Retry-Count"] = str(attempt - 1)
                remaining = self._options.retry.deadline - (shared.clock() - started)
                response: httpx.Response | None = None
                error: httpx.TransportError | None = None
                outcome: Outcome
                with shared.telemetry.attempt(
                    operation_id=spec.operation_id,
                    method=method,
                    url_template=spec.path,
                    url=f"{shared.config.base_url.rstrip('/')}{url}",
                    protocol=protocol.value,
                    retry_count=attempt - 1,
                    headers=headers,
                ) as span:
                    try:
                        response = await shared.http.request(
                            method,
                            url,
                            headers=headers,
                            auth=self._auth
                            if spec.auth_required and self._auth is not None
                            else httpx.USE_CLIENT_DEFAULT,
                            timeout=self._attempt_timeout(remaining),
                            # For the auth flow (client-side RBAC) and the audit trail.
                            extensions={
                                "kei_operation": spec.operation_id,
                                "kei_scopes": spec.scopes,
                                "kei_protocol": protocol.value,
                            },
                            **kwargs,
                        )
                    except httpx.TransportError as exc:
                        error = exc
                        outcome = _transport_outcome(exc)
                        span.transport_error(exc)
                    else:
                        span.response(response.status_code)
                        if 200 <= response.status_code < 300:
                            outcome = Success(response.status_code)
                        else:
                            outcome = StatusFailure(response.status_code, parse_retry_after(response.headers))
                decision = retry.decide(
                    attempt=attempt,
                    outcome=outcome,
                    op=op_policy,
                    idempotency_key_sent=idempotency_key is not None,
                    elapsed=shared.clock() - started,
                )
                if isinstance(decision, Retry):
                    _log.bind(
                        operation=spec.operation_id, protocol=protocol.value, correlation_id=correlation_id
                    ).debug(
                        "attempt {attempt} failed ({reason}); retrying in {delay:.3f}s",
                        attempt=attempt,
                        reason=decision.reason,
                        delay=decision.delay,
                    )
                    if response is not None:
                        await response.aclose()
                    await sleep(decision.delay)
                    continue
                break
        except BaseException:
            # Failed before an outcome (auth flow refused, cancelled, ...): free a half-open probe slot.
            with shared.lock.held():
                breaker.record_ignored()
            raise
        with shared.lock.held():
            if isinstance(outcome, Success) or (isinstance(outcome, StatusFailure) and outcome.status < 500):
                breaker.record_success()
            else:
                breaker.record_failure()
        if error is not None:
            path = url
            message = f"{method} {path} failed after {attempt} attempt(s): {type(error).__name__}: {error}"
            cls = APITimeoutError if isinstance(error, httpx.TimeoutException) else APIConnectionError
            raise cls(message, method=method, url=path, correlation_id=correlation_id) from error
        assert response is not None
        if isinstance(outcome, StatusFailure):
            problem = _problem(response)
            retry_after = outcome.retry_after
            if isinstance(decision, Fail) and decision.retry_after is not None:
                retry_after = decision.retry_after
            raise status_error(
                response.status_code,
                method=method,
                url=url,
                request_id=response.headers.get("X-Request-ID"),
                correlation_id=response.headers.get("X-Correlation-ID", correlation_id),
                problem=problem,
                body=response.content,
                retry_after=retry_after,
            )
        return self._parse(spec, module, method, url, correlation_id, response)

    def _parse(
        self,
        spec: OperationSpec,
        module: ModuleType,
        method: str,
        url: str,
        correlation_id: str,
        response: httpx.Response,
    ) -> Any:
        def invalid(reason: str, cause: BaseException | None = None) -> ResponseValidationError:
            error = ResponseValidationError(
                f"{method} {url}: the {response.status_code} response does not match the spec ({reason})",
                method=method,
                url=url,
                correlation_id=correlation_id,
                status_code=response.status_code,
                body=response.content,
                reason=reason,
            )
            error.__cause__ = cause
            return error

        try:
            parsed = module._build_response(client=self._shared.lowlevel, response=response).parsed
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise invalid(f"{type(exc).__name__}: {exc}", exc) from exc
        if spec.response_schema is None:
            return parsed
        from kei_agent._generated import models

        expected = getattr(models, spec.response_schema)
        if not isinstance(parsed, expected):
            raise invalid(f"expected a {spec.response_schema} with status {spec.success_status}")
        return parsed
