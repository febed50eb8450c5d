"""Persistent (recursive) watches on ZooKeeper 3.6+: the ``addWatch`` request and its routing.

kazoo 2.x has no ``addWatch``. This module holds coordkit's own protocol objects in kazoo's
shape (``type``, ``serialize()``, ``deserialize()``, sent with ``KazooClient._call``):

* ``AddWatch`` (opcode 106): path and mode, ``PERSISTENT`` = 0 or ``PERSISTENT_RECURSIVE`` = 1.
  The reply has no body. A persistent watch stays after it fires; a recursive one fires for
  every node below the path too, with that node's path: created (1), deleted (2), data
  changed (3); child-changed (4) only in ``PERSISTENT`` mode.
* ``RemoveWatches`` (opcode 18): path and watcher type (``Any`` = 3, ``Persistent`` = 4,
  ``PersistentRecursive`` = 5; 3.8 knows only 1-3). NoWatcher (-121) when none is left.

Notifications arrive like every watch event (reply header xid -1), but kazoo routes them only
to the one-shot watchers it registered for that exact path, and drops them otherwise. The one
hook: ``Router`` replaces ``_read_watch_event`` on the client's own ``ConnectionHandler``
instance (not the class) with a function that decodes the event, hands it to the persistent
listeners whose path covers it, then calls kazoo's original, which still routes the one-shot
watches. Listeners run on kazoo's reader thread, before any later reply is read, so they must
only enqueue. Tested against kazoo 2.11.0 (the installed one); the hook checks that the
method exists and raises otherwise, so a kazoo without it fails at the first watch, loudly.

Server watches are per connection: after a reconnect the caller adds them again (and re-reads
what it follows). On failure a request raises kazoo's own error (the caller translates it);
an older server answers ``addWatch`` with UnimplementedError (-6).
"""

from __future__ import annotations

import threading
import time
from collections import namedtuple
from collections.abc import Callable, Container
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import UnimplementedError
from kazoo.protocol.paths import _prefix_root
from kazoo.protocol.serialization import Watch, int_struct, write_string

from ..base import EventType, WatchEvent
from .own_writes import OwnWrites
from .prefetch import Prefetcher

__all__ = [
    "PERSISTENT",
    "PERSISTENT_RECURSIVE",
    "AddWatch",
    "Armed",
    "RemoveWatches",
    "Router",
    "Vanished",
    "router_for",
    "vanished_keys",
]

PERSISTENT = 0
PERSISTENT_RECURSIVE = 1
_REMOVE_TYPE = {PERSISTENT: 4, PERSISTENT_RECURSIVE: 5}
ANY = 3

Listener = Callable[[int, str, "Router"], None]  # (event type, unchrooted path, the router)


class AddWatch(namedtuple("AddWatch", "path mode")):
    type = 106

    def serialize(self) -> bytearray:
        b = bytearray(write_string(self.path))
        b.extend(int_struct.pack(self.mode))
        return b

    @classmethod
    def deserialize(cls, bytes: bytes, offset: int) -> bool:
        return True


class RemoveWatches(namedtuple("RemoveWatches", "path watcher_type")):
    type = 18

    def serialize(self) -> bytearray:
        b = bytearray(write_string(self.path))
        b.extend(int_struct.pack(self.watcher_type))
        return b

    @classmethod
    def deserialize(cls, bytes: bytes, offset: int) -> bool:
        return True


