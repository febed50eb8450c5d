"""The backend protocol: the contract every backend (ZooKeeper, etcd, memory) meets.

Recipes, caches and the CLI are written once over this class. A backend receives
*validated names* (see :mod:`coordkit.names`), maps them to its own keys, and returns
names again. Identical semantics on every backend:

Session
    One session at a time, identified by :attr:`Backend.session_id` (ZooKeeper session id,
    etcd lease id). Ephemeral keys belong to it and vanish when it ends: at once on
    :meth:`Backend.close` or :meth:`Backend.new_session`, else when the server expires
    it after the TTL without a heartbeat. :meth:`Backend.keepalive` is one heartbeat; the
    client's session manager (:mod:`coordkit.core.session`) calls it, keeps its own clock, and
    decides SUSPENDED and LOST. Asynchronous connection news (a dropped socket, an expiry
    announced by the server) is reported through the sink given to :meth:`Backend.connect`.

Keys and values
    Keys form a flat namespace of names: a key exists only if it was written. A name with
    keys below it is no key unless written: ``get`` gives None, ``tree`` and watches skip
    it, ``children`` lists it. ``delete(key)`` deletes that key only (``recursive``: and
    the keys below). ZooKeeper's parents are *implicit parents* (nodes holding
    :data:`coordkit.names.PARENT_MARK`, a value refused everywhere): see its backend.
    Spelling: on etcd without a namespace a name is the etcd key as written (``x`` and
    ``/x`` are two keys, as in etcdctl); elsewhere a name is a path from the namespace
    root (``x`` is ``/x``). A commit holds at most :data:`coordkit.names.MAX_COMMIT_OPS`
    ops (etcd's ``--max-txn-ops``) and 1 MiB of values (ZooKeeper's ``jute.maxbuffer``);
    the client refuses more with CommitTooLargeError before sending.

    Values are bytes. ``version`` is 1 when a key is created and grows by one with each
    write; it restarts at 1 when a deleted key is created again. ``create_revision`` and
    ``mod_revision`` are cluster-wide and strictly increase (etcd revisions, ZooKeeper
    zxids), which makes ``create_revision`` usable as a fencing token. Writes either
    happen whole or not at all; a conditional write that fails raises a
    :class:`~coordkit.errors.ConflictError` subclass and changes nothing.

Watches
    :meth:`Backend.watch` delivers the changes to one key or to the keys strictly below a
    path, in store order, each once, on one thread per watch, and survives reconnects:
    etcd resumes from the last revision delivered (resyncing by diff after a compaction);
    ZooKeeper re-reads after every notification and after every reconnect, and diffs
    against what it delivered. ZooKeeper keeps no history, so several writes to one key
    in quick succession may reach a watcher as its latest value only; the final state is
    always delivered.

Errors
    Only :mod:`coordkit.errors` types escape. A backend translates its client library's
    exceptions in one table. A write interrupted by a lost connection raises
    :class:`~coordkit.errors.BackendUnavailableError`: it may or may not have happened.
"""

from __future__ import annotations

import abc
import enum
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Union

__all__ = [
    "Backend",
    "Capabilities",
    "Check",
    "ConnectionEvent",
    "Contender",
    "Delete",
    "Entry",
    "EventType",
    "Layout",
    "Op",
    "Put",
    "QueueView",
    "ServerInfo",
    "Watch",
    "WatchEvent",
]


@dataclass(frozen=True)
class Entry:
    """One key as read from the store."""

    key: str  # the coordkit name, e.g. "/app/timeout"
    value: bytes
    version: int
    create_revision: int
    mod_revision: int
    lease: int = 0  # id of the session owning an ephemeral key, 0 for a persistent key

    @property
    def text(self) -> str:
        """The value decoded as UTF-8 (raises UnicodeDecodeError on binary values)."""
        return self.value.decode("utf-8")

    @property
    def ephemeral(self) -> bool:
        return self.lease != 0


class EventType(enum.Enum):
    PUT = "put"
    DELETE = "delete"


@dataclass(frozen=True)
class WatchEvent:
    """A change: ``entry`` is the new state for PUT, ``None`` for DELETE."""

    type: EventType
    key: str
    entry: Entry | None
    revision: int


