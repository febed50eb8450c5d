"""The example services serve coordkit's metrics at ``GET /metrics`` (Prometheus text format)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable

import pytest
from metrics_helpers import Recording
from prometheus_client.parser import text_string_to_metric_families

import coordkit
import coordkit.metrics
from examples.payment_service import PaymentService


def _scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=5) as reply:
        assert reply.headers["Content-Type"].startswith("text/plain")
        text = reply.read().decode()
    return {
        f"{s.name}{sorted(s.labels.items())}": s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_service_serves_its_metrics(
    recording: Recording, make_client: Callable[..., coordkit.Client]
) -> None:
    client = make_client()
    service = PaymentService(client, instance="pay-m", host="127.0.0.1", advertise="127.0.0.1")
    service.start()
    try:
        url = f"http://127.0.0.1:{service.server.port}/metrics"
        samples = _scrape(url)
        state = f"coordkit_session_state{sorted({'backend': client.kind, 'state': 'connected'}.items())}"
        assert samples[state] == 1
        assert any(name.startswith("coordkit_operation_seconds_count") for name in samples)
        coordkit.metrics.disable()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=5)
        assert refused.value.code == 404
    finally:
        service.stop(drain=0.1)
