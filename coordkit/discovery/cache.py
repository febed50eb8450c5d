"""Live discovery caches: instances in memory, kept current by one watch.

How a cache starts without missing a change: the watch starts first, then the initial read,
and the two are reconciled.

* etcd and memory: the watch starts from "now" (revision R0); the initial read is one
  range read at revision R1 >= R0. Events at or below R1 are already in that read and are
  dropped; the later ones are applied. Revisions are exact, so nothing is lost or doubled.
* ZooKeeper: a separate read cannot be reconciled with a watch exactly (ZooKeeper keeps no
  history of deletions, and a watch may fold a create and a delete into nothing), so the
  watch itself supplies the initial state: it reads the nodes pipelined, level by level,
  and delivers each as a change. One listing (one round trip for a service) then tells
  when every instance present at that time has arrived. The cache is therefore always
  exactly what the watch has delivered, and converges as the watch does.

After that, each change is applied under a lock in O(log n) (:mod:`._sorted_instances`: one
dict operation and one bisect into the sorted list, no rebuild) and the instances are read as
one immutable, sorted tuple, built under that lock at most once per change, by the first read
after it (or for the listeners): a reader sees the instances before or after a change, never
half of one. A cold start of n instances builds one tuple, not n.
Reconnects and new sessions need nothing here: the backend watch resynchronises by diffing
what it has delivered against a fresh read and delivers the difference.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import TYPE_CHECKING

from ..backends import probe as probes
from ..backends.base import Entry, WatchEvent
from ..core.states import SessionEvent, SessionState
from ..core.watch import WatchHandle
from ._checks import DEFAULT_BASE, check_base, check_service, check_statuses, service_path, split_key
from ._sorted_instances import SortedInstances
from .formats import format_for
from .instance import UP, ServiceInstance
from .registry import decode_entry

if TYPE_CHECKING:
    from ..core.store import Store

__all__ = ["InstancesListener", "RegistryCache", "ServiceCache"]

log = logging.getLogger(__name__)
InstancesListener = Callable[[tuple[ServiceInstance, ...]], None]


class _LiveInstances:
    """The machinery shared by :class:`ServiceCache` and :class:`RegistryCache`: a watch on
    ``path``, the reconciled start, the sorted tuple, listeners and staleness."""

    def __init__(self, client: Store, path: str, statuses: Collection[str] | None) -> None:
        self._client = client
        self._path = path
        self._format = format_for(client.backend.capabilities.layout)
        self._cond = threading.Condition()
        self._held = SortedInstances(statuses)  # changed and read under _cond
        self._counted = (0, 0)  # (total, up) last told to the probe, taken back at close
        self._counted_by: dict[str, tuple[int, int]] = {}  # the same per service, if asked
        self._pending: list[WatchEvent] | None = None  # events held back during the initial read
        self._seen: set[str] | None = None  # keys delivered while ZooKeeper's watch starts
        self._awaited: set[str] | None = None  # keys listed at the start, not delivered yet
        self._listeners: list[InstancesListener] = []
        self._closed = False
        self._watch: WatchHandle | None = None
        client.add_listener(self._on_session)
        try:
            if not client.backend.capabilities.atomic_subtree_reads:
                self._start_from_watch()
            else:
                self._start_from_read()
        except BaseException:
            self.close()
            raise

    def _locate(self, key: str) -> tuple[str, str] | None:
        """``(service, id)`` of an instance key, None for any other key."""
        raise NotImplementedError

    def _present(self) -> set[str]:
        """The instance keys present now (ZooKeeper's start waits until each has arrived)."""
        raise NotImplementedError

    def __enter__(self) -> _LiveInstances:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reading ---------------------------------------------------------------------------
    @property
    def instances(self) -> tuple[ServiceInstance, ...]:
        """The live instances, sorted by id (no network call: one attribute read, and on
        the first read after a change one copy of the sorted list, under the cache's lock)."""
        found = self._held.published
        if found is None:
            with self._cond:
                found = self._held.snapshot()
        return found

    @property
    def stale(self) -> bool:
        """True while the store is unreachable (session SUSPENDED or LOST) or the cache is
        closed: :attr:`instances` is then the last state known, possibly out of date. Read
        from the session itself: it agrees with ``client.state`` at any time, also before the
        session's listeners have run."""
        return self._closed or self._client.state is not SessionState.CONNECTED

    @property
    def path(self) -> str:
        """The watched path in the store, e.g. ``/services/payment``."""
        return self._path

    def __len__(self) -> int:
        return len(self.instances)

    def __iter__(self) -> Iterator[ServiceInstance]:
        return iter(self.instances)

    def wait_for(
        self, predicate: Callable[[tuple[ServiceInstance, ...]], bool], timeout: float | None = None
    ) -> bool:
        """Wait until ``predicate(instances)`` is true; False if ``timeout`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self._held.snapshot()), timeout)

    # --- listeners -------------------------------------------------------------------------
    def add_listener(self, callback: InstancesListener) -> None:
        """Call ``callback(instances)`` with the new tuple after each change, in order, on
        the watch's thread (one at a time; do not block in it). A callback that raises is
        logged and does not stop the others."""
        with self._cond:
            self._listeners.append(callback)

    def remove_listener(self, callback: InstancesListener) -> None:
        with self._cond:
            if callback in self._listeners:
                self._listeners.remove(callback)

    def close(self) -> None:
        """Stop the watch and the listeners; :attr:`instances` keeps its last value.
        Idempotent; returns once no listener runs (unless called from a listener)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
            self._tell_probe(0, 0, {})
        self._client.remove_listener(self._on_session)
        if self._watch is not None:
            self._watch.cancel()

    # --- starting --------------------------------------------------------------------------
    def _start_from_read(self) -> None:
        client = self._client
        self._pending = []
        self._watch = client.watch(self._path, self._on_event, recursive=True)
        # The reconciliation needs the read's revision, which Client.tree does not return.
        entries, revision = client.snapshot(self._path)
        with self._cond:
            for entry in entries:
                self._apply(entry.key, entry)
            pending, self._pending = self._pending or [], None
            for event in pending:
                if event.revision > revision:
                    self._apply(event.key, event.entry)
            self._publish()

    def _start_from_watch(self) -> None:
        client = self._client
        self._seen = set()
        self._watch = client.watch(self._path, self._on_event, recursive=True, start_revision=1)
        present = {key.lstrip("/") for key in self._present()}
        with self._cond:
            self._awaited = present - (self._seen or set())
            arrived = self._cond.wait_for(lambda: not self._awaited, client.timeout)
            self._seen = self._awaited = None
        if not arrived:  # only if the watch thread is starved: the cache still converges
            log.warning(
                "coordkit discovery: %s started before its watch delivered every instance", self._path
            )

    # --- changes -----------------------------------------------------------------------------
    def _on_event(self, event: WatchEvent) -> None:
        with self._cond:
            if self._closed:
                return
            if self._pending is not None:
                self._pending.append(event)
                return
            if not self._apply(event.key, event.entry):
                return
            if self._seen is not None:  # ZooKeeper's start: only it waits, and _arrived wakes it
                self._tell_probe_held()
                return
            self._publish()
            if not self._listeners:
                return
            listeners = list(self._listeners)
            snapshot = self._held.snapshot()
        for listener in listeners:
            try:
                listener(snapshot)
            except Exception:  # one listener's bug must not starve the others or the watch
                log.exception("coordkit discovery listener %r failed", listener)

    def _apply(self, key: str, entry: Entry | None) -> bool:
        """Fold one key's new state into the sorted lists (lock held); True if it changed."""
        located = self._locate(key)
        if located is None:
            return False  # not an instance's key (a service's own node on ZooKeeper, ...)
        service, instance_id = located
        if self._seen is not None:
            self._arrived(key.lstrip("/"))
        instance = None if entry is None else decode_entry(self._format, service, instance_id, entry)
        return self._held.put(key, instance)

    def _arrived(self, key: str) -> None:
        """Note a key delivered during ZooKeeper's start (lock held), changed or not."""
        assert self._seen is not None
        self._seen.add(key)
        if self._awaited and key in self._awaited:
            self._awaited.discard(key)
            if not self._awaited:
                self._cond.notify_all()

    def _publish(self) -> None:
        """Tell the waiters and the probe of a change applied (lock held). The tuple itself
        is built by its first reader (the listeners, a wait_for, :attr:`instances`)."""
        self._cond.notify_all()
        self._tell_probe_held()

    def _tell_probe_held(self) -> None:
        if (probe := probes.active) is not None:
            held = self._held
            self._tell_probe(held.total, held.up, held.by_service() if probe.per_service else {})

    def _tell_probe(self, total: int, up: int, now: Mapping[str, tuple[int, int]]) -> None:
        """Move the probe's instance counts by the change since last told (lock held); per
        service too (``now``: ``{service: (total, up)}``) when the probe asks for service
        labels. O(services) per change, never O(instances)."""
        told_total, told_up = self._counted
        if (probe := probes.active) is None:
            return
        if (total, up) != self._counted:
            probe.instances_changed(total - told_total, up - told_up)
            self._counted = (total, up)
        if probe.per_service:
            for service in now.keys() | self._counted_by.keys():
                (t, u), (old_t, old_u) = now.get(service, (0, 0)), self._counted_by.get(service, (0, 0))
                if (t, u) != (old_t, old_u):
                    probe.service_instances_changed(service, t - old_t, u - old_u)
            self._counted_by = dict(now)

    def _on_session(self, event: SessionEvent) -> None:
        with self._cond:  # a wait for instances looks again (:attr:`stale` reads the session)
            self._cond.notify_all()


class ServiceCache(_LiveInstances):
    """The live instances of service ``name``, read from memory.

    Made by ``client.discover(name)``, which returns once the initial read is done, so the
    first read of :attr:`instances` sees the instances live at that time. Raises
    ConfigurationError for a bad name and BackendUnavailableError if the store cannot be
    reached within the client's timeout (then nothing keeps running).

    While the session is SUSPENDED or LOST, :attr:`stale` is True and the cache keeps serving
    the last instances it knew (availability over freshness); once the client is connected
    again the watch catches up and the cache converges. Entries that are not instances
    (written by other tools) are skipped with a logged warning. Close the cache (or leave
    its ``with`` block) to stop the watch.
    """

    def __init__(
        self, client: Store, name: str, *, base: str = DEFAULT_BASE, statuses: Collection[str] | None = (UP,)
    ) -> None:
        self.name = check_service(name)
        super().__init__(client, service_path(check_base(base), self.name), check_statuses(statuses))

    def __repr__(self) -> str:
        return f"<coordkit.ServiceCache {self._path} instances={len(self._held)} stale={self.stale}>"

    def __enter__(self) -> ServiceCache:
        return self

    def _locate(self, key: str) -> tuple[str, str] | None:
        instance_id = split_key(self._path, key)
        return None if instance_id is None else (self.name, instance_id)

    def _present(self) -> set[str]:
        return {f"{self._path}/{child}" for child in self._client.children(self._path)}


class RegistryCache(_LiveInstances):
    """The live instances of every service under ``base``, sorted by service, then id:
    what ``coordkit services --watch`` follows. The same guarantees as ServiceCache; its
    start on ZooKeeper costs one more read of the whole registry."""

    def __init__(
        self, client: Store, *, base: str = DEFAULT_BASE, statuses: Collection[str] | None = None
    ) -> None:
        super().__init__(client, check_base(base), check_statuses(statuses))

    def __repr__(self) -> str:
        return f"<coordkit.RegistryCache {self._path} instances={len(self._held)} stale={self.stale}>"

    def __enter__(self) -> RegistryCache:
        return self

    def _locate(self, key: str) -> tuple[str, str] | None:
        prefix = self._path.strip("/") + "/"
        rel = key.lstrip("/")
        parts = rel[len(prefix) :].split("/") if rel.startswith(prefix) else []
        return (parts[0], parts[1]) if len(parts) == 2 and all(parts) else None

    def _present(self) -> set[str]:
        return {entry.key for entry in self._client.tree(self._path) if self._locate(entry.key)}
