"""The probe that records into Prometheus families and OpenTelemetry spans."""

from __future__ import annotations

import threading
import time
from collections import Counter

from ..backends.probe import Probe
from .families import Families
from .tracing import Spans

__all__ = ["Recorder"]


class Recorder(Probe):
    """Records every report of :class:`~coordkit.backends.probe.Probe` into ``families``
    (None: no metrics) and ``spans`` (None: no traces). Never raises into the caller's thread
    for a value it cannot record: the families' label sets are fixed here."""

    def __init__(
        self, families: Families | None, spans: Spans | None, *, service_labels: bool = False
    ) -> None:
        self.families = families
        self.spans = spans
        self.per_service = service_labels and families is not None
        # The gauges of things that began before enable() (a session, a holding) would go
        # below zero when they end: each is counted here and set, never below zero.
        self._levels: Counter[tuple[str, ...]] = Counter()
        self._levels_lock = threading.Lock()
        if families is not None:
            picks = families.picks
            self._pick, self._no_instance = picks.labels("picked"), picks.labels("no_instance")

    # --- backend operations
    def operation(self, backend: str, op: str, started_ns: int, error: BaseException | None) -> None:
        if self.families is not None:
            seconds = max(0.0, (time.time_ns() - started_ns) / 1e9)
            self.families.operations.labels(backend, op, "error" if error else "ok").observe(seconds)
        if self.spans is not None:
            self.spans.operation(backend, op, started_ns, error)

    # --- sessions
    def session_changed(self, backend: str, previous: str, state: str, down_for: float | None) -> None:
        f = self.families
        if f is None:
            return
        if previous != "opening":
            f.session_state.labels(backend, previous).set(self._move(("session", backend, previous), -1))
        if state != "closed":
            f.session_state.labels(backend, state).set(self._move(("session", backend, state), 1))
        f.session_transitions.labels(backend, state).inc()
        if state == "lost":
            f.session_losses.labels(backend).inc()
        if down_for is not None:
            f.reconnect.labels(backend).observe(down_for)

    def keepalive(self, backend: str, seconds: float, ok: bool) -> None:
        if self.families is None:
            return
        if ok:
            self.families.keepalive.labels(backend).observe(seconds)
        else:
            self.families.keepalive_misses.labels(backend).inc()

    # --- recipes
    def acquire_ended(
        self, kind: str, backend: str, started_ns: int, waited: float, outcome: str, token: int | None
    ) -> None:
        f = self.families
        if f is not None:
            f.wait.labels(kind, outcome).observe(waited)
            if outcome == "timeout":
                f.timeouts.labels(kind).inc()
            elif outcome == "acquired":
                f.held.labels(kind).set(self._move(("held", kind), 1))
                if kind == "leadership":
                    f.leader.set(self._move(("leader",), 1))
                    f.leadership_changes.labels("gained").inc()
        if self.spans is not None:
            self.spans.acquire(kind, backend, started_ns, outcome, token)

    def hold_ended(self, kind: str, held: float, lost: bool) -> None:
        f = self.families
        if f is None:
            return
        f.hold.labels(kind).observe(held)
        f.held.labels(kind).set(self._move(("held", kind), -1))
        if lost:
            f.losses.labels(kind).inc()
        if kind == "leadership":
            f.leader.set(self._move(("leader",), -1))
            f.leadership_changes.labels("lost" if lost else "resigned").inc()

    def leaderless_began(self) -> None:
        if self.families is not None:
            self.families.leaderless_now.set(self._move(("leaderless",), 1))

    def leaderless_ended(self, seconds: float | None) -> None:
        f = self.families
        if f is None:
            return
        f.leaderless_now.set(self._move(("leaderless",), -1))
        if seconds is not None:
            f.leaderless.observe(seconds)

    def _move(self, level: tuple[str, ...], by: int) -> int:
        with self._levels_lock:
            self._levels[level] = max(0, self._levels[level] + by)
            return self._levels[level]

    # --- watches
    def watch_event(self, backend: str, event_type: str) -> None:
        if self.families is not None:
            self.families.watch_events.labels(backend, event_type).inc()

    def watch_lag(self, backend: str, seconds: float) -> None:
        if self.families is not None:
            self.families.watch_lag.labels(backend).observe(seconds)

    def watch_resync(self, backend: str, reason: str) -> None:
        if self.families is not None:
            self.families.watch_resyncs.labels(backend, reason).inc()

    # --- discovery, balancing, config
    def instances_changed(self, total: int, up: int) -> None:
        if self.families is not None:
            self.families.instances.inc(total)
            self.families.instances_up.inc(up)

    def service_instances_changed(self, service: str, total: int, up: int) -> None:
        if self.families is not None:
            self.families.service_instances.labels(service).inc(total)
            self.families.service_instances_up.labels(service).inc(up)

    def balancer_event(self, event: str) -> None:
        f = self.families
        if f is None:
            return
        if event == "pick":  # the hot one: a bound child, no label lookup
            self._pick.inc()
        elif event == "no_instance":
            self._no_instance.inc()
        else:
            f.balancer[event].inc()

    def config_changes(self, outcome: str, count: int) -> None:
        if self.families is not None:
            self.families.config.labels(outcome).inc(count)
