"""The store's order of one batch of a ZooKeeper watch's changes.

A batch is what one re-read found: PUTs, each with the exact ``mod_revision`` of the value read,
and DELETEs, whose zxid ZooKeeper does not keep (a DELETE carries the zxid at which a read found
the key gone, which may be later than changes made after the deletion). What places a DELETE
among the PUTs is the order in which the server sent the batch's notifications of a persistent
watch, the order in which it made the changes: a DELETE whose deletion was notified in the batch
goes before the first PUT (by revision) of a key notified after it; the others (their deletion
notified in a later batch, or a full re-read's diff) after every PUT. A key that became an
implicit parent (deleted while it had children: the parent mark written on its node) is placed
by revision: the mark's ``mzxid`` is its deletion's zxid. Either way a re-created key's DELETE,
and the DELETEs of the keys that were below it, go before its own PUT, and DELETEs side by side
keep the order of their deletions, children before parents.

A DELETE placed before a PUT gets a revision no later than that PUT's (the key was gone by then;
the ops of one ZooKeeper multi share one zxid, as an etcd transaction's share one revision), or
than its ``create_revision`` for its key created again, so that the PUTs keep their exact revisions.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Container, Sequence
from typing import Any

from ..base import Entry, EventType, WatchEvent

__all__ = ["in_store_order"]

_DELETED = 2  # a persistent watch's notification of a node deleted


def in_store_order(
    deletes: Sequence[WatchEvent],
    puts: Sequence[Entry],
    notified: Sequence[Any] = (),
    exact: Container[str] = frozenset(),
) -> list[tuple[EventType, str, Entry | None, int]]:
    """``(type, key, entry, revision)`` for each change, in the store's order (see the module's
    docstring); ``notified``: the batch's notifications ``(path, stamp, type, ...)`` as sent, of
    a persistent watch (a one-shot watch's name no change: none); ``exact``: the keys whose
    DELETE carries the zxid of the deletion itself (a key that became an implicit parent: the
    mark's), placed among the PUTs by revision."""
    last: dict[str, int] = {}  # the position of a path's last notification
    deleted: dict[str, int] = {}  # and of its first deletion's
    for position, item in enumerate(notified):
        if isinstance(item, tuple):
            last[item[0]] = position
            if item[2] == _DELETED:
                deleted.setdefault(item[0], position)
    ordered = sorted(puts, key=lambda e: (e.mod_revision, e.key))
    revisions = [entry.mod_revision for entry in ordered]
    # reach[i]: the latest notification among the first i + 1 PUTs, so the first PUT notified
    # after position p is at bisect_right(reach, p), whatever order revisions put them in.
    reach = list(itertools.accumulate((last.get(e.key, -1) for e in ordered), max))
    own = {entry.key: index for index, entry in enumerate(ordered)}
    again = own.keys() & {delete.key for delete in deletes}  # deleted and created again
    before: dict[int, list[tuple[float, int, WatchEvent]]] = {}
    for rank, delete in enumerate(deletes):
        if delete.key in exact:
            where, slot = last.get(delete.key), bisect.bisect_left(revisions, delete.revision)
        else:
            where = deleted.get(delete.key)
            slot = len(ordered) if where is None else bisect.bisect_right(reach, where)
        at = math.inf if where is None else where
        for above in _ancestors(delete.key) & again:  # gone before the key above it was deleted
            slot, at = min(slot, own[above]), min(at, deleted.get(above, math.inf) - 0.5)
        before.setdefault(min(slot, own.get(delete.key, slot)), []).append((at, rank, delete))
    changes: list[tuple[EventType, str, Entry | None, int]] = []
    for index in range(len(ordered) + 1):
        entry = ordered[index] if index < len(ordered) else None
        for _, _, delete in sorted(before.get(index, ()), key=lambda place: place[:2]):
            revision = delete.revision
            if entry is not None:
                revision = min(
                    revision, entry.create_revision if entry.key == delete.key else entry.mod_revision
                )
            changes.append((EventType.DELETE, delete.key, None, revision))
        if entry is not None:
            changes.append((EventType.PUT, entry.key, entry, entry.mod_revision))
    return changes


def _ancestors(key: str) -> set[str]:
    parts = key.split("/")
    return {"/".join(parts[:end]) for end in range(2, len(parts))}
