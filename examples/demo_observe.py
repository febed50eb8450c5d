"""What the demo sees through coordkit while the system runs: payment-service's registered
instances, the settlement leader and the settlement batches, each with the time it changed."""

from __future__ import annotations

import itertools
import json
import threading
import time

import coordkit
from coordkit.errors import CoordkitError

from .payment_service import SERVICE as PAYMENT_SERVICE
from .settlement_worker import BATCH_KEY, ELECTION

__all__ = ["Observer"]


class Observer:
    """Watches through ``client`` (the demo's own) and records, with ``time.time()``:
    the instance sets of payment-service, every change of settlement leader, every batch."""

    def __init__(self, client: coordkit.Client) -> None:
        self.client = client
        self._lock = threading.Lock()
        self.instances: list[tuple[float, frozenset[str]]] = []
        self.leaders: list[tuple[float, coordkit.Leader | None]] = []
        self.batches: list[tuple[float, dict[str, object]]] = []
        self.election = client.election(ELECTION)
        self.cache = client.discover(PAYMENT_SERVICE)
        self.cache.add_listener(self._on_instances)
        self._on_instances(self.cache.instances)
        # A change among the candidates wakes a thread of ours that reads the leader: a watch's
        # callback should not wait for a round trip of its own.
        self._candidates_changed = threading.Event()
        self._closed = False
        self._reader = threading.Thread(target=self._follow_leader, name="demo-leader", daemon=True)
        self._leader_watch = client.watch(
            ELECTION, lambda _event: self._candidates_changed.set(), recursive=True
        )
        self._batch_watch = client.watch(BATCH_KEY, self._on_batch)
        self._read_leader()
        self._reader.start()

    def close(self) -> None:
        self._closed = True
        self._candidates_changed.set()
        self._reader.join(5)
        self._batch_watch.cancel()
        self._leader_watch.cancel()
        self.cache.close()

    def _follow_leader(self) -> None:
        while True:
            self._candidates_changed.wait()
            self._candidates_changed.clear()
            if self._closed:
                return
            self._read_leader()

    # --- recording ---------------------------------------------------------------------------------
    def _on_instances(self, instances: tuple[coordkit.ServiceInstance, ...]) -> None:
        ids = frozenset(i.id for i in instances)
        with self._lock:
            if not self.instances or self.instances[-1][1] != ids:
                self.instances.append((time.time(), ids))

    def _read_leader(self) -> None:
        try:
            leader = self.election.leader()
        except CoordkitError:
            return  # the next change reads again
        with self._lock:
            if not self.leaders or self.leaders[-1][1] != leader:
                self.leaders.append((time.time(), leader))

    def _on_batch(self, event: coordkit.WatchEvent) -> None:
        if event.entry is None:
            return
        try:
            record = json.loads(event.entry.value)
        except ValueError:
            return
        with self._lock:
            self.batches.append((time.time(), record))

    # --- questions ---------------------------------------------------------------------------------
    def registered(self) -> frozenset[str]:
        with self._lock:
            return self.instances[-1][1] if self.instances else frozenset()

    def left_at(self, instance: str) -> float | None:
        """When ``instance`` was last seen leaving the registered set (None: it is still in it)."""
        with self._lock:
            history = list(self.instances)
        if history and instance in history[-1][1]:
            return None
        departures = [
            at
            for (_, before), (at, after) in itertools.pairwise(history)
            if instance in before and instance not in after
        ]
        return departures[-1] if departures else None

    def leader(self) -> coordkit.Leader | None:
        with self._lock:
            return self.leaders[-1][1] if self.leaders else None

    def leader_since(self, proposal: str, after: float) -> float | None:
        """When ``proposal`` became leader after ``after`` (None: it has not)."""
        with self._lock:
            for at, leader in self.leaders:
                if at >= after and leader is not None and leader.proposal == proposal:
                    return at
        return None

    def batches_by(self) -> dict[str, int]:
        with self._lock:
            counts: dict[str, int] = {}
            for _, record in self.batches:
                counts[str(record.get("leader"))] = counts.get(str(record.get("leader")), 0) + 1
        return counts
