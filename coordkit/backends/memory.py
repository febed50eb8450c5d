"""The in-process backend behind ``memory://``.

A product feature for users' unit tests and examples: the same semantics as the real
backends (sessions with a TTL, ephemeral keys, versions, revisions, atomic commits,
ordered watches), run by the same conformance suite. Clients that connect to the same
``memory://<store>`` in one process share a store. Names are paths from the namespace
root, as on ZooKeeper, in a flat keyspace, as on etcd (no implicit parent keys).

Fault injection for tests: :meth:`MemoryBackend.set_reachable` makes this client's
heartbeats and operations fail as if the network were down, and
:meth:`MemoryStore.expire` ends a session as the server would after its TTL.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Sequence

from ..errors import (
    BackendUnavailableError,
    ClosedError,
    ConfigurationError,
    KeyExistsError,
    SessionLostError,
    VersionConflictError,
)
from ..names import KeyMapper
from .base import (
    LEASE_CONTENDER,
    Capabilities,
    Check,
    ConnectionEvent,
    ConnectionSink,
    Delete,
    Entry,
    EventType,
    Layout,
    Op,
    Put,
    ServerInfo,
    Watch,
    WatchCallback,
    WatchEvent,
)
from .keyvalue_queue import KeyValueQueue

__all__ = ["MemoryBackend", "MemoryStore", "get_store", "reset_stores"]

log = logging.getLogger(__name__)
_stores: dict[str, MemoryStore] = {}
_stores_lock = threading.Lock()


def get_store(name: str = "") -> MemoryStore:
    """The process-wide store called ``name`` (created on first use)."""
    with _stores_lock:
        return _stores.setdefault(name, MemoryStore(name))


def reset_stores() -> None:
    """Forget every store (for test isolation)."""
    with _stores_lock:
        _stores.clear()


class _MemoryWatch(Watch):
    def __init__(self, store: MemoryStore, key: str, prefix: bool, callback: WatchCallback):
        self.key, self.prefix, self._callback, self._store = key, prefix, callback, store
        self._queue: queue.SimpleQueue[WatchEvent | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="coordkit-memory-watch", daemon=True)
        self._thread.start()

    def matches(self, key: str) -> bool:
        return key.startswith(self.key.rstrip("/") + "/") if self.prefix else key == self.key

    def offer(self, event: WatchEvent) -> None:
        self._queue.put(event)

    def _run(self) -> None:
        while (event := self._queue.get()) is not None:
            try:
                self._callback(event)
            except Exception:
                log.exception("coordkit watch callback failed on %s", event.key)

    def cancel(self) -> None:
        self._store.remove_watch(self)
        self._queue.put(None)
        if threading.current_thread() is not self._thread:
            self._thread.join()


class MemoryStore:
    """The shared state of one ``memory://`` store: keys, revisions, sessions, watches."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.RLock()
        self._data: dict[str, Entry] = {}
        self._revision = 0
        self._sessions: dict[int, float] = {}  # id -> ttl
        self._deadlines: dict[int, float] = {}
        self._ids = itertools.count(0x1000)
        self._watches: list[_MemoryWatch] = []

    @property
    def revision(self) -> int:
        return self._revision

    # sessions --------------------------------------------------------------------
    def open_session(self, ttl: float) -> int:
        with self._lock:
            self._reap()
            sid = next(self._ids)
            self._sessions[sid] = ttl
            self._deadlines[sid] = time.monotonic() + ttl
            return sid

    def refresh(self, sid: int) -> None:
        with self._lock:
            self._reap()
            if sid not in self._sessions:
                raise SessionLostError(f"memory session {sid:x} has expired")
            self._deadlines[sid] = time.monotonic() + self._sessions[sid]

    def expire(self, sid: int) -> None:
        """End session ``sid`` now, deleting its ephemeral keys (as a server would)."""
        with self._lock:
            self._sessions.pop(sid, None)
            self._deadlines.pop(sid, None)
            doomed = [k for k, e in self._data.items() if e.lease == sid]
            if doomed:
                self._revision += 1
                for key in sorted(doomed):
                    del self._data[key]
                    self._notify(WatchEvent(EventType.DELETE, key, None, self._revision))

    def _reap(self) -> None:
        now = time.monotonic()
        for sid, deadline in list(self._deadlines.items()):
            if deadline <= now:
                self.expire(sid)

    def alive(self, sid: int) -> bool:
        with self._lock:
            self._reap()
            return sid in self._sessions

    # keys ------------------------------------------------------------------------
    def get(self, key: str) -> Entry | None:
        with self._lock:
            self._reap()
            return self._data.get(key)

    def range(self, prefix: str) -> tuple[list[Entry], int]:
        with self._lock:
            self._reap()
            found = [e for k, e in self._data.items() if k.startswith(prefix)]
            return sorted(found, key=lambda e: e.key), self._revision

    def commit(self, ops: Sequence[Op], sid: int) -> list[Entry | None]:
        with self._lock:
            self._reap()
            for op in ops:
                self._check(op, sid)
            if not any(isinstance(op, (Put, Delete)) for op in ops):
                return [None] * len(ops)
            self._revision += 1
            results: list[Entry | None] = []
            for op in ops:
                results.append(self._apply(op, sid))
            return results

    def _check(self, op: Op, sid: int) -> None:
        current = self._data.get(op.key)
        if isinstance(op, Check):
            if current is None:
                raise VersionConflictError(f"{op.key} does not exist")
            if op.version is not None and current.version != op.version:
                raise VersionConflictError(f"{op.key} is at version {current.version}, not {op.version}")
            if op.create_revision is not None and current.create_revision != op.create_revision:
                raise VersionConflictError(f"{op.key} was re-created (not revision {op.create_revision})")
        elif isinstance(op, Put):
            if op.create and current is not None:
                raise KeyExistsError(f"{op.key} already exists")
            if op.version is not None and (current is None or current.version != op.version):
                have = "absent" if current is None else f"at version {current.version}"
                raise VersionConflictError(f"{op.key} is {have}, not at version {op.version}")
            if op.ephemeral and sid not in self._sessions:
                raise SessionLostError("the session has expired")
        elif op.version is not None and (current is None or current.version != op.version):
            have = "absent" if current is None else f"at version {current.version}"
            raise VersionConflictError(f"{op.key} is {have}, not at version {op.version}")

    def _apply(self, op: Op, sid: int) -> Entry | None:
        rev = self._revision
        if isinstance(op, Put):
            old = self._data.get(op.key)
            entry = Entry(
                key=op.key,
                value=bytes(op.value),
                version=1 if old is None else old.version + 1,
                create_revision=rev if old is None else old.create_revision,
                mod_revision=rev,
                lease=sid if op.ephemeral else (old.lease if op.keep_owner and old is not None else 0),
            )
            self._data[op.key] = entry
            self._notify(WatchEvent(EventType.PUT, op.key, entry, rev))
            return entry
        if isinstance(op, Delete) and self._data.pop(op.key, None) is not None:
            self._notify(WatchEvent(EventType.DELETE, op.key, None, rev))
        return None

    def delete_range(self, keys: list[str]) -> int:
        with self._lock:
            present = [k for k in keys if k in self._data]
            if present:
                self._revision += 1
                for key in present:
                    del self._data[key]
                    self._notify(WatchEvent(EventType.DELETE, key, None, self._revision))
            return len(present)

    # watches ---------------------------------------------------------------------
    def add_watch(self, key: str, prefix: bool, callback: WatchCallback) -> _MemoryWatch:
        with self._lock:
            watch = _MemoryWatch(self, key, prefix, callback)
            self._watches.append(watch)
            return watch

    def remove_watch(self, watch: _MemoryWatch) -> None:
        with self._lock:
            if watch in self._watches:
                self._watches.remove(watch)

    def _notify(self, event: WatchEvent) -> None:
        for watch in self._watches:
            if watch.matches(event.key):
                watch.offer(event)


