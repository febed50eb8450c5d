"""A fresh registry and span exporter per test, with coordkit's recording on for the test only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from metrics_helpers import Recording
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry

import coordkit.metrics


@pytest.fixture
def recording() -> Iterator[Recording]:
    """Enabled before the test's clients connect (the ``make_client`` fixture connects lazily)."""
    registry = CollectorRegistry()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    coordkit.metrics.enable(registry=registry, tracer_provider=provider)
    try:
        yield Recording(registry, exporter)
    finally:
        coordkit.metrics.disable()
        provider.shutdown()
