"""The instances a discovery cache holds, kept sorted, with one change costing O(log n).

Shared by the thread cache (:mod:`.cache`) and the asyncio one (:mod:`coordkit.aio.discovery`).
A change is one dict operation, one bisect and one list insert or delete (a memmove of
pointers) on the instances that pass the status filter, plus O(1) counts for the probe; an
instance that sorts after every other (a cold start reads them in order) is appended, O(1).
The published tuple is built from the sorted list (one C-level copy) at most once per change,
and only when someone reads it, so a cold start of n instances costs n changes and one tuple,
not n tuples.

Not thread-safe by itself: the owner calls every method under its own lock (the thread
cache) or on its one loop (the asyncio cache). A method that raises leaves the set as it
was: the only operation that can fail is the comparison of two instances, made before any
structure is touched.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from .instance import UP, ServiceInstance

__all__ = ["SortedInstances"]

_Place = tuple[str, str, str]  # (service, id, key): the sort order of the instances


class SortedInstances:
    """Instances by key; those whose status is in ``statuses`` (None: all) sorted by
    (service, id, key), which is id order within one service."""

    __slots__ = ("_by_key", "_counts", "_order", "_published", "_statuses", "_wanted")

    def __init__(self, statuses: Iterable[str] | None) -> None:
        self._statuses = None if statuses is None else frozenset(statuses)
        self._by_key: dict[str, ServiceInstance] = {}  # every instance, whatever its status
        self._order: list[_Place] = []  # sorted places of the wanted instances only
        self._wanted: list[ServiceInstance] = []  # parallel to _order
        self._counts: dict[str, list[int]] = {}  # service -> [total, up], over every instance
        self._published: tuple[ServiceInstance, ...] | None = ()

    def __len__(self) -> int:
        """How many instances pass the filter (what the published tuple holds)."""
        return len(self._wanted)

    @property
    def published(self) -> tuple[ServiceInstance, ...] | None:
        """The tuple built since the last change, or None if none was built yet."""
        return self._published

    def snapshot(self) -> tuple[ServiceInstance, ...]:
        """The wanted instances in order, as one immutable tuple (built once per change)."""
        found = self._published
        if found is None:
            found = self._published = tuple(self._wanted)
        return found

    def put(self, key: str, instance: ServiceInstance | None) -> bool:
        """Hold ``instance`` under ``key`` (None: drop the key); True if anything changed."""
        old = self._by_key.get(key)
        if instance == old:
            return False
        if old is not None:
            del self._by_key[key]
            self._count(old, -1)
            if self._passes(old):
                index = bisect.bisect_left(self._order, (old.name, old.id, key))
                del self._order[index], self._wanted[index]
        if instance is not None:
            self._by_key[key] = instance
            self._count(instance, 1)
            if self._passes(instance):
                place, order = (instance.name, instance.id, key), self._order
                if not order or order[-1] < place:  # arriving in order (a cold start): no search
                    order.append(place)
                    self._wanted.append(instance)
                else:
                    index = bisect.bisect_left(order, place)
                    order.insert(index, place)
                    self._wanted.insert(index, instance)
        self._published = None
        return True

    def _passes(self, instance: ServiceInstance) -> bool:
        return self._statuses is None or instance.status in self._statuses

    def _count(self, instance: ServiceInstance, step: int) -> None:
        counts = self._counts.get(instance.name)
        if counts is None:
            counts = self._counts[instance.name] = [0, 0]
        counts[0] += step
        counts[1] += step if instance.status == UP else 0
        if not counts[0]:
            del self._counts[instance.name]

    # --- counts, for the probe ------------------------------------------------------------
    @property
    def total(self) -> int:
        """Every instance held, whatever its status."""
        return len(self._by_key)

    @property
    def up(self) -> int:
        return sum(up for _, up in self._counts.values())

    def by_service(self) -> dict[str, tuple[int, int]]:
        """``{service: (total, up)}`` over every instance held (one entry per service)."""
        return {service: (total, up) for service, (total, up) in self._counts.items()}
