"""The entries a commit returns are the entries a read gives right after it, for every kind
of Put (etcd builds them from each put's previous state, without reading back)."""

from __future__ import annotations

import coordkit
from coordkit import Delete, EventType, Put

DEADLINE = 10.0


def test_a_commit_returns_what_a_read_then_gives(client: coordkit.Client) -> None:
    first = client.put("/e/a", "1")
    client.put("/e/b", "gone")
    client.put("/e/plain", "old")
    results = client.commit(
        [
            Put("/e/a", b"2", version=first.version),
            Delete("/e/b"),
            Put("/e/new", b"3"),
            Put("/e/made", b"4", create=True),
            Put("/e/plain", b"5"),
        ]
    )
    read = [client.get(key) for key in ("/e/a", "/e/new", "/e/made", "/e/plain")]
    assert results[1] is None and client.get("/e/b") is None
    assert [results[0], results[2], results[3], results[4]] == read
    assert results[0] is not None and (results[0].version, results[0].create_revision) == (
        first.version + 1,
        first.create_revision,
    )
    assert results[2] is not None and results[2].version == 1
    assert results[2].create_revision == results[2].mod_revision == results[0].mod_revision


def test_a_key_watch_sees_its_key_deleted_into_a_parent_and_written_again(client: coordkit.Client) -> None:
    client.put("/s", "1")
    client.put("/s/c", "c")
    with client.watch("/s") as watch:
        client.delete("/s")
        deleted = watch.get(timeout=DEADLINE)
        client.put("/s", "2")
        written = watch.get(timeout=DEADLINE)
    assert deleted is not None and (deleted.type, deleted.key) == (EventType.DELETE, "/s")
    assert written is not None and written.type == EventType.PUT
    assert written.entry is not None and written.entry.value == b"2"
