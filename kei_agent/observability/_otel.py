"""OpenTelemetry implementation (the ``otel`` extra): spans, ``traceparent`` and metrics.

Spans: ``kei_agent.<operationId>`` (INTERNAL) per public operation call, with a CLIENT child
``<METHOD> <path template>`` per HTTP attempt carrying ``http.request.method``, ``url.full``,
``url.template``, ``http.response.status_code``, ``http.request.resend_count`` (the retry count),
``kei.protocol`` and ``error.type``; failures are recorded as exceptions with status ERROR. The
W3C ``traceparent`` of the attempt span is sent with the request.

Metrics (meter ``kei_agent``): ``kei_agent.client.operation.duration`` (s, per call),
``http.client.request.duration`` (s, per attempt), ``kei_agent.client.attempts`` and
``kei_agent.client.retries`` (counters), ``kei_agent.client.breaker.transitions`` and
``kei_agent.client.token.refreshes`` (counters).

The tracer and meter come from the global providers, looked up lazily: configure OpenTelemetry
(``trace.set_tracer_provider(...)``) before or after creating clients. Until a tracer or meter
provider is installed, calls take the no-op path (the API's proxies would record nothing).
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import metrics, propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from kei_agent._version import __version__

from ._base import AttemptScope, Instrumentation, OperationScope

__all__ = ["OtelInstrumentation"]

_SCOPE = "kei_agent"
_UNCONFIGURED_METER_PROVIDERS = frozenset({"_ProxyMeterProvider", "NoOpMeterProvider"})


def _describe(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text[:200]}" if text else type(error).__name__


class _OtelOperation(OperationScope):
    __slots__ = ("_cm", "_inst", "_span", "_start")

    def __init__(self, inst: OtelInstrumentation, operation_id: str) -> None:
        super().__init__(operation_id)
        self._inst = inst
        self._cm: AbstractContextManager[Span] | None = None
        self._span: Span | None = None
        self._start = 0.0

    def __enter__(self) -> OperationScope:
        self._cm = self._inst.tracer.start_as_current_span(
            f"kei_agent.{self.operation_id}",
            kind=SpanKind.INTERNAL,
            attributes={"kei.operation_id": self.operation_id},
            record_exception=False,
            set_status_on_exception=False,
        )
        self._span = self._cm.__enter__()
        self._start = time.perf_counter()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._cm is not None
        assert self._span is not None
        span = self._span
        duration = self.duration if self.duration is not None else time.perf_counter() - self._start
        attributes: dict[str, Any] = {"kei.operation_id": self.operation_id, "kei.outcome": "success"}
        if self.protocol is not None:
            attributes["kei.protocol"] = self.protocol
            span.set_attribute("kei.protocol", self.protocol)
        if exc is not None:
            attributes["kei.outcome"] = "error"
            attributes["error.type"] = type(exc).__name__
            span.set_attribute("error.type", type(exc).__name__)
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, _describe(exc)))
        self._inst.operation_duration.record(duration, attributes)
        self._cm.__exit__(exc_type, exc, tb)


class _OtelAttempt(AttemptScope):
    __slots__ = ("_attributes", "_cm", "_headers", "_inst", "_span", "_start", "_status")

    def __init__(
        self, inst: OtelInstrumentation, name: str, attributes: dict[str, Any], headers: MutableMapping[str, str]
    ) -> None:
        self._inst = inst
        self._attributes = attributes
        self._headers = headers
        self._cm: AbstractContextManager[Span] = inst.tracer.start_as_current_span(
            name, kind=SpanKind.CLIENT, attributes=attributes, record_exception=False, set_status_on_exception=False
        )
        self._span: Span | None = None
        self._start = 0.0
        self._status: int | None = None

    def __enter__(self) -> AttemptScope:
        self._span = self._cm.__enter__()
        propagate.inject(self._headers)
        self._start = time.perf_counter()
        metric_attributes = self._metric_attributes()
        self._inst.attempts.add(1, metric_attributes)
        if self._attributes.get("http.request.resend_count"):
            self._inst.retries.add(1, metric_attributes)
        return self

    def _metric_attributes(self) -> dict[str, Any]:
        return {
            "kei.operation_id": self._attributes["kei.operation_id"],
            "kei.protocol": self._attributes["kei.protocol"],
            "http.request.method": self._attributes["http.request.method"],
        }

    def response(self, status_code: int) -> None:
        assert self._span is not None
        self._status = status_code
        self._span.set_attribute("http.response.status_code", status_code)
        if status_code >= 400:
            self._span.set_attribute("error.type", str(status_code))
            self._span.set_status(Status(StatusCode.ERROR, f"HTTP {status_code}"))

    def transport_error(self, error: BaseException) -> None:
        assert self._span is not None
        self._span.set_attribute("error.type", type(error).__name__)
        self._span.record_exception(error)
        self._span.set_status(Status(StatusCode.ERROR, _describe(error)))

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._span is not None
        if exc is not None and self._status is None:
            self.transport_error(exc)
        attributes = self._metric_attributes()
        if self._status is not None:
            attributes["http.response.status_code"] = self._status
            if self._status >= 400:
                attributes["error.type"] = str(self._status)
        elif exc is not None:
            attributes["error.type"] = type(exc).__name__
        self._inst.request_duration.record(time.perf_counter() - self._start, attributes)
        self._cm.__exit__(exc_type, exc, tb)


class OtelInstrumentation(Instrumentation):
    """Spans and metrics through the global OpenTelemetry providers."""

    enabled = True

    def __init__(self) -> None:
        """Look up the tracer and create the instruments (proxies until a provider is set)."""
        self.tracer = trace.get_tracer(_SCOPE, __version__)
        meter = metrics.get_meter(_SCOPE, __version__)
        self.operation_duration = meter.create_histogram(
            "kei_agent.client.operation.duration", unit="s", description="Duration of KEI operation calls."
        )
        self.request_duration = meter.create_histogram(
            "http.client.request.duration", unit="s", description="Duration of HTTP attempts."
        )
        self.attempts = meter.create_counter(
            "kei_agent.client.attempts", unit="{attempt}", description="HTTP attempts, first tries and retries."
        )
        self.retries = meter.create_counter(
            "kei_agent.client.retries", unit="{retry}", description="HTTP attempts that were retries."
        )
        self.breaker_transitions = meter.create_counter(
            "kei_agent.client.breaker.transitions", unit="{transition}", description="Circuit breaker state changes."
        )
        self.token_refreshes = meter.create_counter(
            "kei_agent.client.token.refreshes", unit="{refresh}", description="Credential fetches and refreshes."
        )

    @staticmethod
    def _configured() -> bool:
        # Until the application installs a provider, the API's proxies record nothing: skip them.
        tracing = not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider)
        return tracing or type(metrics.get_meter_provider()).__name__ not in _UNCONFIGURED_METER_PROVIDERS

    def operation(self, operation_id: str) -> OperationScope:
        if not self._configured():
            return OperationScope(operation_id)
        return _OtelOperation(self, operation_id)

    def attempt(
        self,
        *,
        operation_id: str,
        method: str,
        url_template: str,
        url: str,
        protocol: str,
        retry_count: int,
        headers: MutableMapping[str, str],
    ) -> AttemptScope:
        if not self._configured():
            return super().attempt(
                operation_id=operation_id,
                method=method,
                url_template=url_template,
                url=url,
                protocol=protocol,
                retry_count=retry_count,
                headers=headers,
            )
        parts = urlsplit(url)
        method = method.upper()
        attributes: dict[str, Any] = {
            "kei.operation_id": operation_id,
            "kei.protocol": protocol,
            "kei.retry_count": retry_count,
            "http.request.method": method,
            "url.full": f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{parts.path}",
            "url.template": url_template,
            "server.address": parts.hostname or "",
        }
        if parts.port is not None:
            attributes["server.port"] = parts.port
        if retry_count:
            attributes["http.request.resend_count"] = retry_count
        return _OtelAttempt(self, f"{method} {url_template}", attributes, headers)

    def breaker_transition(self, key: str, old: str, new: str) -> None:
        self.breaker_transitions.add(1, {"kei.breaker": key, "kei.state.from": old, "kei.state.to": new})
        span = trace.get_current_span()
        if span.is_recording():
            span.add_event("kei.breaker.transition", {"kei.breaker": key, "kei.state.from": old, "kei.state.to": new})

    def token_refresh(self, outcome: str = "success", *, auth_type: str | None = None) -> None:
        attributes = {"kei.outcome": outcome}
        if auth_type is not None:
            attributes["kei.auth_type"] = auth_type
        self.token_refreshes.add(1, attributes)
