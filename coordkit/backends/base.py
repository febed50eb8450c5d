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

Contender queues
    Locks, semaphores and elections stand on the queue calls of
    :mod:`coordkit.backends.contender_queue`, whose docstring is their contract.

Errors
    Only :mod:`coordkit.errors` types escape. A backend translates its client library's
    exceptions in one table. A write interrupted by a lost connection raises
    :class:`~coordkit.errors.BackendUnavailableError`: it may or may not have happened.
"""

from __future__ import annotations

import abc
import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from .contender_queue import ContenderQueue

if TYPE_CHECKING:
    from .server_info import ServerInfo

__all__ = [
    "CURATOR_CONTENDER",
    "LEASE_CONTENDER",
    "Backend",
    "Capabilities",
    "Check",
    "ConnectionEvent",
    "Delete",
    "Entry",
    "EventType",
    "Layout",
    "Op",
    "Put",
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
    ``ephemeral``: bound to the current session. ``keep_owner``: an existing key keeps the
    session it belongs to (etcd: ``ignore_lease``; ZooKeeper: a write never changes a node's
    owner): an operator's change to another process's ephemeral key. Not with ``create`` or
    ``ephemeral``; the key must exist.
    """

    key: str
    value: bytes
    version: int | None = None
    create: bool = False
    ephemeral: bool = False
    keep_owner: bool = False


@dataclass(frozen=True)
class Delete:
    """Delete of a :meth:`Backend.commit`: only if at ``version`` when given."""

    key: str
    version: int | None = None


Op = Check | Put | Delete


class ConnectionEvent(enum.Enum):
    """What a backend reports asynchronously to the session manager."""

    DISCONNECTED = "disconnected"  # the link to the servers dropped; session may survive
    RECONNECTED = "reconnected"  # the link is back and the session survived
    EXPIRED = "expired"  # the server says the session is gone


#: Contender names as etcd's clients write them: a lease id in hex, then an optional suffix.
LEASE_CONTENDER = re.compile(r"[0-9a-f]{1,16}(-[0-9a-f]{1,32})?")
#: Contender names as Curator (and kazoo) write them: a sequential node of a lock or latch.
CURATOR_CONTENDER = re.compile(r".*(-lock-|__lock__)[0-9]{10}")


class Layout(enum.Enum):
    """Whose wire layout the recipes and discovery write, so that other clients of the same
    cluster read them: etcd's own clients (etcdctl lock/elect, the Go concurrency package,
    etcd's naming endpoints) or Apache Curator's (locks, leader latches, service discovery)."""

    ETCD = "etcd"
    CURATOR = "curator"


class Capabilities(NamedTuple):
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
    #: The names the backend gives contender-queue entries (etcd's lease ids in hex, Curator's
    #: ``...-lock-0000000001`` sequential nodes), so that a listing can tell a queue from data.
    contender_names: re.Pattern[str]
    #: The store lives in this process (memory://): what is written is gone when it exits,
    #: and there is no server to elect a leader among.
    in_process: bool = False


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


class Backend(ContenderQueue):
    """A coordination store. Subclasses are built by :func:`coordkit.client.connect`; the
    contender-queue calls they provide are those of :class:`.contender_queue.ContenderQueue`."""

    kind: str = ""
    capabilities: Capabilities

    # --- session -----------------------------------------------------------------
    @abc.abstractmethod
    def connect(self, sink: ConnectionSink, *, ttl: float, timeout: float) -> None:
        """Connect and open the first session with ``ttl`` seconds; wait at most ``timeout``.

        Raises BackendUnavailableError naming the endpoints when no server answers.
        """

    def connect_without_session(self, sink: ConnectionSink, *, ttl: float, timeout: float) -> None:
        """Connect for reads and watches only: on etcd no lease is granted (so none is revoked
        at close). Raises as :meth:`connect`. By default it is :meth:`connect`: kazoo always
        has a session, which creates nothing in the store; a memory session costs nothing."""
        self.connect(sink, ttl=ttl, timeout=timeout)

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
        self,
        key: str,
        callback: WatchCallback,
        *,
        prefix: bool,
        start_revision: int | None = None,
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