@dataclass(frozen=True)
class Check:
    """Condition of a :meth:`Backend.commit`: the key exists (with ``version`` when given,
    with ``create_revision`` when given)."""

    key: str
    version: int | None = None
    create_revision: int | None = None


@dataclass(frozen=True)
class Put:
    """Write of a :meth:`Backend.commit` or :meth:`Backend.put`.

    ``version``: only if the key is at that version. ``create``: only if the key is absent.
    ``ephemeral``: bound to the current session.
    """

    key: str
    value: bytes
    version: int | None = None
    create: bool = False
    ephemeral: bool = False


@dataclass(frozen=True)
class Delete:
    """Delete of a :meth:`Backend.commit`: only if at ``version`` when given."""

    key: str
    version: int | None = None


Op = Union[Check, Put, Delete]


class ConnectionEvent(enum.Enum):
    """What a backend reports asynchronously to the session manager."""

    DISCONNECTED = "disconnected"  # the link to the servers dropped; session may survive
    RECONNECTED = "reconnected"  # the link is back and the session survived
    EXPIRED = "expired"  # the server says the session is gone


@dataclass(frozen=True)
class ServerInfo:
    """What ``coordkit status`` shows; fields a backend cannot tell stay empty."""

    kind: str
    endpoints: Sequence[str]
    version: str = ""
    members: Sequence[str] = field(default_factory=tuple)
    leader: str = ""
    details: dict[str, str | int] = field(default_factory=dict)
    # Each endpoint of the URL is asked on its own: those that did not answer, and why.
    unreachable: dict[str, str] = field(default_factory=dict)


class Layout(enum.Enum):
    """Whose wire layout the recipes and discovery write, so that other clients of the same
    cluster read them: etcd's own clients (etcdctl lock/elect, the Go concurrency package,
    etcd's naming endpoints) or Apache Curator's (locks, leader latches, service discovery)."""

    ETCD = "etcd"
    CURATOR = "curator"


@dataclass(frozen=True)
class Capabilities:
    """What differs between backends above the contract, for the layers that must know it.

    The layers above ask these, never the backend's kind: a new backend states its answers
    here and the recipes, discovery and configuration follow.
    """

    #: ``tree()`` returns one consistent state (etcd's range read, memory's lock). ZooKeeper
    #: reads node by node, so a reader needing a consistent subtree checks a marker around it.
    atomic_subtree_reads: bool
    #: A key's parents are nodes of their own that a write creates and a reader lists
    #: (ZooKeeper's znodes); on etcd and memory a key has no parents in storage.
    stored_parents: bool
    #: Whose wire layout locks, elections and service registrations use.
    layout: Layout


@dataclass(frozen=True)
class Contender:
    """One entry of a contender queue (the waiters of a lock, semaphore or election).

    ``sequence`` orders the queue (etcd: create revision; ZooKeeper: the node's sequence
    number). ``create_revision`` is the fencing token. ``value`` and ``create_revision``
    may be empty/0 for *other* contenders when listed without values on ZooKeeper.
    """

    key: str
    sequence: int
    create_revision: int = 0
    value: bytes = b""
    version: int = 1


@dataclass(frozen=True)
class QueueView:
    """The queue as seen by one contender: its own entry and every contender in order."""

    mine: Contender
    contenders: list[Contender]
    revision: int

    @property
    def position(self) -> int:
        """0 for the head; -1 if ``mine`` is no longer in the queue."""
        for index, contender in enumerate(self.contenders):
            if contender.key == self.mine.key:
                return index
        return -1


class Watch(abc.ABC):
    """Handle of a running watch."""

    @abc.abstractmethod
    def cancel(self) -> None:
        """Stop delivering events; returns once no callback runs or will run."""

    def cancel_nowait(self) -> None:
        """Stop delivering events without waiting for a callback in flight to finish (for
        callers whose callback only sets flags). Defaults to :meth:`cancel`."""
        self.cancel()


WatchCallback = Callable[[WatchEvent], None]
ConnectionSink = Callable[[ConnectionEvent], None]


