"""Optional instrumentation: Prometheus metrics and OpenTelemetry spans (``coordkit[metrics]``).

Nothing is recorded or exported until :func:`enable` is called; until then each instrumented
place in coordkit costs one test of a global (see :mod:`coordkit.backends.probe`)::

    import coordkit.metrics
    from prometheus_client import start_http_server

    coordkit.metrics.enable()          # the default registry; enable(registry=...) for another
    start_http_server(9100)            # or serve prometheus_client.generate_latest() at /metrics

Enable before connecting: a watch counts its events only if metrics were on when it started.
Spans go through ``opentelemetry-api``: a no-op unless the application configured an SDK (or
passes ``tracer_provider``). The README's "Operating coordkit" section lists every metric.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..backends import probe as probes
from ..errors import ConfigurationError
from .recorder import Recorder

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["Recorder", "disable", "enable", "enabled"]

_lock = threading.Lock()


def enable(
    registry: CollectorRegistry | None = None,
    *,
    metrics: bool = True,
    traces: bool = True,
    tracer_provider: Any = None,
    service_labels: bool = False,
) -> Recorder:
    """Start recording, process-wide, and return the recorder.

    ``registry``: the ``prometheus_client`` registry the families are registered on (default
    its global ``REGISTRY``). ``metrics=False`` records no metrics; ``traces=False`` makes no
    spans; ``tracer_provider``: an OpenTelemetry provider (default the global one).
    ``service_labels=True`` opts in to service names as label values (the per-service instance
    gauges): bounded only by the services you run, so off by default. Calling it
    again replaces the previous recorder (its families are unregistered first). Raises
    ConfigurationError if ``prometheus_client`` is missing (``pip install 'coordkit[metrics]'``);
    nothing is enabled then. Gauges count what happens after the call: enable before connecting.
    """
    families = None
    if metrics:
        try:
            from prometheus_client import REGISTRY
        except ImportError:
            raise ConfigurationError(
                "coordkit.metrics.enable() needs prometheus_client: pip install 'coordkit[metrics]'"
            ) from None
        from .families import Families
    spans = None
    if traces:
        from .tracing import Spans, tracer_for

        tracer = tracer_for(tracer_provider)
        spans = None if tracer is None else Spans(tracer)
    with _lock:
        _uninstall()
        if metrics:
            families = Families(REGISTRY if registry is None else registry)
        recorder = Recorder(families, spans, service_labels=service_labels)
        probes.install(recorder)
    return recorder


def disable() -> None:
    """Stop recording and take coordkit's families off their registry. Idempotent."""
    with _lock:
        _uninstall()


def enabled() -> Recorder | None:
    """The active recorder, or None."""
    active = probes.active
    return active if isinstance(active, Recorder) else None


def _uninstall() -> None:
    previous = probes.install(None)
    if isinstance(previous, Recorder) and previous.families is not None:
        previous.families.unregister()
