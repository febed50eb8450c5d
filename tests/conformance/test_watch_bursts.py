"""Keys that live for an instant under a recursive watch still show in it, on every backend.

A key created and deleted right away must not pass unseen: its DELETE arrives (after its PUT
where the backend could still read the value; ZooKeeper cannot read a node already gone, so
there only the DELETE is certain). Nor may it lose its place: its DELETE comes after the changes
the store made before it, however far behind the watcher is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest
from async_facade import LoopThread, facade_connect

import coordkit
from coordkit import EventType, WatchEvent
from coordkit.testing.proxy import FaultProxy

DEADLINE = 10.0
ROUNDS = 8
PUT, DELETE = EventType.PUT, EventType.DELETE
Lagging = tuple[coordkit.Client, Callable[[], contextlib.AbstractContextManager[None]]]


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


@pytest.fixture
def lagging(
    request: pytest.FixtureRequest, backend_kind: str, store_url: str, async_loop: LoopThread | None
) -> Iterator[Lagging]:
    """A client on the test's namespace and ``hold()``: while in it, the client hears nothing
    from its servers (replies and notifications wait in a proxy, then come all at once). The
    memory backend hands each event over with its value: nothing there can fall behind."""
    if backend_kind == "memory":
        url, proxy = store_url, None
    else:
        server = request.getfixturevalue(f"{backend_kind}_server")
        proxy = FaultProxy(server.endpoints)
        url = proxy.url(server.scheme, store_url[len(server.url) :])

    @contextlib.contextmanager
    def hold() -> Iterator[None]:
        if proxy is None:
            yield
            return
        proxy.hold_replies()
        try:
            yield
        finally:
            proxy.heal()

    watcher = coordkit.connect(url, ttl=10) if async_loop is None else facade_connect(async_loop, url, ttl=10)
    try:
        yield watcher, hold  # type: ignore[misc]
    finally:
        watcher.close()
        if proxy is not None:
            proxy.close()


def test_a_key_gone_before_a_lagging_watcher_reads_it_keeps_its_place(
    client: coordkit.Client, lagging: Lagging
) -> None:
    """While the watcher hears nothing, a is created, then b and c, then a is deleted. Once it
    hears again, a's DELETE comes after b's and c's PUTs, where the store made it (ZooKeeper,
    which can no longer read a's value, delivers only that DELETE)."""
    watcher, hold = lagging
    client.put("/lag/keep", "so that the parent stays")
    with watcher.watch("/lag", recursive=True) as watch:
        for n in range(ROUNDS):  # how the notifications split into reads varies: several tries
            a, b, c = (f"/lag/{n}-{name}" for name in "abc")
            with hold():
                for key in (a, b, c):
                    client.put(key, key)
                client.delete(a)
            seen: list[WatchEvent] = []
            while {(PUT, b), (PUT, c), (DELETE, a)} - {(e.type, e.key) for e in seen}:
                event = watch.get(timeout=DEADLINE)
                assert event is not None, f"round {n}: saw only {seen}"
                seen.append(event)
            order = [(e.type, e.key) for e in seen]
            stored = [(PUT, a), (PUT, b), (PUT, c), (DELETE, a)]
            assert order in (stored, stored[1:]), f"round {n}: {order}"  # a's value may be gone first
            assert all(e.entry is None or e.entry.value == e.key.encode() for e in seen)
            assert [e.revision for e in seen] == sorted(e.revision for e in seen)
        assert watch.get(timeout=0.3) is None, "an event arrived twice"


def _exactly(watch: coordkit.WatchHandle, n: int, expected: list[tuple[EventType, str]]) -> list[WatchEvent]:
    """The next events, which must be ``expected`` (type, key) with revisions that never decrease."""
    seen = [watch.get(timeout=DEADLINE) for _ in expected]
    events = [e for e in seen if e is not None]
    assert [(e.type, e.key) for e in events] == expected, f"round {n}: {seen}"
    assert [e.revision for e in events] == sorted(e.revision for e in events)
    return events


