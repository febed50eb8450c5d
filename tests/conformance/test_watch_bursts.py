"""Keys that live for an instant under a recursive watch still show in it, on every backend.

A key created and deleted right away must not pass unseen: its DELETE arrives (after its PUT
where the backend could still read the value; ZooKeeper cannot read a node already gone, so
there only the DELETE is certain).
"""

from __future__ import annotations

import coordkit
from coordkit import EventType, WatchEvent

DEADLINE = 10.0


def _until_deleted(watch: coordkit.WatchHandle, keys: list[str]) -> list[WatchEvent]:
    missing, seen = set(keys), []
    while missing:
        event = watch.get(timeout=DEADLINE)
        assert event is not None, f"no DELETE for {sorted(missing)}; saw {seen}"
        seen.append(event)
        if event.type is EventType.DELETE:
            missing.discard(event.key)
    return seen


def test_key_created_and_deleted_at_once_shows_its_delete(client: coordkit.Client) -> None:
    keys = [f"/burst/k{i:02d}" for i in range(20)]
    client.put("/burst/keep", "so that the parent stays")
    with client.watch("/burst", recursive=True) as watch:
        for key in keys:
            client.put(key, "brief")
            client.delete(key)
        seen = _until_deleted(watch, keys)
        assert watch.get(timeout=0.3) is None, "an event arrived twice"
    for key in keys:
        mine = [e for e in seen if e.key == key]
        kinds = [e.type for e in mine]
        assert kinds in ([EventType.PUT, EventType.DELETE], [EventType.DELETE]), (key, mine)
        assert all(e.entry is None or e.entry.value == b"brief" for e in mine)
    revisions = [e.revision for e in seen]
    assert revisions == sorted(revisions)
    assert {e.key for e in seen} == set(keys)


def test_deep_key_created_and_deleted_at_once_shows_only_that_key(client: coordkit.Client) -> None:
    keys = [f"/deep/d{i:02d}/k" for i in range(10)]  # on ZooKeeper each needs a parent of its own
    with client.watch("/deep", recursive=True) as watch:
        for key in keys:
            client.put(key, "brief")
            client.delete(key)
        seen = _until_deleted(watch, keys)
        assert watch.get(timeout=0.3) is None, "an event for a key never written (a parent?)"
    assert {e.key for e in seen} == set(keys)