class Backend(abc.ABC):
    """A coordination store. Subclasses are built by :func:`coordkit.client.connect`."""

    kind: str = ""
    capabilities: Capabilities

    # --- session -----------------------------------------------------------------
    @abc.abstractmethod
    def connect(self, sink: ConnectionSink, *, ttl: float, timeout: float) -> None:
        """Connect and open the first session with ``ttl`` seconds; wait at most ``timeout``.

        Raises BackendUnavailableError naming the endpoints when no server answers.
        """

    @property
    @abc.abstractmethod
    def session_id(self) -> int:
        """Id of the current session (stable until :meth:`new_session`)."""

    @property
    @abc.abstractmethod
    def session_ttl(self) -> float:
        """The TTL the server granted, in seconds (ZooKeeper may clamp the asked one)."""

    @abc.abstractmethod
    def keepalive(self, timeout: float) -> None:
        """One heartbeat round trip for the current session.

        Raises SessionLostError if the server no longer knows the session, and
        BackendUnavailableError if no server answered within ``timeout``.
        """

    @abc.abstractmethod
    def new_session(self, timeout: float) -> int:
        """Abandon the current session (its ephemeral keys are then gone or going) and open
        a new one; returns its id. Raises BackendUnavailableError if no server answers."""

    @abc.abstractmethod
    def close(self) -> None:
        """End the session (ephemeral keys vanish now, best effort when unreachable) and
        release every resource. Idempotent."""

    @abc.abstractmethod
    def server_info(self, timeout: float) -> ServerInfo:
        """Describe the cluster for humans."""

    # --- keys --------------------------------------------------------------------
    @abc.abstractmethod
    def get(self, key: str) -> Entry | None:
        """The entry at ``key``, or None."""

    @abc.abstractmethod
    def put(self, op: Put) -> Entry:
        """Write one key (see :class:`Put`) and return its new state.

        Raises KeyExistsError (``create``), VersionConflictError (``version``).
        On ZooKeeper missing parents are created as implicit parents, in the same
        transaction; a ``create`` over an implicit parent succeeds (it was no key).
        """

    @abc.abstractmethod
    def delete(self, key: str, *, version: int | None = None, recursive: bool = False) -> bool:
        """Delete ``key`` (and, with ``recursive``, every key below it).

        Returns False if nothing was there (an implicit parent is nothing). Raises
        VersionConflictError if ``version`` is given and the key is absent or at another
        version. Without ``recursive`` the keys below ``key`` stay, on every backend.
        """

    @abc.abstractmethod
    def children(self, path: str) -> list[str]:
        """Sorted names of the immediate children of ``path`` (``/`` for the root).
        A path with nothing below it has no children; that is not an error."""

    @abc.abstractmethod
    def tree(self, path: str) -> tuple[list[Entry], int]:
        """Every entry strictly below ``path``, sorted by key, and the revision at which
        that snapshot holds (one range read on etcd, pipelined reads on ZooKeeper)."""

    @abc.abstractmethod
    def commit(self, ops: Sequence[Op]) -> list[Entry | None]:
        """Apply ``ops`` atomically; returns the new entry of each Put (None for others).

        Raises ConflictError (a subclass naming the failing key) if any condition fails;
        then nothing was written.
        """

    @abc.abstractmethod
    def watch(
        self, key: str, callback: WatchCallback, *, prefix: bool, start_revision: int | None = None,
        timeout: float | None = None,
    ) -> Watch:
        """Call ``callback`` for every change of ``key`` (or of the keys strictly below it
        when ``prefix``) after ``start_revision`` (default: from now), in order, once each.
        When this returns, the watch is in place: every change made after it is delivered.
        Starting waits at most the operation timeout, or ``timeout`` if shorter, then raises
        BackendUnavailableError and nothing runs.
        Exceptions from ``callback`` are logged and do not stop the watch."""

    def canonical(self, name: str) -> str:
        """The backend key ``name`` maps to: two names are one key exactly when their
        canonical forms are equal (inside an etcd namespace ``x`` and ``/x`` are one key)."""
        return name

    # --- contender queues (locks, semaphores, elections) ----------------------------------
    # Defaults built on the key/value calls above; the ZooKeeper and etcd backends override
    # them with the wire layouts other tools use (Curator, etcdctl) and single round trips.
    # Queue paths come canonical from the recipes (names.recipe_name: no leading slash), and
    # contender keys go back in one form on every backend: relative to the namespace root.

    def _contender_name(self, name: str) -> str:
        """The form a contender key is reported in (``Lock.key``, ``Leader.key``, queue
        views): relative to the namespace root, no leading slash, and still a name that
        reads that very key. Path-style backends, where ``x`` is ``/x``, drop the slash."""
        return name.removeprefix("/")

    def queue_join(self, path: str, value: bytes, *, unique: bool = False,
                   attempt: str | None = None, timeout: float | None = None) -> QueueView:
        """Add this session's ephemeral contender under ``path`` and return the queue.

        Waits at most the operation timeout, or ``timeout`` if shorter (a caller's deadline:
        an ``acquire(timeout=1)`` must not wait 5 s for an unreachable store), then raises
        BackendUnavailableError; the same holds for :meth:`queue_list` and :meth:`queue_leave`.

        One round trip where the backend allows (etcd: one transaction; ZooKeeper: create
        and list pipelined). A retry after a lost connection finds the contender the first
        attempt created instead of adding a second one. Without ``unique`` a session has at
        most one contender per path (etcd's layout ``<path>/<lease id hex>``, what etcdctl's
        lock and election use); with it, several (semaphores). ``attempt`` is an id (hex)
        the caller keeps across retries of one join: a retry after BackendUnavailableError
        then finds the contender an earlier attempt may have created, instead of queueing
        a second one behind it. Contender keys include it where the layout has room.
        """
        key = f"{path.rstrip('/')}/{self.session_id:x}-{attempt or uuid.uuid4().hex}"
        existing = self.get(key)
        if existing is not None and existing.lease == self.session_id:
            contenders, revision = self.queue_list(path)
            mine = Contender(self._contender_name(existing.key), existing.create_revision,
                             existing.create_revision, existing.value, existing.version)
            return QueueView(mine, contenders, revision)
        entry = self.put(Put(key, value, create=True, ephemeral=True))
        contenders, revision = self.queue_list(path)
        mine = Contender(self._contender_name(entry.key), entry.create_revision, entry.create_revision,
                         entry.value, entry.version)
        return QueueView(mine, contenders, revision)

    def queue_list(self, path: str, *, values: bool = False,
                   timeout: float | None = None) -> tuple[list[Contender], int]:
        """Every contender under ``path`` in queue order, and the revision read at.
        With ``values``, each contender's value and create revision are filled in."""
        entries, revision = self.tree(path)
        depth = path.strip("/").count("/") + 1  # contenders are the immediate children
        found = [
            Contender(self._contender_name(e.key), e.create_revision, e.create_revision, e.value, e.version)
            for e in entries
            if e.key.strip("/").count("/") == depth
        ]
        return sorted(found, key=lambda c: c.sequence), revision

    def queue_update(self, mine: Contender, value: bytes) -> Contender:
        """Replace the value of our own contender (an election's proclamation) only if it
        is still the same entry; raises VersionConflictError otherwise."""
        entry = self.commit([Check(mine.key, create_revision=mine.create_revision),
                             Put(mine.key, value, ephemeral=True)])[1]
        assert entry is not None
        return Contender(mine.key, mine.sequence, entry.create_revision, entry.value, entry.version)

    def queue_leave(self, mine: Contender, *, timeout: float | None = None) -> None:
        """Remove our contender if it is still there (idempotent)."""
        self.delete(mine.key)

    def wait_gone(self, key: str, timeout: float | None, wake: threading.Event, *,
                  create_revision: int = 0) -> bool:
        """Wait until the contender ``key`` is gone; True once it is. Returns False early if
        ``timeout`` passed or ``wake`` was set by somebody else (e.g. a session listener).
        Watches the one key, so a release wakes exactly the waiter behind it.

        With ``create_revision``, the contender is that incarnation of the key: a key deleted
        and created again (etcd's ``<name>/<lease>`` names are reused by a session's next
        join) counts as gone, or a waiter could wait for its own successor."""
        gone = threading.Event()

        def on_event(event: WatchEvent) -> None:
            if event.type is EventType.DELETE or (
                    create_revision and event.entry is not None
                    and event.entry.create_revision != create_revision):
                gone.set()
                wake.set()

        watch = self.watch(key, on_event, prefix=False, timeout=timeout)  # a wait's bound holds
        try:
            current = self.get(key)
            if current is None or (create_revision and current.create_revision != create_revision):
                return True
            wake.wait(timeout)
            return gone.is_set()
        finally:
            watch.cancel_nowait()  # the callback only sets events: no need to wait, off the hot path
