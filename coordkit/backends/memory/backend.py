"""The in-process backend behind ``memory://``.

A product feature for users' unit tests and examples: the same semantics as the real
backends (sessions with a TTL, ephemeral keys, versions, revisions, atomic commits,
ordered watches), run by the same conformance suite. Clients that connect to the same
``memory://<store>`` in one process share a store. Names are paths from the namespace
root, as on ZooKeeper, in a flat keyspace, as on etcd (no implicit parent keys).

Fault injection for tests: :meth:`MemoryBackend.set_reachable` makes this client's
heartbeats and operations fail as if the network were down (with ``applied=True``, as if
only the replies were lost: each call still takes effect), and :meth:`MemoryStore.expire`
ends a session as the server would after its TTL.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from ...errors import (
    BackendUnavailableError,
    ClosedError,
    ConfigurationError,
)
from ...names import KeyMapper
from ..base import (
    LEASE_CONTENDER,
    Capabilities,
    Check,
    ConnectionEvent,
    ConnectionSink,
    Delete,
    Entry,
    Layout,
    Op,
    Put,
    Watch,
    WatchCallback,
    WatchEvent,
)
from ..keyvalue_queue import KeyValueQueue
from .store import MemoryStore, MemoryWatch, get_store

if TYPE_CHECKING:
    from ..server_info import ServerInfo

__all__ = ["MemoryBackend"]

log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 2.0  # seconds close() waits for a running watch callback, as ZooKeeper's default


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
        self._applied = False  # unreachable, but the requests still take effect (set_reachable)
        self._closed = False
        self._sink: ConnectionSink | None = None
        self._attempts: dict[str, str] = {}
        self._watches: list[MemoryWatch] = []  # stopped by close()
        self._watches_lock = threading.Lock()

    @property
    def store(self) -> MemoryStore:
        return self._store

    def canonical(self, name: str) -> str:
        return self._keys.to_key(name)

    def set_reachable(self, reachable: bool, *, applied: bool = False) -> None:
        """Simulate a network partition between this client and its store. With ``applied``
        the requests still reach the store, only the replies are lost: every read, write and
        heartbeat takes effect, then raises BackendUnavailableError (a write whose caller
        cannot know it landed; the session is kept alive meanwhile). A new watch or session
        is refused either way."""
        self._reachable, self._applied = reachable, applied and not reachable
        if self._sink is not None:
            self._sink(ConnectionEvent.RECONNECTED if reachable else ConnectionEvent.DISCONNECTED)

    def _ready(self) -> None:
        if self._closed:
            raise ClosedError("the memory backend is closed")
        if not self._reachable:
            raise BackendUnavailableError(f"memory://{self._store.name} is unreachable (simulated)")

    @contextlib.contextmanager
    def _call(self) -> Iterator[None]:
        """One request: refused while unreachable, or, with ``applied``, carried out and then
        unanswered (whatever it would have answered, an error included)."""
        if self._closed or not self._applied:
            self._ready()
        lost = f"memory://{self._store.name}: the reply was lost (simulated)"
        try:
            yield
        except Exception:  # its answer, an error, was lost too
            if self._applied:
                raise BackendUnavailableError(lost) from None
            raise
        if self._applied:
            raise BackendUnavailableError(lost)

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
        with self._call():
            self._store.refresh(self._sid)

    def new_session(self, timeout: float) -> int:
        self._ready()
        self._store.expire(self._sid)
        self._sid = self._store.open_session(self._ttl)
        return self._sid

    def close(self) -> None:
        """End the session and stop this client's watches, as the other backends do (a
        callback still running gets ``CLOSE_TIMEOUT`` to return)."""
        if not self._closed:
            self._closed = True
            with self._watches_lock:
                watches, self._watches = self._watches, []
            for watch in watches:
                watch.stop_soon()
            self._store.expire(self._sid)
            for watch in watches:
                watch.join(CLOSE_TIMEOUT)

    def server_info(self, timeout: float) -> ServerInfo:
        from ..server_info import ServerInfo

        with self._call():
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
        with self._call():
            return self._entry(self._store.get(self._keys.to_key(key)))

    def put(self, op: Put) -> Entry:
        result = self.commit([op])[0]
        assert result is not None
        return result

    def delete(self, key: str, *, version: int | None = None, recursive: bool = False) -> bool:
        full = self._keys.to_key(key)
        with self._call():
            if version is not None:
                self._store.commit([Delete(full, version)], self._sid)
                return True
            keys = [full]
            if recursive:
                keys += [e.key for e in self._store.range(self._keys.prefix_of(key))[0]]
            return self._store.delete_range(keys) > 0

    def children(self, path: str) -> list[str]:
        prefix = self._keys.prefix_of(path)
        with self._call():
            entries, _ = self._store.range(prefix)
        return sorted({e.key[len(prefix) :].split("/", 1)[0] for e in entries})

    def tree(self, path: str) -> tuple[list[Entry], int]:
        with self._call():
            entries, revision = self._store.range(self._keys.prefix_of(path))
        return [e for e in map(self._entry, entries) if e is not None], revision

    def commit(self, ops: Sequence[Op]) -> list[Entry | None]:
        changes = [self._op(o) for o in ops]
        with self._call():
            return [self._entry(e) for e in self._store.commit(changes, self._sid)]

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

        watch = self._store.add_watch(self._keys.to_key(key), prefix, translate)
        with self._watches_lock:
            self._watches = [w for w in self._watches if not w.stopped] + [watch]
            closed = self._closed  # set before close() takes the list: one of the two stops it
        if closed:
            watch.stop_soon()
        return watch
