"""Watch semantics on every backend: order, exactly once, scope, cancel."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import coordkit
from coordkit import EventType, WatchEvent

DEADLINE = 10.0


def _collect(watch: coordkit.WatchHandle, count: int) -> list[WatchEvent]:
    events = []
    for _ in range(count):
        event = watch.get(timeout=DEADLINE)
        assert event is not None, f"only {len(events)} of {count} events arrived: {events}"
        events.append(event)
    return events


def test_key_watch_sees_put_and_delete(client: coordkit.Client) -> None:
    with client.watch("/k") as watch:
        client.put("/k", "1")
        (first,) = _collect(watch, 1)
        client.put("/k", "2")
        (second,) = _collect(watch, 1)
        client.delete("/k")
        (gone,) = _collect(watch, 1)
    assert (first.type, first.entry and first.entry.value) == (EventType.PUT, b"1")
    assert (second.type, second.entry and second.entry.value) == (EventType.PUT, b"2")
    assert (gone.type, gone.key, gone.entry) == (EventType.DELETE, "/k", None)
    assert first.revision < second.revision < gone.revision


def test_prefix_watch_delivers_every_create_in_order(client: coordkit.Client) -> None:
    keys = [f"/jobs/{i:03d}" for i in range(50)]
    with client.watch("/jobs", recursive=True) as watch:
        for key in keys:
            client.put(key, key)
        events = _collect(watch, len(keys))
        assert watch.get(timeout=0.3) is None, "a change was delivered twice"
    assert [e.key for e in events] == keys
    assert all(e.type is EventType.PUT and e.entry and e.entry.value == e.key.encode() for e in events)
    revisions = [e.revision for e in events]
    assert revisions == sorted(set(revisions))


def test_rapid_updates_arrive_in_order_ending_with_the_final_value(client: coordkit.Client) -> None:
    with client.watch("/counter") as watch:
        for i in range(30):
            client.put("/counter", str(i))
        seen: list[WatchEvent] = []
        while not seen or seen[-1].entry is None or seen[-1].entry.value != b"29":
            event = watch.get(timeout=DEADLINE)
            assert event is not None, f"final value never arrived; saw {[e.entry for e in seen]}"
            seen.append(event)
    values = [int(e.entry.value) for e in seen if e.entry is not None]
    assert values == sorted(set(values)), "values out of order or repeated"
    revisions = [e.revision for e in seen]
    assert revisions == sorted(set(revisions))


def test_prefix_watch_scope(client: coordkit.Client) -> None:
    client.put("/w/a", "")  # ZooKeeper would create this parent implicitly (and report it)
    with client.watch("/w", recursive=True) as watch:
        client.put("/w", "the path itself is not below it")
        client.put("/wx", "sibling sharing the prefix")
        client.put("/w/a/deep", "1")
        (event,) = _collect(watch, 1)
        assert event.key == "/w/a/deep"
        client.delete("/w/a/deep")
        (gone,) = _collect(watch, 1)
        assert (gone.type, gone.key) == (EventType.DELETE, "/w/a/deep")
        assert watch.get(timeout=0.3) is None


def test_callback_watch_and_cancel(client: coordkit.Client) -> None:
    got: list[WatchEvent] = []
    arrived = threading.Event()

    def callback(event: WatchEvent) -> None:
        got.append(event)
        if event.entry is not None and event.entry.value == b"boom":
            raise RuntimeError("a failing callback must not stop the watch")
        arrived.set()

    boomed = threading.Event()
    watch = client.watch("/cb", lambda e: (boomed.set(), callback(e)))
    client.put("/cb", "boom")
    assert boomed.wait(DEADLINE)  # ZooKeeper may coalesce quick writes to one key: wait
    client.put("/cb", "after")
    assert arrived.wait(DEADLINE)
    watch.cancel()
    assert [e.entry.value for e in got if e.entry] == [b"boom", b"after"]
    client.put("/cb", "ignored")
    marker = client.watch("/cb")  # a fresh watch proves the write was observable
    client.put("/cb", "seen")
    assert _collect(marker, 1)[0].entry.value == b"seen"  # type: ignore[union-attr]
    marker.cancel()
    assert [e.entry.value for e in got if e.entry] == [b"boom", b"after"]


def test_closing_the_client_ends_its_watches(
    client: coordkit.Client, make_client: Callable[..., coordkit.Client]
) -> None:
    """A watch whose client is closed ends, as a cancelled one does: ``get()`` returns None at
    once (it used to wait out its timeout, and iteration hung for ever) and no change made
    after the close is delivered."""
    watcher = make_client()
    watch = watcher.watch("/closing")
    client.put("/closing", "before")
    assert _collect(watch, 1)[0].entry.value == b"before"  # type: ignore[union-attr]
    watcher.close()
    client.put("/closing", "after")
    marker = client.watch("/closing")  # a fresh watch proves the write was observable
    client.put("/closing", "seen")
    assert _collect(marker, 1)[0].entry.value == b"seen"  # type: ignore[union-attr]
    marker.cancel()
    started = time.monotonic()
    assert watch.get(timeout=DEADLINE) is None
    assert time.monotonic() - started < DEADLINE / 2, "get() waited out its timeout on a closed client"


def test_closing_the_client_stops_its_callback_watches(
    client: coordkit.Client, make_client: Callable[..., coordkit.Client]
) -> None:
    """No callback runs once the watch's client is closed (close() returns after the last)."""
    watcher = make_client()
    got: list[WatchEvent] = []
    arrived = threading.Event()
    watcher.watch("/closing-cb", lambda event: (got.append(event), arrived.set()))
    client.put("/closing-cb", "before")
    assert arrived.wait(DEADLINE)
    watcher.close()
    client.put("/closing-cb", "after")
    with client.watch("/closing-cb") as marker:  # a fresh watch proves the write was observable
        client.put("/closing-cb", "seen")
        assert _collect(marker, 1)[0].entry.value == b"seen"  # type: ignore[union-attr]
    assert [e.entry.value for e in got if e.entry] == [b"before"]
