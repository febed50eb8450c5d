"""Where a balancer gets its instances: a live discovery cache or a fixed list."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, runtime_checkable

from ..discovery.instance import ServiceInstance

__all__ = ["InstanceSource", "InstancesListener", "StaticInstances"]

InstancesListener = Callable[[Sequence[ServiceInstance]], None]


@runtime_checkable
class InstanceSource(Protocol):
    """What a :class:`~coordkit.balancing.Balancer` needs from its source of instances.

    :class:`coordkit.discovery.cache.ServiceCache` (from ``client.discover(name)``) is one;
    :class:`StaticInstances` is another, for tests and fixed fleets.
    ``instances`` is read from memory on every rebuild; listeners are called after each
    change with the new instances; ``stale`` is True while the source serves a last known
    state because its backend is unreachable.
    """

    @property
    def name(self) -> str: ...

    @property
    def instances(self) -> Sequence[ServiceInstance]: ...

    @property
    def stale(self) -> bool: ...

    def add_listener(self, callback: InstancesListener) -> None: ...

    def close(self) -> None: ...


class StaticInstances:
    """A fixed (but replaceable) list of instances that behaves like a discovery cache.

    Use it in tests, or to balance over addresses known in advance::

        source = StaticInstances([ServiceInstance("pay", "a", "10.0.0.1", 8080), ...])
        balancer = Balancer(source, "least_outstanding")
        source.set([...])          # listeners (the balancer) see the change at once
    """

    def __init__(self, instances: Iterable[ServiceInstance], *, name: str | None = None) -> None:
        self._instances: tuple[ServiceInstance, ...] = tuple(instances)
        self._name = name if name is not None else (self._instances[0].name if self._instances else "static")
        self._listeners: list[InstancesListener] = []
        self._lock = threading.Lock()
        self.stale = False
        self.closed = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def instances(self) -> tuple[ServiceInstance, ...]:
        return self._instances

    def add_listener(self, callback: InstancesListener) -> None:
        with self._lock:
            self._listeners.append(callback)

    def remove_listener(self, callback: InstancesListener) -> None:
        with self._lock:
            if callback in self._listeners:
                self._listeners.remove(callback)

    def set(self, instances: Iterable[ServiceInstance]) -> None:
        """Replace the instances and call every listener (in the caller's thread)."""
        self._instances = tuple(instances)
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(self._instances)

    def close(self) -> None:
        self.closed = True

    def __repr__(self) -> str:
        return f"StaticInstances({self._name!r}, {len(self._instances)} instances)"
