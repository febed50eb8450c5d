"""ZooKeeper watches on persistent recursive watches (3.6+), and the one-shot fallback.

The watch semantics themselves are in tests/conformance (over every backend); these tests
pin what only ZooKeeper has: one server watch per coordkit watch, removed on cancel, the
kazoo hook that routes it, and the one-shot path still working when forced off.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kazoo.exceptions import NoNodeError
from zk_reads import reads_sent

from coordkit.backends.base import ConnectionEvent, EventType, Put, WatchEvent
from coordkit.backends.zookeeper.backend import ZooKeeperBackend
from coordkit.backends.zookeeper.persistent import PERSISTENT_RECURSIVE, router_for
from coordkit.testing import eventually
from coordkit.testing.servers import ZooKeeperServer

DEADLINE = 15.0


class Collector:
    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[WatchEvent] = queue.SimpleQueue()

    def __call__(self, event: WatchEvent) -> None:
        self.queue.put(event)

    def take(self, count: int) -> list[WatchEvent]:
        got = []
        for _ in range(count):
            try:
                got.append(self.queue.get(timeout=DEADLINE))
            except queue.Empty:
                raise AssertionError(f"only {len(got)} of {count} events: {got}") from None
        return got

    def quiet(self, seconds: float = 0.3) -> None:
        with pytest.raises(queue.Empty):
            extra = self.queue.get(timeout=seconds)
            raise AssertionError(f"unexpected extra event {extra}")


Open = Callable[..., ZooKeeperBackend]


@pytest.fixture
def open_backend() -> Iterator[Open]:
    opened: list[ZooKeeperBackend] = []

    def open_(endpoints: list[str], namespace: str, **options: Any) -> ZooKeeperBackend:
        backend = ZooKeeperBackend(endpoints, namespace, options=options)
        backend.connect(lambda event: None, ttl=10.0, timeout=DEADLINE)
        opened.append(backend)
        return backend

    yield open_
    for backend in opened:
        backend.close()


@pytest.fixture
def ns() -> str:
    return "/zkp-" + uuid.uuid4().hex[:10]


def server_watches(server: Any, path: str) -> bool:
    """Whether the server holds a watch on ``path`` (``wchp``: watches by path)."""
    return any(line.strip() == path for line in server.four_letter_word("wchp").splitlines())


def test_one_persistent_watch_per_watch_removed_on_cancel(
    zookeeper_server: Any, open_backend: Open, ns: str
) -> None:
    me = open_backend(zookeeper_server.endpoints, ns)
    got = Collector()
    me.put(Put("/tree/a/b/old", b"0"))
    watch = me.watch("/tree", got, prefix=True)
    router = router_for(me._client)  # type: ignore[arg-type]  # test-only peek
    assert ("/tree", PERSISTENT_RECURSIVE) in router._listeners
    assert server_watches(zookeeper_server, ns + "/tree")
    assert not server_watches(zookeeper_server, ns + "/tree/a/b/old"), "one-shot watches were left too"
    me.put(Put("/tree/a/b/c/new", b"1"))
    me.delete("/tree/a/b/old")
    events = got.take(2)
    assert [(e.type, e.key) for e in events] == [
        (EventType.PUT, "/tree/a/b/c/new"),
        (EventType.DELETE, "/tree/a/b/old"),
    ]
    got.quiet()
    watch.cancel()
    assert ("/tree", PERSISTENT_RECURSIVE) not in router._listeners
    eventually(lambda: not server_watches(zookeeper_server, ns + "/tree"), timeout=DEADLINE, interval=0.05)


def test_two_watches_on_one_path_share_the_server_watch(
    zookeeper_server: Any, open_backend: Open, ns: str
) -> None:
    me = open_backend(zookeeper_server.endpoints, ns)
    first, second = Collector(), Collector()
    one = me.watch("/both", first, prefix=True)
    me.watch("/both", second, prefix=True)
    one.cancel()  # the other one keeps the server's watch
    me.put(Put("/both/k", b"1"))
    assert second.take(1)[0].key == "/both/k"
    first.quiet()


def test_forced_one_shot_watches_still_work(zookeeper_server: Any, open_backend: Open, ns: str) -> None:
    me = open_backend(zookeeper_server.endpoints, ns, persistent_watches=False)
    got, key = Collector(), Collector()
    me.watch("/old", got, prefix=True)
    me.watch("/old/x/k", key, prefix=False)
    assert getattr(me._client, "_coordkit_router", None) is None, "no persistent watch was added"
    # One change at a time: one-shot watches can miss a key created and deleted at once
    # (the gap that persistent watches close, tests/conformance/test_watch_bursts.py).
    for change, kind in (
        (lambda: me.put(Put("/old/x/k", b"1")), EventType.PUT),
        (lambda: me.put(Put("/old/x/k", b"2")), EventType.PUT),
        (lambda: me.delete("/old/x/k"), EventType.DELETE),
    ):
        change()
        for collector in (got, key):
            (event,) = collector.take(1)
            assert (event.type, event.key) == (kind, "/old/x/k")
    got.quiet()
    key.quiet()


def test_key_watch_on_a_persistent_watch(zookeeper_server: Any, open_backend: Open, ns: str) -> None:
    me = open_backend(zookeeper_server.endpoints, ns)
    got = Collector()
    me.watch("/one/k", got, prefix=False)
    me.put(Put("/one/k", b"1"))  # each value taken before the next write: ZooKeeper reads after
    events = got.take(1)
    me.put(Put("/one/k/below", b"not the key"))
    me.put(Put("/one/k", b"2"))
    events += got.take(1)  # the next event is PUT 2, not one for /one/k/below
    me.delete("/one/k")
    events += got.take(1)
    assert [(e.type, e.entry and e.entry.value) for e in events] == [
        (EventType.PUT, b"1"),
        (EventType.PUT, b"2"),
        (EventType.DELETE, None),
    ]
    got.quiet()


def test_persistent_watch_rearmed_after_a_server_restart(open_backend: Open) -> None:
    with ZooKeeperServer() as server:
        events: queue.SimpleQueue[ConnectionEvent] = queue.SimpleQueue()
        me = ZooKeeperBackend(server.endpoints, "/r", options={})
        me.connect(events.put, ttl=10.0, timeout=DEADLINE)
        try:
            got = Collector()
            me.watch("/w", got, prefix=True)
            server.kill()
            assert events.get(timeout=DEADLINE) is ConnectionEvent.DISCONNECTED
            server.start()
            while (event := events.get(timeout=DEADLINE)) not in (
                ConnectionEvent.RECONNECTED,
                ConnectionEvent.EXPIRED,
            ):
                pass
            if event is ConnectionEvent.EXPIRED:  # a slow restart outlasted the TTL
                me.new_session(DEADLINE)
            eventually(lambda: server_watches(server, "/r/w"), timeout=DEADLINE, interval=0.05)
            writer = open_backend(server.endpoints, "/r")
            writer.put(Put("/w/after", b"1"))
            assert got.take(1)[0].key == "/w/after"
            got.quiet()
        finally:
            me.close()


def test_multiread_reads_what_one_request_per_node_reads(zookeeper_server: Any, ns: str) -> None:
    from kazoo.client import KazooClient

    from coordkit.backends.zookeeper.multiread import CHUNK, read_levels_multi
    from coordkit.backends.zookeeper.read import read_levels

    client = KazooClient(hosts=",".join(zookeeper_server.endpoints))
    client.start(DEADLINE)
    try:
        client.ensure_path(ns + "/big/deep/er")
        for i in range(CHUNK + 7):  # more than one request's worth
            client.create_async(f"{ns}/big/n{i:04d}", f"v{i}".encode())
        client.create(f"{ns}/big/deep/er/leaf", b"x" * 3000)
        deadline = time.monotonic() + DEADLINE
        multi = read_levels_multi(client, ns + "/big", deadline, chrooted=True)
        assert multi == read_levels(client, ns + "/big", deadline, chrooted=True)
        top, levels = multi
        assert top is not None and len(levels[0]) == CHUNK + 8 and levels[-1][0][1].data == b"x" * 3000
        assert read_levels_multi(client, ns + "/absent", deadline, chrooted=True) == (None, [])
    finally:
        client.stop()
        client.close()


def test_a_subtree_root_being_created_or_changed_is_not_read(
    zookeeper_server: Any, open_backend: Open, ns: str
) -> None:
    """The root of a subtree watch is no key: its creation and data changes are not read (its
    deletion still is, which drops every key below)."""
    me, writer = open_backend(zookeeper_server.endpoints, ns), open_backend(zookeeper_server.endpoints, ns)
    got = Collector()
    me.watch("/svc/pay", got, prefix=True)
    reads = reads_sent(me._client)  # type: ignore[arg-type]  # test-only peek
    writer.put(Put("/svc/pay/i1", b"1"))  # creates /svc/pay too, in the same multi
    writer.put(Put("/svc/pay", b"a value on the root"))
    writer.put(Put("/svc/pay/i2", b"2"))
    assert [(e.type, e.key) for e in got.take(2)] == [
        (EventType.PUT, "/svc/pay/i1"),
        (EventType.PUT, "/svc/pay/i2"),
    ]
    got.quiet()
    assert "/svc/pay" not in reads and reads == ["/svc/pay/i1", "/svc/pay/i2"]


def test_a_watch_keeps_its_session_alive_while_thousands_of_requests_are_queued(
    zookeeper_server: Any, open_backend: Open, ns: str
) -> None:
    """kazoo wakes its connection thread with one byte per queued request, on a pipe only that
    thread drains; a thread that queues a request while the pipe is full waits. The routing
    of notifications runs on that same thread, so it must never queue a request: with
    threads flooding the session, a change notified meanwhile would stop the connection."""
    me, writer = open_backend(zookeeper_server.endpoints, ns), open_backend(zookeeper_server.endpoints, ns)
    got = Collector()
    me.put(Put("/flood/k", b"0"))
    me.watch("/flood", got, prefix=True)
    client = me._client  # type: ignore[union-attr]  # test-only peek
    stop, failures = threading.Event(), []

    def flood() -> None:
        try:
            while not stop.is_set():
                for result in [client.get_async(ns + "-absent") for _ in range(2000)]:
                    with contextlib.suppress(NoNodeError):
                        result.get(timeout=DEADLINE)
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    flooders = [threading.Thread(target=flood, daemon=True) for _ in range(4)]
    for thread in flooders:
        thread.start()
    try:
        for n in range(1, 40):
            entry = writer.put(Put("/flood/k", b"%d" % n))
            while True:  # the watch folds changes: wait for this one
                event = got.take(1)[0]
                if event.entry == entry:
                    break
        assert me.get("/flood/k") == entry  # the session still answers
    finally:
        stop.set()
        for thread in flooders:
            thread.join(DEADLINE)
    assert not failures, failures
