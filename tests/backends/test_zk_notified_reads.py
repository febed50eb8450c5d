"""ZooKeeper's persistent watch reads what is notified while its reads are out in the same
batch (zookeeper/notified.py): a register that creates the service's node and the
instance's in one multi gets two notifications, often taken one at a time, and must still
cost the watcher one round trip, not two.

Against a real server. The notifications are queued by hand here, as kazoo's reader thread
would queue them, so that which ones are waiting is certain rather than a race.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from typing import Any

import pytest
from kazoo.client import KazooClient
from zk_reads import reads_sent

from coordkit.backends.base import EventType, Put, WatchEvent
from coordkit.backends.zookeeper.backend import ZooKeeperBackend
from coordkit.backends.zookeeper.notified import READ_DONE, read_notified
from coordkit.backends.zookeeper.own_writes import Written, the_reply

DEADLINE = 15.0
CREATED, CHANGED = 1, 3  # ZooKeeper's event types, as the router queues them


@pytest.fixture
def base(raw: KazooClient) -> str:
    path = "/zkn-" + uuid.uuid4().hex[:10]
    raw.create(path + "/a", b"A", makepath=True)
    raw.create(path + "/b", b"B")
    return path


def _notification(path: str, kind: int = CREATED, written: Any = None) -> tuple[Any, ...]:
    stamped = (path, time.monotonic(), kind)
    return stamped if written is None else (*stamped, written)


def test_a_node_notified_while_a_read_is_out_is_read_in_the_same_batch(raw: KazooClient, base: str) -> None:
    events: queue.SimpleQueue[object] = queue.SimpleQueue()
    events.put(_notification(base + "/b"))  # notified right behind /a (the same multi)
    sent = reads_sent(raw)
    reads, taken, later = read_notified(
        raw, {base + "/a": None}, time.monotonic() + DEADLINE, events, lambda p: p.startswith(base)
    )
    assert sent == [base + "/a", base + "/b"]  # /b's read went out before /a's reply was waited for
    assert {p: r.data if r else None for p, r in reads.items()} == {base + "/a": b"A", base + "/b": b"B"}
    assert [item[0] for item in taken] == [base + "/b"] and later == []


def test_a_node_this_session_is_writing_is_taken_from_the_write(raw: KazooClient, base: str) -> None:
    events: queue.SimpleQueue[object] = queue.SimpleQueue()
    pending = raw.set_async(base + "/b", b"B2")
    events.put(_notification(base + "/b", CHANGED, Written(raw, base + "/b", pending, b"B2", the_reply)))
    sent = reads_sent(raw)
    reads, taken, later = read_notified(
        raw, {base + "/a": None}, time.monotonic() + DEADLINE, events, lambda p: p.startswith(base)
    )
    assert sent == [base + "/a"]  # /b was not read back
    assert {p: r.data if r else None for p, r in reads.items()} == {base + "/a": b"A", base + "/b": b"B2"}
    assert reads[base + "/b"].stat == raw.get(base + "/b")[1]  # type: ignore[union-attr]
    assert [item[0] for item in taken] == [base + "/b"] and later == []


def test_what_cannot_join_the_batch_is_left_for_the_next(raw: KazooClient, base: str) -> None:
    events: queue.SimpleQueue[object] = queue.SimpleQueue()
    again = _notification(base + "/a", CHANGED)  # /a's read may predate this change: read it again
    elsewhere = _notification("/other/node")
    resync = object()
    behind = _notification(base + "/b")  # after a deferred one: deferred too (store order)
    for item in (READ_DONE, _notification(base + "/gone"), again, behind, elsewhere, resync):
        events.put(item)
    reads, taken, later = read_notified(
        raw, {base + "/a": None}, time.monotonic() + DEADLINE, events, lambda p: p.startswith(base)
    )
    assert reads[base + "/gone"] is None and reads[base + "/a"] is not None  # absent: None
    assert base + "/b" not in reads and [item[0] for item in taken] == [base + "/gone"]
    assert later[:4] == [again, behind, elsewhere, resync] and READ_DONE not in later


class _Recording(queue.SimpleQueue):  # type: ignore[type-arg]
    """A worker's queue that notes which thread put each READ_DONE."""

    def __init__(self) -> None:
        self.done_by: list[threading.Thread] = []
        self.done = threading.Event()

    def put(self, item: object, block: bool = True, timeout: float | None = None) -> None:
        if item is READ_DONE:
            self.done_by.append(threading.current_thread())
            self.done.set()
        super().put(item, block, timeout)


def test_the_first_reply_reaches_the_worker_from_the_reader_thread(raw: KazooClient, base: str) -> None:
    """The worker is woken by kazoo's reader thread as it reads the reply, not by a callback
    on kazoo's completion thread (one more thread hop on the path of every change)."""
    events = _Recording()
    reads, _, _ = read_notified(
        raw, {base + "/a": None}, time.monotonic() + DEADLINE, events, lambda p: p.startswith(base)
    )
    assert reads[base + "/a"] is not None and reads[base + "/a"].data == b"A"
    assert events.done.wait(DEADLINE)  # put just after the reply is set: maybe after the return
    (putter,) = events.done_by
    assert putter is not threading.current_thread()
    assert putter not in raw.handler._workers  # kazoo's completion and callback threads


def test_nothing_to_read_returns_at_once(raw: KazooClient) -> None:
    events: queue.SimpleQueue[object] = queue.SimpleQueue()
    events.put(_notification("/x"))
    assert read_notified(raw, {}, time.monotonic() + DEADLINE, events, lambda p: True) == ({}, [], [])
    assert events.qsize() == 1  # not taken: no read was out to wait for


def test_registers_below_a_removed_parent_are_delivered_as_keys_only(zookeeper_server: Any) -> None:
    """The whole path, on the watch's worker: each register creates the removed parent and
    the key in one multi; whichever way their notifications are split between batches, the
    watch delivers the key's PUT and DELETE, in order, and never the parent (no key)."""
    ns = "/zkw-" + uuid.uuid4().hex[:10]
    writer = ZooKeeperBackend(zookeeper_server.endpoints, ns, options={})
    watcher = ZooKeeperBackend(zookeeper_server.endpoints, ns, options={})
    for b in (writer, watcher):
        b.connect(lambda event: None, ttl=10.0, timeout=DEADLINE)
    got: queue.SimpleQueue[WatchEvent] = queue.SimpleQueue()
    try:
        writer.put(Put("/services/keep", b"k"))
        watch = watcher.watch("/services", got.put, prefix=True)
        for n in range(20):
            entry = writer.put(Put(f"/services/pay/i{n}", b"v", ephemeral=True, create=True))
            event = got.get(timeout=DEADLINE)
            assert (event.type, event.key, event.entry) == (EventType.PUT, f"/services/pay/i{n}", entry)
            assert writer.delete(f"/services/pay/i{n}")  # prunes /services/pay again
            event = got.get(timeout=DEADLINE)
            assert (event.type, event.key) == (EventType.DELETE, f"/services/pay/i{n}")
        with pytest.raises(queue.Empty):
            raise AssertionError(f"an extra event: {got.get(timeout=0.3)}")
        watch.cancel()
    finally:
        writer.close()
        watcher.close()
