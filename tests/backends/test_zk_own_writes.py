"""A ZooKeeper watch takes its own session's writes from their replies (zookeeper/own_writes.py)
instead of reading the nodes back, and still never delivers a state older than one notified.

Against a real server. What is counted is what the watcher's kazoo client sends (its reads of
the written nodes); what is checked is what the watch delivers against the server's state.
"""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, RolledBackError
from zk_reads import reads_sent

from coordkit.backends.base import EventType, Put, WatchEvent
from coordkit.backends.zookeeper.backend import ZooKeeperBackend
from coordkit.backends.zookeeper.own_writes import Written, the_reply

DEADLINE = 15.0


@pytest.fixture
def backends(zookeeper_server: Any) -> Iterator[list[ZooKeeperBackend]]:
    ns = "/zko-" + uuid.uuid4().hex[:10]
    opened = [ZooKeeperBackend(zookeeper_server.endpoints, ns, options={}) for _ in range(2)]
    for backend in opened:
        backend.connect(lambda event: None, ttl=10.0, timeout=DEADLINE)
    yield opened
    for backend in opened:
        backend.close()


def test_a_watch_takes_its_own_writes_from_their_replies(backends: list[ZooKeeperBackend]) -> None:
    me, _ = backends
    me.put(Put("/cfg/a", b"0"))
    me.put(Put("/cfg/b", b"0"))
    got: queue.SimpleQueue[WatchEvent] = queue.SimpleQueue()
    watch = me.watch("/cfg", got.put, prefix=True)
    reads = reads_sent(me._client, {"/cfg/a", "/cfg/b"})  # type: ignore[arg-type]  # test-only peek
    for n in range(1, 20):
        written = me.commit([Put("/cfg/a", b"a%d" % n), Put("/cfg/b", b"b%d" % n)])  # one multi
        single = me.put(Put("/cfg/a", b"s%d" % n))  # one set
        shown: dict[str, Any] = {}
        while shown != {"/cfg/a": single, "/cfg/b": written[1]}:  # the first two may be folded
            event = got.get(timeout=DEADLINE)
            assert event.entry in (*written, single), f"a state never written: {event}"
            shown[event.key] = event.entry
    assert reads == []  # not one read of a node that this session had just written
    watch.cancel()


def test_no_change_of_another_session_is_lost_behind_an_own_write(backends: list[ZooKeeperBackend]) -> None:
    """Two sessions write one key at once, over and over; the watcher is one of them. A
    notification of the other's change that came after the own write's reply would, if taken
    for that write, leave the watch on a stale value with nothing more to come."""
    me, other = backends
    me.put(Put("/race/k", b"start"))
    latest: dict[str, Any] = {}
    changed = threading.Condition()

    def on_event(event: WatchEvent) -> None:
        with changed:
            latest["entry"] = event.entry if event.type is EventType.PUT else None
            changed.notify_all()

    watch = me.watch("/race", on_event, prefix=True)
    for n in range(150):
        racer = threading.Thread(target=other.put, args=(Put("/race/k", b"other-%d" % n),))
        racer.start()
        me.put(Put("/race/k", b"me-%d" % n))
        racer.join(DEADLINE)
        stored = me.get("/race/k")
        with changed:
            caught_up = changed.wait_for(lambda stored=stored: latest.get("entry") == stored, DEADLINE)
        assert caught_up, f"round {n}: the watch shows {latest.get('entry')}, the server {stored}"
    watch.cancel()


def test_a_failed_own_write_leaves_the_node_to_a_read(raw: KazooClient) -> None:
    path = "/zko-failed-" + uuid.uuid4().hex[:8]
    raw.create(path, b"theirs")
    tx = raw.transaction()
    tx.set_data(path, b"mine", version=41)  # the wrong version: the multi fails, nothing written
    pending = tx.commit_async()
    assert isinstance(pending.get(timeout=DEADLINE)[0], BadVersionError | RolledBackError)
    data, stat = Written(raw, path, pending, b"mine", lambda reply: reply[0]).get(timeout=DEADLINE)
    assert (data, stat.version) == (b"theirs", 0)


def test_an_own_write_gives_what_it_wrote(raw: KazooClient) -> None:
    path = "/zko-set-" + uuid.uuid4().hex[:8]
    raw.create(path, b"old")
    pending = raw.set_async(path, b"new")
    data, stat = Written(raw, path, pending, b"new", the_reply).get(timeout=DEADLINE)
    assert (data, stat.version) == (b"new", 1) and raw.get(path)[1] == stat