class Router:
    """The persistent watches of one kazoo client: listeners by (path, mode), the hook."""

    def __init__(self, client: KazooClient) -> None:
        self._client = client
        self.own = OwnWrites(client)  # this session's writes in flight, for the reads of notifications
        self._lock = threading.Lock()
        self._listeners: dict[tuple[str, int], list[Listener]] = {}
        connection = client._connection
        original = getattr(type(connection), "_read_watch_event", None)
        if original is None:
            raise RuntimeError("this kazoo has no ConnectionHandler._read_watch_event to route watches")

        def read_watch_event(buffer: bytes, offset: int) -> Any:
            event, _ = Watch.deserialize(buffer, offset)
            self._route(event.type, client.unchroot(event.path))
            return original(connection, buffer, offset)

        connection._read_watch_event = read_watch_event

    def _route(self, kind: int, path: str) -> None:
        # On the reader thread, which must never wait: no lock (add and remove may hold theirs
        # while kazoo's _call blocks on a full wake-up pipe that only this thread drains). The
        # listeners are replaced, never changed, so one read of the attribute is a snapshot.
        targets = [
            listener
            for (root, mode), listeners in self._listeners.items()
            if path == root or (mode == PERSISTENT_RECURSIVE and _below(path, root))
            for listener in listeners
        ]
        for listener in targets:
            listener(kind, path, self)

    @property
    def routing(self) -> bool:
        """Whether any listener is registered (else nothing is routed)."""
        return bool(self._listeners)

    def add(self, path: str, mode: int, listener: Listener) -> Any:
        """Register ``listener`` and send ``addWatch``; returns kazoo's async result (wait on
        it: an error means the server holds no such watch, but the listener stays until
        ``remove``). Sent again on every call: after a reconnect that re-arms it."""
        with self._lock:  # sent under the lock: it reaches the server after any RemoveWatches
            listeners = dict(self._listeners)
            listeners[(path, mode)] = [*listeners.get((path, mode), []), listener]
            self._listeners = listeners
            return self.arm(path, mode)

    def arm(self, path: str, mode: int) -> Any:
        result = self._client.handler.async_result()
        self._client._call(AddWatch(_prefix_root(self._client.chroot, path), mode), result)
        return result

    def remove(self, path: str, mode: int, listener: Listener) -> Any | None:
        """Unregister ``listener``; when it was the last on (path, mode), ask the server to
        drop the watch and return that async result (None otherwise). A failed removal only
        leaves notifications that no listener receives."""
        result = self._client.handler.async_result()
        full = _prefix_root(self._client.chroot, path)
        # ZooKeeper 3.6-3.8 refuse the persistent types (MarshallingError; 3.9 takes them) but
        # remove a persistent watch with Any (3), which also takes kazoo's one-shot watches on
        # that same path: used only when kazoo holds none there.
        oneshot = full in self._client._data_watchers or full in self._client._child_watchers
        request = RemoveWatches(full, _REMOVE_TYPE[mode] if oneshot else ANY)
        # Queued under the lock (kazoo only queues it): an add of the same watch right after
        # is sent behind it, so the server cannot drop the watch that add asked for.
        with self._lock:
            listeners = dict(self._listeners)
            left = [other for other in listeners.pop((path, mode), []) if other is not listener]
            if left:
                listeners[(path, mode)] = left
            self._listeners = listeners
            if left:
                return None
            try:
                self._client._call(request, result)
            except Exception as exc:  # noqa: BLE001 - a closing client: its server watches go with it
                result.set_exception(exc)
        return result


def _below(path: str, root: str) -> bool:
    return path.startswith("/" if root == "/" else root + "/")


_routers_lock = threading.Lock()


def router_for(client: KazooClient) -> Router:
    """The client's router, hooked on first use (one per kazoo client)."""
    with _routers_lock:
        router = getattr(client, "_coordkit_router", None)
        if router is None:
            router = Router(client)
            client._coordkit_router = router
        return router