def test_a_delete_and_later_writes_reaching_a_lagging_watcher_at_once_keep_their_order(
    client: coordkit.Client, lagging: Lagging
) -> None:
    """While the watcher hears nothing, x is deleted, then y created and keep changed: the
    watcher delivers them in that order (on ZooKeeper, which records no deletion's revision,
    the DELETE is placed by the order of the notifications)."""
    watcher, hold = lagging
    olds = [f"/lag/{n}-x" for n in range(ROUNDS)]
    for key in [*olds, "/lag/keep"]:
        client.put(key, "before")
    with watcher.watch("/lag", recursive=True) as watch:
        for n, old in enumerate(olds):
            new = f"/lag/{n}-y"
            with hold():
                client.delete(old)
                client.put(new, new)
                client.put("/lag/keep", new)
            seen = _exactly(watch, n, [(DELETE, old), (PUT, new), (PUT, "/lag/keep")])
            assert [e.entry.value for e in seen[1:] if e.entry] == [new.encode()] * 2
        assert watch.get(timeout=0.3) is None, "an event arrived twice"


def test_changes_of_known_and_new_keys_reaching_a_lagging_watcher_keep_their_order(
    client: coordkit.Client, lagging: Lagging
) -> None:
    """While the watcher hears nothing: k (known) changed, y created, k deleted, a created and
    deleted, b (known) deleted. It delivers them in that order; on ZooKeeper k's new value and
    a's may be gone before it reads them, leaving their DELETEs, still in place."""
    watcher, hold = lagging
    for n in range(ROUNDS):
        client.put(f"/lag/{n}-k", "before")
        client.put(f"/lag/{n}-b", "before")
    with watcher.watch("/lag", recursive=True) as watch:
        for n in range(ROUNDS):
            k, y, a, b = (f"/lag/{n}-{name}" for name in "kyab")
            with hold():
                client.put(k, "new")
                client.put(y, "new")
                client.delete(k)
                client.put(a, "new")
                client.delete(a)
                client.delete(b)
            stored = [(PUT, k), (PUT, y), (DELETE, k), (PUT, a), (DELETE, a), (DELETE, b)]
            certain = [change for change in stored if change not in ((PUT, k), (PUT, a))]
            seen: list[WatchEvent] = []
            while set(certain) - {(e.type, e.key) for e in seen}:
                event = watch.get(timeout=DEADLINE)
                assert event is not None, f"round {n}: saw only {seen}"
                seen.append(event)
            order = [(e.type, e.key) for e in seen]
            assert order == [change for change in stored if change in order], f"round {n}: {seen}"
            assert [e.revision for e in seen] == sorted(e.revision for e in seen)
        assert watch.get(timeout=0.3) is None, "an event arrived twice"


@pytest.mark.parametrize("below", ["kept", "written after"])
def test_a_key_with_one_below_it_deleted_keeps_its_place_for_a_lagging_watcher(
    client: coordkit.Client, lagging: Lagging, below: str
) -> None:
    """While the watcher hears nothing, k is deleted, then y created; k/c, below k, was there
    (and stays) or is written after. DELETE k comes first (on ZooKeeper k's node is then an
    implicit parent: the key's own node, marked, or a new one made for k/c)."""
    watcher, hold = lagging
    for n in range(ROUNDS):
        client.put(f"/lag/{n}-k", "before")
        if below == "kept":
            client.put(f"/lag/{n}-k/c", "stays")
    with watcher.watch("/lag", recursive=True) as watch:
        for n in range(ROUNDS):
            k, y = f"/lag/{n}-k", f"/lag/{n}-y"
            with hold():
                client.delete(k)
                client.put(y, "new")
                if below == "written after":
                    client.put(f"{k}/c", "new")
            after = [(PUT, f"{k}/c")] if below == "written after" else []
            _exactly(watch, n, [(DELETE, k), (PUT, y), *after])
        assert watch.get(timeout=0.3) is None, "an event arrived twice"
