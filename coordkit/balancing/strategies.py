"""Load-balancing strategies: how one instance is picked from the current candidates.

A strategy is a small stateful object serving one balancer. The balancer calls
:meth:`Strategy.update` when the candidate set changes (so precomputed state is rebuilt only
then), :meth:`Strategy.pick` per request, and :meth:`Strategy.on_start` /
:meth:`Strategy.on_result` around each tracked request. ``pick`` is the hot path: it takes no
lock, allocates nothing per call, and costs the same with 10 or 10,000 instances.

By name (``Balancer(source, "peak_ewma")``): ``round_robin``, ``random``, ``weighted``,
``least_outstanding``, ``peak_ewma`` and ``consistent_hash`` (in :mod:`.hashring`).
"""

from __future__ import annotations

import itertools
import math
import random
import threading
import time
from collections.abc import Callable, Container, Sequence
from typing import ClassVar, Literal

from ..discovery.instance import ServiceInstance
from ..errors import ConfigurationError

__all__ = [
    "LeastOutstanding",
    "PeakEwma",
    "RandomChoice",
    "RoundRobin",
    "Strategy",
    "StrategyName",
    "Weighted",
    "smooth_schedule",
]

Instances = Sequence[ServiceInstance]
#: The strategies a balancer takes by name (``STRATEGIES`` maps each to its class): a name
#: outside it fails type-checking, and is a ConfigurationError at run time.
StrategyName = Literal[
    "round_robin", "random", "weighted", "least_outstanding", "peak_ewma", "consistent_hash"
]


def two_choices(
    instances: Instances, uniform: Callable[[], float]
) -> tuple[ServiceInstance, ServiceInstance]:
    """Two distinct instances drawn uniformly (power of two choices); needs at least two."""
    n = len(instances)
    first = int(uniform() * n)
    second = int(uniform() * (n - 1))
    if second >= first:
        second += 1
    return instances[first], instances[second]


