"""Outlier ejection: take an instance out of rotation after consecutive failures.

An instance that fails ``consecutive_failures`` times in a row is ejected for
``base_time * 2**k`` seconds (capped at ``max_time``), where ``k`` counts its recent
ejections, then returns by itself. ``k`` goes down by one for every ``base_time`` the
instance then serves without being ejected again, so a flapping instance stays out longer
and longer while one that recovered is forgiven.

At most ``floor(n * max_ejection_percent / 100)`` of the ``n`` candidates are ejected at any
time: when many instances fail at once the fault is more likely on the caller's side (or the
whole service is down), and ejecting them all would only turn errors into "no instance".
Only failures count (see ``Balancer(failure=...)``); the latency of slow successes is the
load-aware strategies' business.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..discovery.instance import ServiceInstance
from ..errors import ConfigurationError

__all__ = ["OutlierEjection"]


@dataclass
class _Health:
    failures: int = 0  # consecutive
    ejections: int = 0  # the k of base * 2**k
    until: float | None = None  # ejected until (clock time), None while in rotation
    back_since: float = 0.0  # when k last changed or the instance last returned


class OutlierEjection:
    """Consecutive-failure ejection with exponential back-off; one per balancer.

    Thread-safe; every method takes a short internal lock and never calls out.
    """

    def __init__(
        self,
        *,
        consecutive_failures: int = 5,
        base_time: float = 10.0,
        max_time: float = 300.0,
        max_ejection_percent: float = 50.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if consecutive_failures < 1:
            raise ConfigurationError(f"consecutive_failures must be at least 1, not {consecutive_failures!r}")
        if not 0 < base_time <= max_time:
            raise ConfigurationError(
                f"need 0 < base_time <= max_time, got base_time={base_time!r}, max_time={max_time!r}"
            )
        if not 0 <= max_ejection_percent <= 100:
            raise ConfigurationError(
                f"max_ejection_percent must be within 0..100, not {max_ejection_percent!r}"
            )
        self.consecutive_failures = consecutive_failures
        self.base_time = float(base_time)
        self.max_time = float(max_time)
        self.max_ejection_percent = float(max_ejection_percent)
        self.clock = clock
        self._health: dict[str, _Health] = {}
        self._ejected: set[str] = set()
        self._lock = threading.Lock()

    def max_ejected(self, candidates: int) -> int:
        """How many of ``candidates`` instances may be ejected at once."""
        return math.floor(candidates * self.max_ejection_percent / 100.0 + 1e-9)

    def ejection_time(self, previous_ejections: int) -> float:
        """How long the next ejection lasts after ``previous_ejections`` recent ones."""
        return min(self.base_time * 2.0 ** min(previous_ejections, 62), self.max_time)

    def record(self, instance_id: str, ok: bool, candidates: int) -> bool:
        """Record one outcome for ``instance_id`` among ``candidates`` instances; True when
        this outcome ejected it (the caller then rebuilds its candidate set)."""
        now = self.clock()
        with self._lock:
            health = self._health.setdefault(instance_id, _Health(back_since=now))
            if health.until is not None:  # a request that was in flight when it was ejected
                return False
            if ok:
                health.failures = 0
                if health.ejections and now - health.back_since >= self.base_time:
                    health.ejections -= 1
                    health.back_since = now
                return False
            health.failures += 1
            if health.failures < self.consecutive_failures or len(self._ejected) >= self.max_ejected(
                candidates
            ):
                return False
            health.until = now + self.ejection_time(health.ejections)
            health.ejections += 1
            health.failures = 0
            self._ejected.add(instance_id)
            return True

    def partition(
        self, candidates: Sequence[ServiceInstance]
    ) -> tuple[tuple[ServiceInstance, ...], tuple[ServiceInstance, ...], float]:
        """Split ``candidates`` into (in rotation, ejected, when the next one returns).

        Returns instances whose time is up, forgets instances that left, and releases the
        earliest-returning extras if the set shrank below what the cap allows.
        """
        now = self.clock()
        with self._lock:
            present = {c.id for c in candidates}
            for gone in [i for i in self._health if i not in present]:
                del self._health[gone]
            self._ejected &= present
            due = [i for i in self._ejected if self._health[i].until <= now]  # type: ignore[operator]
            surplus = len(self._ejected) - len(due) - self.max_ejected(len(candidates))
            if surplus > 0:
                rest = sorted(self._ejected.difference(due), key=lambda i: self._health[i].until or 0.0)
                due.extend(rest[:surplus])
            for instance_id in due:
                health = self._health[instance_id]
                health.until, health.failures, health.back_since = None, 0, now
                self._ejected.discard(instance_id)
            ejected = self._ejected
            eligible = tuple(c for c in candidates if c.id not in ejected)
            out = tuple(c for c in candidates if c.id in ejected)
            next_return = min((self._health[i].until or math.inf for i in ejected), default=math.inf)
            return eligible, out, next_return

    def __repr__(self) -> str:
        return (
            f"OutlierEjection(consecutive_failures={self.consecutive_failures}, "
            f"base_time={self.base_time}, max_time={self.max_time}, "
            f"max_ejection_percent={self.max_ejection_percent})"
        )
