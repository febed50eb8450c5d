"""The store's order of one batch of a ZooKeeper watch's changes.

A batch is what one re-read found: PUTs, each with the exact ``mod_revision`` of the value read,
and DELETEs, whose zxid ZooKeeper does not keep (a DELETE carries the zxid at which a read found
the key gone, which may be later than changes made after the deletion). What places a DELETE
among the PUTs is the order in which the server sent the batch's notifications, the order in
which it made the changes: a DELETE goes before the first PUT (by revision) of a key notified
after the deletion, and before its own key's PUT when the key was created again; a DELETE with
no notification of its own (a full re-read's diff) goes after every PUT, as before.

A DELETE placed before a PUT gets a revision below that PUT's (the key was gone by then: below
the ``mod_revision`` of a change made after the deletion, or below the ``create_revision`` of its
key created again), so that the PUTs keep their exact revisions.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from typing import Any

from ..base import Entry, EventType, WatchEvent

__all__ = ["in_store_order"]

_DELETED = 2  # a persistent watch's notification of a node deleted


def in_store_order(
    deletes: Sequence[WatchEvent], puts: Sequence[Entry], notified: Sequence[Any] = ()
) -> list[tuple[EventType, str, Entry | None, int]]:
    """``(type, key, entry, revision)`` for each change, in the store's order (see the module's
    docstring); ``notified``: the batch's notifications ``(path, stamp, type, ...)`` as sent."""
    last: dict[str, int] = {}  # the position of a path's last notification
    deleted: dict[str, int] = {}  # and of its first deletion's
    for position, item in enumerate(notified):
        if isinstance(item, tuple):
            last[item[0]] = position
            if item[2] == _DELETED:
                deleted.setdefault(item[0], position)
    ordered = sorted(puts, key=lambda e: (e.mod_revision, e.key))
    # reach[i]: the latest notification among the first i + 1 PUTs, so the first PUT notified
    # after position p is at bisect_right(reach, p), whatever order revisions put them in.
    reach = list(itertools.accumulate((last.get(e.key, -1) for e in ordered), max))
    own = {entry.key: index for index, entry in enumerate(ordered)}
    before: dict[int, list[WatchEvent]] = {}
    for delete in deletes:
        where = deleted.get(delete.key, last.get(delete.key))
        slot = len(ordered) if where is None else bisect.bisect_right(reach, where)
        before.setdefault(min(slot, own.get(delete.key, slot)), []).append(delete)
    changes: list[tuple[EventType, str, Entry | None, int]] = []
    for index in range(len(ordered) + 1):
        entry = ordered[index] if index < len(ordered) else None
        for delete in before.get(index, ()):
            revision = delete.revision
            if entry is not None:
                below = entry.create_revision if entry.key == delete.key else entry.mod_revision
                revision = min(revision, below - 1)
            changes.append((EventType.DELETE, delete.key, None, revision))
        if entry is not None:
            changes.append((EventType.PUT, entry.key, entry, entry.mod_revision))
    return changes
