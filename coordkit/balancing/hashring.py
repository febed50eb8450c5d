"""Consistent hashing with bounded loads (the ``consistent_hash`` strategy).

Each instance owns ``replicas`` points on a 64-bit ring, derived from its id alone, so an
instance joining or leaving moves only the keys on its own arcs (about ``1/n`` of them) and
every process maps a key to the same instance. A key goes to the owner of the first point
clockwise from the key's hash.

With ``load_factor=c`` (default 1.25) the walk skips instances that already have
``ceil(c * (in_flight + 1) / n)`` requests in flight, as in Mirrokni, Thorup and Zadimoghaddam,
"Consistent Hashing with Bounded Loads" (2016): no instance then carries more than ``c`` times
the average load, while keys still stay put whenever their instance has room.
"""

from __future__ import annotations

import hashlib
import math
import random
import struct
from array import array
from bisect import bisect_left
from collections.abc import Container, Sequence

from ..discovery.instance import ServiceInstance
from ..errors import ConfigurationError
from .strategies import _Outstanding

__all__ = ["ConsistentHash", "hash_key"]

Instances = Sequence[ServiceInstance]
_POINTS_PER_DIGEST = 8  # one 64-byte BLAKE2b digest yields eight 64-bit ring points
_INDEX_BITS = 24  # instance index packed under each point while sorting (16M instances)


def hash_key(key: object) -> int:
    """The ring position of ``key`` (str, bytes or int): a BLAKE2b hash, not Python's
    ``hash()``, which differs between processes."""
    if isinstance(key, str):
        data = key.encode("utf-8")
    elif isinstance(key, (bytes, bytearray, memoryview)):
        data = bytes(key)
    elif isinstance(key, int):
        data = str(key).encode("ascii")
    else:
        raise ConfigurationError(f"a consistent-hash key must be str, bytes or int, not {type(key).__name__}")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def _instance_points(instance_id: str, replicas: int) -> list[int]:
    points: list[int] = []
    for block in range(-(-replicas // _POINTS_PER_DIGEST)):
        digest = hashlib.blake2b(f"{instance_id}#{block}".encode(), digest_size=64).digest()
        points.extend(struct.unpack(">8Q", digest))
    return points[:replicas]


class _Ring:
    __slots__ = ("built_for", "owners", "points")

    def __init__(self, built_for: object, points: array[int], owners: array[int]) -> None:
        self.built_for = built_for
        self.points = points
        self.owners = owners


def _build_ring(instances: Instances, replicas: int) -> _Ring:
    if len(instances) >= 1 << _INDEX_BITS:
        raise ConfigurationError(f"consistent_hash supports fewer than {1 << _INDEX_BITS} instances")
    # Sorting plain ints (point << bits | index) is much cheaper than sorting tuples.
    packed = sorted(
        (point << _INDEX_BITS) | index
        for index, instance in enumerate(instances)
        for point in _instance_points(instance.id, replicas)
    )
    mask = (1 << _INDEX_BITS) - 1
    return _Ring(
        instances, array("Q", [p >> _INDEX_BITS for p in packed]), array("I", [p & mask for p in packed])
    )


class ConsistentHash(_Outstanding):
    """Sticky routing on ``pick(key=...)``: a hash ring with virtual nodes and bounded loads.

    ``replicas`` points per instance (default 100: loads within about 10% of even);
    ``load_factor`` ``c > 1`` caps each instance at ``c`` times the average number of requests
    in flight (tracked through ``on_start``/``on_result``, which ``Balancer.call`` does), or
    ``None`` for plain consistent hashing. A pick without a key goes to a random instance.
    """

    name = "consistent_hash"

    def __init__(
        self, *, replicas: int = 100, load_factor: float | None = 1.25, rng: random.Random | None = None
    ) -> None:
        super().__init__()
        if replicas < 1:
            raise ConfigurationError(f"replicas must be at least 1, not {replicas!r}")
        if load_factor is not None and load_factor <= 1.0:
            raise ConfigurationError(f"load_factor must be greater than 1 (e.g. 1.25), not {load_factor!r}")
        self._replicas = replicas
        self._load_factor = load_factor
        self._random = (rng or random.Random()).random
        self._ring = self._previous = _Ring(None, array("Q"), array("I"))
        self._in_flight = 0

    def update(self, instances: Instances) -> None:
        ring = _build_ring(instances, self._replicas)
        self._previous, self._ring = self._ring, ring

    def _ring_for(self, instances: Instances) -> _Ring:
        ring = self._ring
        if ring.built_for is instances:
            return ring
        # A pick that read the balancer's candidates just before a change still finds the
        # ring it needs, instead of rebuilding it (seconds for 10,000 instances).
        previous = self._previous
        if previous.built_for is instances:
            return previous
        self.update(instances)
        return self._ring

    def capacity(self, n: int) -> int | None:
        """Requests in flight one instance may carry before keys spill to the next one."""
        if self._load_factor is None:
            return None
        return math.ceil(self._load_factor * (self._in_flight + 1) / n)

    def pick(self, instances: Instances, key: object = None) -> ServiceInstance:
        if key is None:
            return instances[int(self._random() * len(instances))]
        ring = self._ring_for(instances)
        points, owners = ring.points, ring.owners
        position = bisect_left(points, hash_key(key))
        if position == len(points):
            position = 0
        home = instances[owners[position]]
        cap = self.capacity(len(instances))
        if cap is None or self._pending.get(home.id, 0) < cap:
            return home
        return self._walk(instances, ring, position, (), cap) or home

    def _walk(
        self, instances: Instances, ring: _Ring, position: int, exclude: Container[str], cap: int | None
    ) -> ServiceInstance | None:
        """The first instance clockwise from ``position`` not excluded and under ``cap``."""
        pending, owners, size = self._pending, ring.owners, len(ring.owners)
        for step in range(size):  # bounded: a full turn visits every instance
            candidate = instances[owners[(position + step) % size]]
            if candidate.id in exclude:
                continue
            if cap is None or pending.get(candidate.id, 0) < cap:
                return candidate
        return None

    def pick_other(
        self, instances: Instances, key: object, exclude: Container[str]
    ) -> ServiceInstance | None:
        """The next instance clockwise that is not excluded (so a retried key still lands on
        the same fallback instance every time), preferring one under the load cap."""
        if key is None:
            return super().pick_other(instances, key, exclude)
        ring = self._ring_for(instances)
        position = bisect_left(ring.points, hash_key(key)) % len(ring.points)
        cap = self.capacity(len(instances))
        return self._walk(instances, ring, position, exclude, cap) or self._walk(
            instances, ring, position, exclude, None
        )

    def on_start(self, instance: ServiceInstance) -> None:
        with self._pending_lock:
            self._pending[instance.id] = self._pending.get(instance.id, 0) + 1
            self._in_flight += 1

    def on_result(self, instance: ServiceInstance, latency: float, ok: bool) -> None:
        with self._pending_lock:
            left = self._pending.get(instance.id, 0) - 1
            if left > 0:
                self._pending[instance.id] = left
            else:
                self._pending.pop(instance.id, None)
            if left >= 0:
                self._in_flight -= 1

    def __repr__(self) -> str:
        return f"ConsistentHash(replicas={self._replicas}, load_factor={self._load_factor})"
