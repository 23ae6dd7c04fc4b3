"""Fixtures of the enterprise layer's tests (registered by ``tests/conftest.py``):

* ``postgres_url`` - a real PostgreSQL cluster for the session (a missing server fails, never skips);
* ``otel`` - the OpenTelemetry SDK with an in-memory span exporter and metric reader, installed as
  the global providers once per session (OpenTelemetry allows that only once per process);
* ``json_logs`` - ``configure_logging`` writing JSON lines into memory, undone after the test.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from kei_agent.logging import configure_logging, reset_logging
from tests.support.postgres import run_postgres


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with run_postgres() as url:
        yield url


class OtelCapture:
    """The session's OpenTelemetry SDK: finished spans and collected metrics."""

    def __init__(self) -> None:
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        class Switchable(SimpleSpanProcessor):
            """Exports only while a test uses the fixture (the provider stays global afterwards)."""

            active = False

            def on_end(self, span: Any) -> None:
                if self.active:
                    super().on_end(span)

        self.exporter = InMemorySpanExporter()
        self.processor = Switchable(self.exporter)
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(self.processor)
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        trace.set_tracer_provider(self.tracer_provider)
        metrics.set_meter_provider(self.meter_provider)
        self.tracer = trace.get_tracer("tests")

    def spans(self) -> list[Any]:
        return list(self.exporter.get_finished_spans())

    def metric_points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        points: list[Any] = []
        if data is None:
            return points
        for resource_metrics in data.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        points.extend(metric.data.data_points)
        return points

    def counter_total(self, name: str, **attributes: Any) -> float:
        return sum(
            point.value
            for point in self.metric_points(name)
            if all(point.attributes.get(key) == value for key, value in attributes.items())
        )


_otel: OtelCapture | None = None


@pytest.fixture
def otel() -> Iterator[OtelCapture]:
    """The session-wide OpenTelemetry SDK capture, with the finished spans cleared."""
    global _otel
    from kei_agent.observability import get_instrumentation

    if _otel is None:
        _otel = OtelCapture()
    assert get_instrumentation().enabled, "opentelemetry is installed with the dev extra"
    _otel.exporter.clear()
    _otel.processor.active = True
    try:
        yield _otel
    finally:
        _otel.processor.active = False
        _otel.exporter.clear()


class JsonLogs:
    """Lines written by ``configure_logging`` into memory, parsed."""

    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line.strip()]

    def find(self, **fields: Any) -> list[dict[str, Any]]:
        return [record for record in self.records() if all(record.get(k) == v for k, v in fields.items())]


@pytest.fixture
def json_logs() -> Iterator[JsonLogs]:
    """``configure_logging(level="DEBUG")`` into memory (JSON lines); reset afterwards."""
    stream = io.StringIO()
    configure_logging(level="DEBUG", stream=stream)
    try:
        yield JsonLogs(stream)
    finally:
        reset_logging()
