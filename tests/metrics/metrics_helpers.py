"""Reading coordkit's metrics back the way a Prometheus server would: the registry's text
exposition, parsed by ``prometheus_client``'s own parser; spans from an in-memory exporter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from coordkit.testing import eventually as testing_eventually

DEADLINE = 15.0


@dataclass
class Recording:
    """What the ``recording`` fixture gives: the registry and the span exporter of one test."""

    registry: CollectorRegistry
    spans: InMemorySpanExporter


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """The value of sample ``name`` (the full sample name: ``..._total``, ``..._count``) with
    exactly these labels' values (others ignored); 0.0 when there is no such sample, as
    Prometheus reads an absent counter."""
    text = generate_latest(registry).decode()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


def names(registry: CollectorRegistry) -> set[str]:
    """Every family name the registry exposes."""
    return {family.name for family in text_string_to_metric_families(generate_latest(registry).decode())}


def eventually(condition: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    """Wait until ``condition`` holds (for state no event of ours announces, e.g. another
    object's cache); fail naming ``what`` after ``timeout`` seconds."""
    testing_eventually(condition, timeout=timeout, interval=0.02, message=what)