class MemoryBackend(KeyValueQueue):
    """A client of one :class:`MemoryStore`."""

    kind = "memory"
    capabilities = Capabilities(
        atomic_subtree_reads=True,
        stored_parents=False,
        layout=Layout.CURATOR,
        contender_names=LEASE_CONTENDER,
        in_process=True,
    )

    def __init__(self, store: str, namespace: str, *, options: dict[str, object]) -> None:
        self._store = get_store(store)
        self._keys = KeyMapper("path", namespace)
        self._sid = 0
        self._ttl = 0.0
        self._reachable = True
        self._closed = False
        self._sink: ConnectionSink | None = None
        self._attempts: dict[str, str] = {}

    @property
    def store(self) -> MemoryStore:
        return self._store

    def canonical(self, name: str) -> str:
        return self._keys.to_key(name)

    def set_reachable(self, reachable: bool) -> None:
        """Simulate a network partition between this client and its store."""
        self._reachable = reachable
        if self._sink is not None:
            self._sink(ConnectionEvent.RECONNECTED if reachable else ConnectionEvent.DISCONNECTED)

    def _ready(self) -> None:
        if self._closed:
            raise ClosedError("the memory backend is closed")
        if not self._reachable:
            raise BackendUnavailableError(f"memory://{self._store.name} is unreachable (simulated)")

    # session -----------------------------------------------------------------------
    def connect(self, sink: ConnectionSink, *, ttl: float, timeout: float) -> None:
        self._ready()
        self._sink, self._ttl = sink, ttl
        self._sid = self._store.open_session(ttl)

    @property
    def session_id(self) -> int:
        return self._sid

    @property
    def session_ttl(self) -> float:
        return self._ttl

    def keepalive(self, timeout: float) -> None:
        self._ready()
        self._store.refresh(self._sid)

    def new_session(self, timeout: float) -> int:
        self._ready()
        self._store.expire(self._sid)
        self._sid = self._store.open_session(self._ttl)
        return self._sid

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._store.expire(self._sid)

    def server_info(self, timeout: float) -> ServerInfo:
        self._ready()
        return ServerInfo(
            "memory",
            [f"memory://{self._store.name}"],
            version="in-process",
            details={"revision": self._store.revision},
        )

    # keys --------------------------------------------------------------------------
    def _entry(self, entry: Entry | None) -> Entry | None:
        if entry is None:
            return None
        return Entry(
            self._keys.to_name(entry.key),
            entry.value,
            entry.version,
            entry.create_revision,
            entry.mod_revision,
            entry.lease,
        )

    def _op(self, op: Op) -> Op:
        key = self._keys.to_key(op.key)
        if isinstance(op, Put):
            return Put(key, op.value, op.version, op.create, op.ephemeral, op.keep_owner)
        if isinstance(op, Delete):
            return Delete(key, op.version)
        return Check(key, op.version, op.create_revision)

    def get(self, key: str) -> Entry | None:
        self._ready()
        return self._entry(self._store.get(self._keys.to_key(key)))

    def put(self, op: Put) -> Entry:
        result = self.commit([op])[0]
        assert result is not None
        return result

    def delete(self, key: str, *, version: int | None = None, recursive: bool = False) -> bool:
        self._ready()
        full = self._keys.to_key(key)
        if version is not None:
            self._store.commit([Delete(full, version)], self._sid)
            return True
        keys = [full]
        if recursive:
            keys += [e.key for e in self._store.range(self._keys.prefix_of(key))[0]]
        return self._store.delete_range(keys) > 0

    def children(self, path: str) -> list[str]:
        self._ready()
        prefix = self._keys.prefix_of(path)
        entries, _ = self._store.range(prefix)
        return sorted({e.key[len(prefix) :].split("/", 1)[0] for e in entries})

    def tree(self, path: str) -> tuple[list[Entry], int]:
        self._ready()
        entries, revision = self._store.range(self._keys.prefix_of(path))
        return [e for e in map(self._entry, entries) if e is not None], revision

    def commit(self, ops: Sequence[Op]) -> list[Entry | None]:
        self._ready()
        return [self._entry(e) for e in self._store.commit([self._op(o) for o in ops], self._sid)]

    def watch(
        self,
        key: str,
        callback: WatchCallback,
        *,
        prefix: bool,
        start_revision: int | None = None,
        timeout: float | None = None,
    ) -> Watch:
        self._ready()  # in-process: never waits, so ``timeout`` has nothing to bound
        if start_revision is not None:
            raise ConfigurationError(
                "the memory backend keeps no history: watch from now (start_revision=None)"
            )

        def translate(event: WatchEvent) -> None:
            callback(
                WatchEvent(
                    event.type, self._keys.to_name(event.key), self._entry(event.entry), event.revision
                )
            )

        return self._store.add_watch(self._keys.to_key(key), prefix, translate)
