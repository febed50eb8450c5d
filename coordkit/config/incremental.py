"""Applying one coordkit change from the watch's events (and a few single-key reads),
without reading the whole subtree.

Every coordkit change writes its keys and the marker ``<app>/.version`` in one transaction
(etcd: one txn; ZooKeeper: one multi), so they all carry the transaction's revision, and
the marker names every key the change wrote or deleted (:func:`.store.marker_value`). The
state applied last is known whole (see :mod:`.follower`). The events not yet applied are
taken as the next change ``M`` on top of it only when:

* the marker (its event, or read when its event has not come yet) is the same marker node
  (same create revision) at exactly the next version: no other coordkit change came in
  between, so the keys ``M`` names are the only ones any coordkit change touched since;
* every event is of a key ``M`` names: a PUT whose ``mod_revision`` is ``M``'s revision
  (the value ``M`` wrote, unchanged since), or a DELETE;
* the keys ``M`` names without such a PUT (not delivered yet, or deleted: a DELETE's
  revision does not tell which change deleted the key, ZooKeeper stamps it with a zxid at
  which the key was found gone) are read one by one and then the marker again: they must be
  absent or written at ``M``'s revision, and the marker unchanged (no later coordkit change
  came during those reads).

Anything else (a change folded with the next, a key written again since, an event of
another tool's write, a re-created or unreadable marker, many keys to read) is not decided
here: the caller reads the whole subtree, as it always did. Writes of other tools (without
the marker) get no more promise than a full read gives them (see :mod:`.store`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping

from ..backends.base import Entry, EventType, WatchEvent
from ..errors import InvalidNameError
from ..names import join, validate_name

__all__ = ["MAX_READS", "next_state"]

MAX_READS = 8  # single-key reads worth making instead of one read of the whole subtree

GetFn = Callable[[str], Entry | None]


def next_state(
    known: Mapping[str, Entry], events: Iterable[WatchEvent], root: str, marker: str, get: GetFn
) -> tuple[list[Entry], int] | None:
    """The entries after ``events`` and their revision when they are one whole coordkit
    change on top of ``known`` (the entries applied last, by key); None when that cannot be
    told cheaply. ``get`` reads one key (it raises what the store raises)."""
    latest: dict[str, WatchEvent] = {}
    for event in events:
        latest[event.key] = event
    before = known.get(marker)
    if before is None or not latest:
        return None
    noted = latest.pop(marker, None)
    after = noted.entry if noted is not None else get(marker)
    expected = (before.create_revision, before.version + 1)
    if after is None or (after.create_revision, after.version) != expected:
        return None
    keys = _named(after.value, root)
    revision = after.mod_revision
    if keys is None or marker in keys or not latest.keys() <= keys:
        return None
    state = dict(known)
    unsure = keys - latest.keys()
    for key, event in latest.items():
        if event.type is not EventType.PUT:
            unsure.add(key)  # a DELETE's revision need not be the deletion's: read the key
        elif event.entry is None or event.entry.mod_revision != revision:
            return None
        else:
            state[key] = event.entry
    if not _read_unsure(sorted(unsure), state, revision, marker, after, get):
        return None
    state[marker] = after
    return sorted(state.values(), key=lambda e: e.key), revision


def _read_unsure(
    keys: list[str], state: dict[str, Entry], revision: int, marker: str, after: Entry, get: GetFn
) -> bool:
    """Read ``keys`` into ``state``; False if one was written at another revision, if there
    are too many, or if the marker moved meanwhile (a later change may have touched them)."""
    if not keys:
        return True
    if len(keys) > MAX_READS:
        return False
    for key in keys:
        entry = get(key)
        if entry is None:
            state.pop(key, None)
        elif entry.mod_revision != revision:
            return False
        else:
            state[key] = entry
    again = get(marker)
    return again is not None and (again.create_revision, again.mod_revision) == (
        after.create_revision,
        after.mod_revision,
    )


def _named(value: bytes, root: str) -> set[str] | None:
    """The keys a marker value names, as store keys; None if it is not a marker's value."""
    try:
        keys = json.loads(value)["keys"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
        return None
    try:
        return {validate_name(join(root, k)) for k in keys}
    except InvalidNameError:  # written by some other tool: not for single-key reads
        return None
