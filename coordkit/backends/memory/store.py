"""The in-process store that ``memory://`` clients share: keys, versions, revisions, sessions
with a TTL, atomic commits and ordered watches, all under one lock.

Clients that connect to the same ``memory://<store>`` in one process share one
:class:`MemoryStore`; :meth:`MemoryStore.expire` ends a session as a server would after its TTL.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from collections.abc import Sequence

from ...errors import (
    KeyExistsError,
    SessionLostError,
    VersionConflictError,
)
from .. import probe as probes
from ..base import (
    Check,
    Delete,
    Entry,
    EventType,
    Op,
    Put,
    Watch,
    WatchCallback,
    WatchEvent,
)

__all__ = ["MemoryStore", "MemoryWatch", "get_store", "reset_stores"]

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


class MemoryWatch(Watch):
    def __init__(self, store: MemoryStore, key: str, prefix: bool, callback: WatchCallback):
        self.key, self.prefix, self._callback, self._store = key, prefix, callback, store
        self._queue: queue.SimpleQueue[tuple[WatchEvent, float] | None] = queue.SimpleQueue()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="coordkit-memory-watch", daemon=True)
        self._thread.start()

    def matches(self, key: str) -> bool:
        return key.startswith(self.key.rstrip("/") + "/") if self.prefix else key == self.key

    def offer(self, event: WatchEvent) -> None:
        self._queue.put((event, time.monotonic()))  # stamped for the watch lag

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            event, offered = item
            try:
                self._callback(event)
            except Exception:
                log.exception("coordkit watch callback failed on %s", event.key)
            if (probe := probes.active) is not None:
                probe.watch_lag("memory", time.monotonic() - offered)

    def cancel(self) -> None:
        self.stop_soon()
        self.join(None)

    def stop_soon(self) -> None:
        """Take no more events; the callback running now (if any) is the last."""
        self._stopped = True
        self._store.remove_watch(self)
        self._queue.put(None)

    @property
    def stopped(self) -> bool:
        return self._stopped

    def join(self, timeout: float | None) -> None:
        """Wait for the last callback to return (not when called from the callback itself)."""
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)


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
        self._watches: list[MemoryWatch] = []

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
    def add_watch(self, key: str, prefix: bool, callback: WatchCallback) -> MemoryWatch:
        with self._lock:
            watch = MemoryWatch(self, key, prefix, callback)
            self._watches.append(watch)
            return watch

    def remove_watch(self, watch: MemoryWatch) -> None:
        with self._lock:
            if watch in self._watches:
                self._watches.remove(watch)

    def _notify(self, event: WatchEvent) -> None:
        for watch in self._watches:
            if watch.matches(event.key):
                watch.offer(event)
