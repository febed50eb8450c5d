"""OpenTelemetry spans for store operations and recipe waits, through ``opentelemetry-api``.

Spans are made after the fact with the start time the caller measured (``start_time=``), so
that the layers below need no context manager and pay nothing when tracing is off. Without
an SDK configured by the application, the API's tracer is a no-op.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["Spans", "tracer_for"]


def tracer_for(provider: Any) -> Any | None:
    """A tracer named ``coordkit`` from ``provider`` (None: the global one), or None when
    ``opentelemetry-api`` is not installed."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    from .. import __version__

    return trace.get_tracer("coordkit", __version__, tracer_provider=provider)


class Spans:
    """Ends a span per reported event; every attribute value is bounded except the token."""

    def __init__(self, tracer: Any) -> None:
        from opentelemetry.trace import Status, StatusCode

        self._tracer = tracer
        self._error = Status(StatusCode.ERROR)

    def operation(self, backend: str, op: str, started_ns: int, error: BaseException | None) -> None:
        span = self._tracer.start_span(
            f"coordkit {op}",
            start_time=started_ns,
            attributes={"coordkit.backend": backend, "coordkit.outcome": "error" if error else "ok"},
        )
        if error is not None:
            # The type only: an error's message may name keys or carry a server's words.
            span.set_attribute("error.type", type(error).__name__)
            span.set_status(self._error)
        span.end(end_time=time.time_ns())

    def acquire(self, kind: str, backend: str, started_ns: int, outcome: str, token: int | None) -> None:
        verb = "campaign" if kind == "leadership" else "acquire"
        attributes: dict[str, str | int] = {
            "coordkit.backend": backend,
            "coordkit.kind": kind,
            "coordkit.outcome": outcome,
        }
        if token is not None:
            attributes["coordkit.fencing_token"] = token
        span = self._tracer.start_span(
            f"coordkit {kind} {verb}", start_time=started_ns, attributes=attributes
        )
        if outcome == "error":
            span.set_status(self._error)
        span.end(end_time=time.time_ns())
