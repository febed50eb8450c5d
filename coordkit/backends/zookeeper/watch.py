"""Watches on ZooKeeper: a persistent watch (3.6+) or one-shot kazoo watches, diffed against a snapshot.

On ZooKeeper 3.6+ a watch is one server watch (:mod:`.persistent`: PERSISTENT_RECURSIVE, or PERSISTENT
on a key) naming each node created, deleted or changed; only those nodes' data are read, as notified
(:mod:`.prefetch`, :mod:`.notified`). A node created and gone before its read gets a DELETE in store
order (:class:`.persistent.Vanished`: its value is gone); after a reconnect the watch is added again
before the full re-read. Without ``addWatch`` or with ``persistent_watches=False``: one-shot watches.

One-shot: a data and a child watch on every node of the subtree (``exists`` on an absent
root or key); on a notification the worker re-reads that node (and children it did not
know), re-arming the watches, and diffs the result against the snapshot ``{key: Entry}`` of
what it delivered. That makes delivery exactly-once by construction: a PUT goes out only
for a key that is new, re-created (other ``create_revision``) or has a newer
``mod_revision``; a DELETE only for a key in the snapshot. kazoo forgets its watches
whenever the connection drops (and never re-registers them), so after a reconnect, a new
session or a failed re-read the worker re-reads the whole subtree and delivers the diff.

Order within one re-read (:mod:`.batch_order`): PUTs by ``mod_revision``, each DELETE notified
in the batch before the first PUT notified after it, the other DELETEs after them all (a
re-created key's just before its PUT), children before parents. ZooKeeper keeps no record of
when a node was deleted, so a DELETE carries the zxid at which the server answered the read
that found the key gone (kazoo's ``last_zxid``), or the next PUT's if lower: a revision at
which the key was absent, never below one already delivered. Revisions never decrease.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from kazoo.client import KazooClient

from ...errors import CoordkitError
from .. import probe as probes
from ..base import Entry, EventType, Watch, WatchCallback, WatchEvent
from .batch_order import in_store_order
from .errors import TRANSLATED
from .multiread import read_levels_multi
from .notified import READ_DONE, drain, read_notified
from .persistent import PERSISTENT, PERSISTENT_RECURSIVE, Armed, Vanished
from .read import (
    NodeRead,
    child_path,
    is_parent,
    read_key,
    read_nodes,
    to_entry,
    visible,
)

__all__ = ["ZkWatch"]

log = logging.getLogger(__name__)

_RESYNC = object()  # re-read the whole subtree
_STOP = object()
_FIRST_RETRY = 0.1
_MAX_RETRY = 2.0


class ZkWatch(Watch):
    """One running watch; built and started by ``ZooKeeperBackend.watch``."""

    def __init__(
        self,
        *,
        path: str,
        prefix: bool,
        callback: WatchCallback,
        client_for: Callable[[], KazooClient],
        timeout: float,
        chrooted: bool,
        on_cancel: Callable[[ZkWatch], None],
        persistent: bool = False,
        on_unsupported: Callable[[], None] = lambda: None,
    ) -> None:
        self._path = path
        self._below = "/" if path == "/" else path + "/"
        self._prefix = prefix
        self._callback = callback
        self._client_for = client_for  # raises a coordkit error while the session is unusable
        self._timeout = timeout
        self._chrooted = chrooted
        self._on_cancel = on_cancel
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._entries: dict[str, Entry] = {}
        self._kids: dict[str, set[str]] = {}  # child names of every node known, the root too
        self._last_revision = 0
        self._initial: list[WatchEvent] = []
        self._cancelled = threading.Event()
        self._persistent = persistent  # one addWatch instead of one-shot watches
        self._on_unsupported = on_unsupported
        self._vanished = Vanished()  # nodes created, gone when read, and the DELETEs owed
        self._marked: set[str] = set()  # keys that became implicit parents in this re-read
        self._carry: list[object] = []  # notified while a re-read ran: the next batch
        self._taken: list[Any] = []  # notified while the reads were out, and read with them
        self._thread = threading.Thread(target=self._run, name=f"coordkit-zk-watch {path}", daemon=True)
        events = self._queue

        def on_event(event: Any) -> None:
            # Runs on kazoo's event thread: only enqueue. NONE events are kazoo dropping its
            # watches on a disconnect; the RECONNECTED resync re-arms them.
            if event.type != "NONE":
                events.put((event.path, time.monotonic(), 0))  # stamped for the watch lag

        self._watcher = on_event
        mode = PERSISTENT_RECURSIVE if prefix else PERSISTENT  # own writes noted for a subtree
        self._armed = Armed(path, mode, events.put, chrooted=chrooted, read=prefix)

    # --- lifecycle ---------------------------------------------------------------
    def start(self, start_revision: int | None, deadline: float, client: KazooClient) -> None:
        """Arm the watch, take the initial snapshot, start the worker. Raises what the reads
        raise; then nothing runs. The snapshot (the state before the watch) is not delivered,
        except, with ``start_revision``, its keys written at or after that revision (ZooKeeper
        cannot tell older history). The reads run on ``client`` within ``deadline``."""
        puts: list[Entry] = []
        if self._persistent:
            self._arm(client, deadline)
        self._sync(None, [], puts, deadline, client)
        if start_revision is not None:
            self._initial = self._order([], [e for e in puts if e.mod_revision >= start_revision])
        self._thread.start()

    def resync_soon(self) -> None:
        """Ask for a full re-read (after a reconnect or a new session); never blocks."""
        if (probe := probes.active) is not None:
            probe.watch_resync("zookeeper", "reconnect")
        self._queue.put(_RESYNC)

    def cancel(self) -> None:
        self.stop_soon()
        self.join(None)

    def cancel_nowait(self) -> None:
        self.stop_soon()

    def stop_soon(self) -> None:
        """Stop delivering (no callback starts after this returns) without waiting."""
        if not self._cancelled.is_set():
            self._cancelled.set()
            self._on_cancel(self)
            self._queue.put(_STOP)
            self._armed.disarm()
        # One-shot watches left behind fire once into this queue, which nobody reads any more.

    def join(self, timeout: float | None) -> None:
        """Wait for a running callback to return (not when called from the callback itself)."""
        if self._thread.ident is not None and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    # --- worker ------------------------------------------------------------------
    def _run(self) -> None:
        self._deliver(self._initial)
        retry_in: float | None = None
        while not self._cancelled.is_set():
            items, self._carry = self._carry, []
            try:
                items = items or [self._queue.get(timeout=retry_in)]
            except queue.Empty:
                items = [_RESYNC]
            items += drain(self._queue)  # coalesce a burst of notifications into one re-read
            if any(item is _STOP for item in items):
                return
            if not (items := [item for item in items if item is not READ_DONE]):
                continue  # a read's marker left from the last batch (see .notified)
            full = retry_in is not None or any(item is _RESYNC for item in items)
            notified = [item for item in items if isinstance(item, tuple)]
            paths = None if full else {item[0]: item[3] if len(item) > 3 else None for item in notified}
            created = {item[0] for item in notified if item[2] == 1}
            deletes: list[WatchEvent] = []
            puts: list[Entry] = []
            self._vanished.found, self._vanished.dropped, self._taken, self._marked = [], [], [], set()
            try:
                if full and self._persistent:
                    self._arm(self._client_for(), time.monotonic() + self._timeout)
                self._sync(paths, deletes, puts, created=created)
                notified += self._taken  # notified while the reads were out, and read with them
                retry_in = None
            except (CoordkitError, *TRANSLATED) as exc:  # unreachable, or no live session
                retry_in = min(_MAX_RETRY, 2 * retry_in) if retry_in else _FIRST_RETRY
                log.debug(
                    "coordkit watch on %s: re-read failed (%r); retrying in %.1fs", self._path, exc, retry_in
                )
            except Exception:  # a bug here must not end the watch silently
                retry_in = _MAX_RETRY
                log.exception("coordkit watch on %s: re-read failed", self._path)
            self._flashes(notified, deletes, full, retry_in is not None)
            # What was read before a failure is already in the snapshot: deliver it anyway.
            delivered = self._order(deletes, puts, () if full or not self._persistent else notified)
            self._deliver(delivered)
            if delivered and notified and (probe := probes.active) is not None:
                probe.watch_lag("zookeeper", time.monotonic() - min(item[1] for item in notified))

    def _flashes(self, notified: list[Any], deletes: list[WatchEvent], full: bool, failed: bool) -> None:
        """DELETEs of keys notified reads found gone, in store order (``Vanished``); none if ``failed``."""
        seen: list[str] = []
        if self._vanished.found:
            held = self._armed.prefetcher.held()  # arrived too; before the drain, which they may join
            self._carry += drain(self._queue)  # those the re-read's replies came behind: next batch
            seen = held + [item[0] for item in notified + self._carry if isinstance(item, tuple)]
        self._vanished.settle(seen, self._entries)
        at = 0 if full else len(deletes)  # a full re-read's owed were found gone before the diff's
        deletes[at:at] = self._vanished.due([] if failed else notified, full and not failed)

    def _arm(self, client: KazooClient, deadline: float) -> None:
        """Add (again, after a reconnect) the persistent watch, or fall back for good."""
        if not self._armed.arm(client, deadline):
            log.info("coordkit watch on %s: no addWatch (server < 3.6), using one-shot watches", self._path)
            self._persistent = False
            self._on_unsupported()

    def _deliver(self, events: list[WatchEvent]) -> None:
        for event in events:
            if self._cancelled.is_set():
                return
            try:
                self._callback(event)
            except Exception:  # a callback's bug must not end the watch
                log.exception("coordkit watch callback failed on %s", event.key)

    def _order(self, deletes: list[WatchEvent], puts: list[Entry], notified: Any = ()) -> list[WatchEvent]:
        return [self._event(*change) for change in in_store_order(deletes, puts, notified, self._marked)]

    def _event(self, kind: EventType, key: str, entry: Entry | None, revision: int) -> WatchEvent:
        self._last_revision = max(self._last_revision, revision)
        return WatchEvent(kind, key, entry, self._last_revision)

    # --- reading and diffing -------------------------------------------------------
    def _sync(
        self,
        paths: dict[str, Any] | None,
        deletes: list[WatchEvent],
        puts: list[Entry],
        deadline: float | None = None,
        client: KazooClient | None = None,
        created: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> None:
        """Re-read ``paths`` (None: everything; a path's value: this session's own write of it
        in flight, or None) and record the differences from the snapshot. With ``deadline``
        (the first read, which a caller waits for) every level is read by it; without, each
        level gets the operation timeout (a background resync)."""
        if client is None:
            client = self._client_for()
        watcher = None if self._persistent else self._watcher
        if not self._prefix:
            entry = read_key(client, self._path, deadline or time.monotonic() + self._timeout, watcher)
            old = self._entries.get(self._path)
            if old is not None and (entry is None or entry.create_revision != old.create_revision):
                self._drop(self._path, client.last_zxid, deletes)
                old = None
            if entry is None and old is None and self._path in created:
                self._vanished.found.append((self._path, client.last_zxid))
            if entry is not None and (old is None or entry.mod_revision > old.mod_revision):
                self._entries[self._path] = entry
                puts.append(entry)
            return
        deep = paths is None
        level = [self._path] if paths is None else sorted(filter(self._covers, paths))
        if self._persistent:  # the watch is armed: read without leaving watches
            if paths is None:
                self._sync_levels(client, deadline or time.monotonic() + self._timeout, deletes, puts)
            else:  # each node created, changed or deleted is notified: read only their data
                self._sync_data(client, {p: paths[p] for p in level}, created, deletes, puts)
            return
        root_only = frozenset({self._path})
        listed = False  # the first level was asked for; the next ones come from listings
        while level:
            reads = read_nodes(
                client,
                level,
                deadline or time.monotonic() + self._timeout,
                watcher=watcher,
                containers=root_only,
            )
            observed = client.last_zxid  # the server's zxid when it answered these reads
            following: list[str] = []
            for path in level:
                if reads[path] is None and path in created and path not in self._entries and not listed:
                    self._vanished.found.append((path, observed))
                following += self._apply(path, reads[path], deep, observed, deletes, puts, listed)
            level, listed = following, True

    def _covers(self, path: str) -> bool:
        return path == self._path or path.startswith(self._below)

    def _sync_levels(
        self, client: KazooClient, deadline: float, deletes: list[WatchEvent], puts: list[Entry]
    ) -> None:
        """A full re-read under a persistent watch: one multiRead per level (3.6+ already)."""
        with self._armed.prefetcher.reading():  # older prefetched answers must not follow these
            top, levels = read_levels_multi(client, self._path, deadline, chrooted=self._chrooted)
        self._apply(self._path, top, True, client.last_zxid, deletes, puts)
        for path, read in (node for level in levels for node in level):  # a node gone is notified
            self._apply(path, read, True, client.last_zxid, deletes, puts, True)

    def _sync_data(
        self,
        client: KazooClient,
        paths: dict[str, Any],
        created: set[str],
        deletes: list[WatchEvent],
        puts: list[Entry],
    ) -> None:
        """Read the notified nodes' data (no listings: children are notified): :mod:`.notified`."""
        reads, self._taken, later = read_notified(
            client, paths, time.monotonic() + self._timeout, self._queue, self._covers, self._armed.prefetcher
        )
        self._carry += later
        created = created | {item[0] for item in self._taken if item[2] == 1}
        observed = client.last_zxid
        for path, read in reads.items():
            if read is None and path in created and path not in self._entries:
                self._vanished.found.append((path, observed))
            if read is None or path == self._path:  # the root is no key: only its deletion counts
                if read is None:  # its DELETE waits for its deletion's notification
                    self._drop(path, observed, self._vanished.dropped)
                continue
            self._fold(path, read, observed, deletes, puts)
            parent, _, name = path.rpartition("/")
            self._kids.setdefault(parent or "/", set()).add(name)

    def _fold(
        self, path: str, read: NodeRead, observed: int, deletes: list[WatchEvent], puts: list[Entry]
    ) -> None:
        """Fold one node's data into the snapshot (a key, or an implicit parent: no key)."""
        if is_parent(read.data):  # a key deleted while keys below remain, or a node made for them
            old = self._entries.pop(path, None)
            if old is not None and read.stat.czxid == old.create_revision:  # marked: at the deletion
                deletes.append(WatchEvent(EventType.DELETE, path, None, read.stat.mzxid))
                self._marked.add(path)
            elif old is not None:  # deleted (notified as such), then a node made for a key below
                owing = self._vanished.dropped if self._persistent else deletes
                owing.append(WatchEvent(EventType.DELETE, path, None, observed))
            return
        entry = to_entry(path, read.data, read.stat)
        old = self._entries.get(path)
        if old is not None and old.create_revision != entry.create_revision:
            self._drop(path, observed, deletes)  # deleted and created again since last read
            old = None
        if old is None or entry.mod_revision > old.mod_revision:
            self._entries[path] = entry
            puts.append(entry)

    def _apply(
        self,
        path: str,
        read: NodeRead | None,
        deep: bool,
        observed: int,
        deletes: list[WatchEvent],
        puts: list[Entry],
        listed: bool = False,
    ) -> list[str]:
        """Fold one node's read into the snapshot; returns the children still to read.

        A node that a parent's listing in this same re-read named but that is gone when read
        (``listed``) was deleted after that listing, maybe after keys were created that the
        listing did not show yet: its DELETE waits for the re-read of the parent, whose child
        watch (armed by that listing) fires for it, so that it comes after those keys' PUTs,
        in store order."""
        if path == self._path:  # the watched path is not itself a key of the watch
            if read is None:
                for name in sorted(self._kids.pop(path, set())):
                    self._drop(child_path(path, name), observed, deletes)
                return []
            return self._children(
                path, visible(path, read.children, chrooted=self._chrooted), deep, observed, deletes
            )
        if read is None:
            if not listed:
                self._drop(path, observed, deletes)
            return []
        parent, _, name = path.rpartition("/")
        self._fold(path, read, observed, deletes, puts)  # an implicit parent: its keys are watched
        self._kids.setdefault(parent or "/", set()).add(name)
        return self._children(path, read.children, deep, observed, deletes)

    def _children(
        self, path: str, names: list[str], deep: bool, observed: int, deletes: list[WatchEvent]
    ) -> list[str]:
        known = self._kids.get(path, set())
        current = set(names)
        for name in sorted(known - current):
            self._drop(child_path(path, name), observed, deletes)
        self._kids[path] = current
        return [child_path(path, n) for n in sorted(current) if deep or n not in known]

    def _drop(self, path: str, observed: int, deletes: list[WatchEvent]) -> None:
        """Forget ``path`` and everything below it, recording a DELETE for each known key."""
        for name in sorted(self._kids.pop(path, set())):
            self._drop(child_path(path, name), observed, deletes)
        parent, _, name = path.rpartition("/")
        self._kids.get(parent or "/", set()).discard(name)
        if self._entries.pop(path, None) is not None:
            deletes.append(WatchEvent(EventType.DELETE, path, None, observed))