class Strategy:
    """Base of every strategy; subclass it and override :meth:`pick` (at least).

    ``instances`` given to ``pick`` is never empty and is the same object for as long as the
    candidate set does not change, so a strategy may key precomputed state on its identity.
    """

    name: ClassVar[str] = ""

    def update(self, instances: Instances) -> None:
        """Rebuild precomputed state for a new candidate set (called only on changes)."""

    def pick(self, instances: Instances, key: object = None) -> ServiceInstance:
        """Return one of ``instances`` (non-empty); ``key`` matters to hashing strategies."""
        raise NotImplementedError

    def pick_other(
        self, instances: Instances, key: object, exclude: Container[str]
    ) -> ServiceInstance | None:
        """Pick an instance whose id is not in ``exclude`` (used to retry elsewhere), or
        None when every instance is excluded. The default asks :meth:`pick` a few times,
        then takes the first acceptable instance from a random starting point."""
        for _ in range(3):
            chosen = self.pick(instances, key)
            if chosen.id not in exclude:
                return chosen
        n = len(instances)
        start = random.randrange(n)
        for offset in range(n):
            candidate = instances[(start + offset) % n]
            if candidate.id not in exclude:
                return candidate
        return None

    def on_start(self, instance: ServiceInstance) -> None:
        """A request to ``instance`` starts."""

    def on_result(self, instance: ServiceInstance, latency: float, ok: bool) -> None:
        """A request to ``instance`` ended after ``latency`` seconds; ``ok`` is False when
        it failed (a failure that counts against the instance)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _random_source(rng: random.Random | None) -> Callable[[], float]:
    return (rng or random.Random()).random


class RoundRobin(Strategy):
    """Each instance in turn. Every ``n`` consecutive picks visit each of ``n`` instances
    exactly once. Each balancer starts at a random position, so that many clients started
    together do not all hit the first instance first."""

    name = "round_robin"

    def __init__(self, *, rng: random.Random | None = None) -> None:
        # itertools.count advances atomically under the GIL: no lock on the hot path.
        self._counter = itertools.count(int(_random_source(rng)() * 65536))

    def pick(self, instances: Instances, key: object = None) -> ServiceInstance:
        return instances[next(self._counter) % len(instances)]


class RandomChoice(Strategy):
    """A uniformly random instance (weights ignored; use ``weighted`` for those)."""

    name = "random"

    def __init__(self, *, rng: random.Random | None = None) -> None:
        self._random = _random_source(rng)

    def pick(self, instances: Instances, key: object = None) -> ServiceInstance:
        return instances[int(self._random() * len(instances))]


_GOLDEN = (5**0.5 - 1) / 2  # low-discrepancy phases: (k * golden) mod 1


def smooth_schedule(weights: Sequence[int], *, limit: int = 1 << 20) -> list[int]:
    """The smooth weighted round-robin cycle for ``weights``, as a list of indexes.

    Index ``i`` appears exactly ``weights[i]`` times per cycle (after dividing every weight by
    their gcd), spread evenly: its ``j``-th appearance is ordered by the deadline
    ``(j + phase_i) / weights[i]``, the earliest-deadline-first order that an EDF heap would
    produce one pick at a time. The phases are a golden-ratio sequence, so that instances of
    equal weight take turns instead of arriving together. Zero weights get no slot; all-zero
    weights count as equal.
    A cycle longer than ``limit`` is scaled down proportionally (weights then only
    approximately honoured), which keeps memory bounded for extreme weights.
    """
    clean = [max(0, int(w)) for w in weights]
    if not any(clean):
        clean = [1] * len(clean)
    divisor = math.gcd(*clean)
    clean = [w // divisor for w in clean]
    total = sum(clean)
    if total > limit:
        clean = [max(1, w * limit // total) if w else 0 for w in clean]
    entries = sorted(
        ((j + (index + 1) * _GOLDEN % 1.0) / w, index) for index, w in enumerate(clean) for j in range(w)
    )
    return [index for _, index in entries]


class Weighted(Strategy):
    """Smooth weighted round robin over the registration weights.

    The cycle is computed once per candidate set (:func:`smooth_schedule`), so a pick is one
    counter step and one list index: O(1), lock-free. Over any window of one cycle each
    instance is picked exactly in proportion to its weight; weight 0 drains an instance.
    """

    name = "weighted"

    def __init__(self, *, rng: random.Random | None = None) -> None:
        self._counter = itertools.count(int(_random_source(rng)() * 65536))
        self._state: tuple[object, list[ServiceInstance]] = (None, [])
        self._previous: tuple[object, list[ServiceInstance]] = self._state

    def update(self, instances: Instances) -> None:
        order = smooth_schedule([instance.weight for instance in instances])
        self._previous, self._state = self._state, (instances, [instances[i] for i in order])

    def pick(self, instances: Instances, key: object = None) -> ServiceInstance:
        built_for, cycle = self._state
        if built_for is not instances:
            # a pick racing with a change may still hold the previous set: keep its cycle
            built_for, cycle = self._previous
            if built_for is not instances:
                self.update(instances)
                cycle = self._state[1]
        return cycle[next(self._counter) % len(cycle)]


class _Outstanding(Strategy):
    """Counts requests in flight per instance id (shared by the load-aware strategies).

    Writers take a short lock (``+=`` on a dict value is not atomic across threads); the
    pick path only reads.
    """

    def __init__(self) -> None:
        self._pending: dict[str, int] = {}
        self._pending_lock = threading.Lock()

    def outstanding(self, instance: ServiceInstance) -> int:
        """Requests to ``instance`` started and not yet ended."""
        return self._pending.get(instance.id, 0)

    def on_start(self, instance: ServiceInstance) -> None:
        with self._pending_lock:
            self._pending[instance.id] = self._pending.get(instance.id, 0) + 1

    def on_result(self, instance: ServiceInstance, latency: float, ok: bool) -> None:
        with self._pending_lock:
            left = self._pending.get(instance.id, 0) - 1
            if left > 0:
                self._pending[instance.id] = left
            else:
                self._pending.pop(instance.id, None)


class LeastOutstanding(_Outstanding):
    """Power of two choices on outstanding requests: draw two distinct instances at random
    and take the one with fewer requests in flight. Nearly as good as scanning for the
    least loaded, without the scan, and without herding every client onto one instance."""

    name = "least_outstanding"

    def __init__(self, *, rng: random.Random | None = None) -> None:
        super().__init__()
        self._random = _random_source(rng)

    def pick(self, instances: Instances, key: object = None) -> ServiceInstance:
        if len(instances) == 1:
            return instances[0]
        a, b = two_choices(instances, self._random)
        pending = self._pending
        return b if pending.get(b.id, 0) < pending.get(a.id, 0) else a


class _Cost:
    __slots__ = ("stamp", "value")

    def __init__(self, value: float, stamp: float) -> None:
        self.value = value
        self.stamp = stamp


# An instance with requests in flight but no latency observed yet looks this expensive, so
# that a new instance takes one probe at a time until it has a record (Finagle's choice).
_UNKNOWN_PENALTY = 1e6


class PeakEwma(_Outstanding):
    """Power of two choices on ``peak-EWMA latency x (outstanding + 1)``.

    Each instance's latency estimate jumps up at once to any slower observation (the
    "peak") and otherwise moves towards new observations as an exponentially weighted
    average whose memory is ``decay`` seconds of wall time. Estimates also decay towards 0
    while an instance is not observed, so an instance that was slow is tried again later.
    A failed request counts as at least ``failure_penalty`` seconds, so an instance that
    fails fast does not attract traffic.
    """

    name = "peak_ewma"

    def __init__(
        self,
        *,
        decay: float = 10.0,
        failure_penalty: float = 1.0,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        if decay <= 0:
            raise ConfigurationError(f"decay must be a positive number of seconds, not {decay!r}")
        self._tau = float(decay)
        self._failure_penalty = float(failure_penalty)
        self._random = _random_source(rng)
        self._clock = clock
        self._costs: dict[str, _Cost] = {}
        self._cost_lock = threading.Lock()

    def update(self, instances: Instances) -> None:
        with self._cost_lock:  # forget instances that left, so the dict stays bounded
            self._costs = {i.id: self._costs[i.id] for i in instances if i.id in self._costs}

    def load(self, instance: ServiceInstance, now: float | None = None) -> float:
        """The load the strategy compares: decayed peak-EWMA latency x (outstanding + 1)."""
        pending = self._pending.get(instance.id, 0)
        cost = self._costs.get(instance.id)
        if cost is None or cost.value == 0.0:
            return _UNKNOWN_PENALTY + pending if pending else 0.0
        if now is None:
            now = self._clock()
        return cost.value * math.exp((cost.stamp - now) / self._tau) * (pending + 1)

    def pick(self, instances: Instances, key: object = None) -> ServiceInstance:
        if len(instances) == 1:
            return instances[0]
        a, b = two_choices(instances, self._random)
        now = self._clock()
        return b if self.load(b, now) < self.load(a, now) else a

    def on_result(self, instance: ServiceInstance, latency: float, ok: bool) -> None:
        super().on_result(instance, latency, ok)
        rtt = latency if ok else max(latency, self._failure_penalty)
        now = self._clock()
        with self._cost_lock:
            cost = self._costs.get(instance.id)
            if cost is None:
                self._costs[instance.id] = _Cost(rtt, now)
                return
            weight = math.exp(-max(now - cost.stamp, 0.0) / self._tau)
            cost.value = rtt if rtt > cost.value else cost.value * weight + rtt * (1.0 - weight)
            cost.stamp = now

    def __repr__(self) -> str:
        return f"PeakEwma(decay={self._tau}, failure_penalty={self._failure_penalty})"