class Armed:
    """One coordkit watch's persistent watch, on whichever kazoo client is current."""

    def __init__(
        self, path: str, mode: int, put: Callable[[object], None], *, chrooted: bool, read: bool = False
    ) -> None:
        """Notifications go to ``put`` as ``(path, time.monotonic(), event type)``, but not
        child events (sent only in PERSISTENT mode, a key's: its children do not matter) nor
        those of the server's own ``/zookeeper`` subtree. With ``read`` (a watch that reads
        each node notified), a subtree's root counts only when deleted (it is no key), and
        each notification carries a fourth item: for this session's own write in flight, that
        write's outcome, which spares the worker a read (:mod:`.own_writes`); else the read
        the reader thread sent as it routed the notification, the notification held back
        until that read is answered (:mod:`.prefetch`); or None when it could send none (the
        worker reads). The reader thread never calls kazoo's ``_call``: it can block on its
        wake-up pipe, which only this thread drains."""
        self._path, self._mode = path, mode
        self._lock = threading.Lock()
        self._on: KazooClient | None = None
        self.prefetcher = prefetcher = Prefetcher(put)

        def listener(kind: int, path: str, router: Router) -> None:  # kazoo's reader thread
            if kind == 4 or (not chrooted and (path == "/zookeeper" or path.startswith("/zookeeper/"))):
                return
            if read and kind != 2 and path == self._path and mode == PERSISTENT_RECURSIVE:
                return  # a subtree's root is no key: only its deletion matters (and is read)
            stamp = time.monotonic()
            if not read:
                put((path, stamp, kind))
                return
            prefetcher.route(router._client, path, stamp, kind, router.own.written(path))

        self._listener: Listener = listener

    def arm(self, client: KazooClient, deadline: float) -> bool:
        """Add the watch on ``client`` (again, if already added: after a reconnect the server
        has forgotten it) and wait for the reply. False if the server has no ``addWatch``
        (then nothing is left registered); raises kazoo's error on any other failure."""
        router = router_for(client)
        with self._lock:  # registered (and sent) as one step with respect to disarm()
            previous, self._on = self._on, client
            if previous is client:
                result = router.arm(self._path, self._mode)
            else:
                if previous is not None:  # a new session: the old client is closed
                    router_for(previous).remove(self._path, self._mode, self._listener)
                result = router.add(self._path, self._mode, self._listener)
        if previous is not None and previous is not client:  # its replies may be slow to fail
            self.prefetcher.release()
        try:
            result.get(timeout=max(0.0, deadline - time.monotonic()))
        except UnimplementedError:
            self.disarm()
            return False
        return True

    def disarm(self) -> None:
        """Stop routing to the listener and ask the server to drop the watch (not awaited)."""
        with self._lock:
            client, self._on = self._on, None
            if client is not None:
                router_for(client).remove(self._path, self._mode, self._listener)


def vanished_keys(
    vanished: list[tuple[str, int]], notified: list[str], known: Container[str]
) -> list[tuple[str, int]]:
    """Which nodes created and gone before their read were keys, with the zxid read.

    The server sends a watch event before the reply to any read sent after the change, so
    once that read has returned, every node created below a vanished one has been notified
    (``notified``: the paths of this batch and of those queued since). A vanished node with
    nothing created below it was a key: an implicit parent exists only for a child. One with
    a node created below it is taken for a parent. Keys in ``known`` already got theirs.
    """
    return [
        (path, zxid)
        for path, zxid in vanished
        if path not in known and not any(p.startswith(path + "/") for p in notified)
    ]


class Vanished:
    """The keys that a watch's reads of notified nodes found gone: the DELETEs it owes, each due
    with the batch of notifications that holds its deletion's (its place in the store's order)
    or with a full re-read. That notification came before the read's reply, but maybe behind
    those of changes made before the deletion, which the reading batch left for the next one
    (see :mod:`.notified`). Among them the nodes created and gone before their read (their
    value is gone too), which were keys unless nodes were created below them."""

    def __init__(self) -> None:
        self.found: list[tuple[str, int]] = []  # this batch's created and gone: (path, zxid read)
        self.dropped: list[WatchEvent] = []  # this batch's DELETEs of known keys found gone
        self._owed: dict[str, int] = {}

    def settle(self, notified: list[str], known: Container[str]) -> None:
        """Owe the batch's DELETEs: those ``dropped`` and, of the nodes ``found``, the keys
        (see :func:`vanished_keys`)."""
        for path, zxid in [
            *vanished_keys(self.found, notified, known),
            *((e.key, e.revision) for e in self.dropped),
        ]:
            self._owed.setdefault(path, zxid)
        self.found, self.dropped = [], []

    def due(self, notified: list[Any], reread: bool) -> list[WatchEvent]:
        """The DELETEs due in a batch of ``notified`` items, every one after a full ``reread``."""
        deleted = {item[0] for item in notified if isinstance(item, tuple) and item[2] == 2}
        due = [path for path in self._owed if reread or path in deleted]
        return [WatchEvent(EventType.DELETE, path, None, self._owed.pop(path)) for path in due]
