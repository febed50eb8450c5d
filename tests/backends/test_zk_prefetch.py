"""The read of a notified node sent by kazoo's reader thread as it routes the notification
(zookeeper/prefetch.py), against a real server: the watch's worker then sends none; the
reader thread never waits and never queues a request without its wake-up byte; when it
cannot send, the worker reads as before.
"""

from __future__ import annotations

import queue
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.serialization import GetData
from zk_reads import reads_sent

from coordkit.backends.base import EventType, Put, WatchEvent
from coordkit.backends.zookeeper import prefetch
from coordkit.backends.zookeeper.backend import ZooKeeperBackend
from coordkit.backends.zookeeper.notified import read_notified
from coordkit.backends.zookeeper.own_writes import Written, the_reply
from coordkit.backends.zookeeper.persistent import PERSISTENT_RECURSIVE, Armed
from coordkit.backends.zookeeper.prefetch import Prefetched, Prefetcher

DEADLINE = 15.0
CHANGED = 3  # ZooKeeper's event type, as the router gives it


@pytest.fixture
def pair(zookeeper_server: Any) -> Iterator[tuple[ZooKeeperBackend, ZooKeeperBackend]]:
    ns = "/zkp-" + uuid.uuid4().hex[:10]
    writer = ZooKeeperBackend(zookeeper_server.endpoints, ns, options={})
    watcher = ZooKeeperBackend(zookeeper_server.endpoints, ns, options={})
    for b in (writer, watcher):
        b.connect(lambda event: None, ttl=10.0, timeout=DEADLINE)
    yield writer, watcher
    writer.close()
    watcher.close()


def _worker_reads(client: KazooClient) -> list[str]:
    """The data reads given to kazoo's ``_call`` from now on: those the worker sends."""
    called: list[str] = []
    original = client._call

    def counting(request: Any, async_object: Any) -> Any:
        if isinstance(request, GetData):
            called.append(client.unchroot(request.path))
        return original(request, async_object)

    client._call = counting  # type: ignore[method-assign]
    return called


def _changes(pair: tuple[ZooKeeperBackend, ZooKeeperBackend]) -> tuple[list[str], list[str]]:
    """Three changes made by ``writer``, each awaited in ``watcher``'s watch (with the value
    written): the reads sent on the wire, and those the worker sent itself."""
    writer, watcher = pair
    got: queue.SimpleQueue[WatchEvent] = queue.SimpleQueue()
    watch = watcher.watch("/cfg", got.put, prefix=True)
    client: KazooClient = watcher._client  # type: ignore[assignment]  # test-only peek
    on_wire, by_worker = reads_sent(client), _worker_reads(client)
    for value in (b"1", b"2", b"3"):
        entry = writer.put(Put("/cfg/a", value))
        event = got.get(timeout=DEADLINE)
        assert (event.type, event.key, event.entry) == (EventType.PUT, "/cfg/a", entry)
    watch.cancel()
    return on_wire, by_worker


def test_a_notified_node_is_read_by_the_reader_thread_not_the_worker(
    pair: tuple[ZooKeeperBackend, ZooKeeperBackend],
) -> None:
    on_wire, by_worker = _changes(pair)
    assert on_wire == ["/cfg/a"] * 3 and by_worker == []


def test_without_msg_dontwait_the_worker_reads(
    pair: tuple[ZooKeeperBackend, ZooKeeperBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A platform without a non-blocking send: the reader thread sends nothing, the worker
    reads each node notified, with the same events."""
    monkeypatch.setattr(prefetch, "_DONTWAIT", None)
    on_wire, by_worker = _changes(pair)
    assert on_wire == by_worker == ["/cfg/a"] * 3


@pytest.fixture
def node(raw: KazooClient) -> str:
    path = "/zkp-" + uuid.uuid4().hex[:10]
    raw.create(path, b"A")
    raw.create(path + "/b", b"B")
    return path


def _on_reader_thread(client: KazooClient, fn: Callable[[], None]) -> None:
    """Run ``fn`` on kazoo's reader thread, where the router calls ``route`` (as it is about
    to send a request): no reply is read while it runs."""
    ran: list[Exception | None] = []
    connection = client._connection
    original = connection._submit

    def submit(request: Any, *args: Any, **kwargs: Any) -> Any:
        connection._submit = original
        try:
            fn()
            ran.append(None)
        except Exception as exc:  # noqa: BLE001  # an assertion too: reported on the test's thread
            ran.append(exc)
        return original(request, *args, **kwargs)

    connection._submit = submit
    client.exists_async("/").get(timeout=DEADLINE)
    assert ran, "the reader thread never ran it"
    if ran[0] is not None:
        raise ran[0]


class _Worker:
    """A watch worker's queue: what it was given, with how many held reads were still out."""

    def __init__(self) -> None:
        self.items: queue.SimpleQueue[tuple[Any, int]] = queue.SimpleQueue()
        self.prefetcher = Prefetcher(lambda item: self.items.put((item, len(self.prefetcher._out))))

    def take(self, count: int) -> list[tuple[Any, int]]:
        return [self.items.get(timeout=DEADLINE) for _ in range(count)]


def test_a_notification_waits_for_its_read_and_later_ones_queue_behind_it(
    raw: KazooClient, node: str
) -> None:
    """One read of a node out at most (notified again, it is the worker's to read); every
    notification behind an unanswered read waits, and all reach the worker in order."""
    worker, written = _Worker(), object()  # stands for this session's own write's outcome

    def routed() -> None:
        worker.prefetcher.route(raw, node, 1.0, CHANGED, None)
        worker.prefetcher.route(raw, node, 2.0, CHANGED, None)  # its read is out: not sent again
        worker.prefetcher.route(raw, node + "/b", 3.0, CHANGED, written)
        assert worker.items.empty() and worker.prefetcher.held() == [node, node, node + "/b"]

    _on_reader_thread(raw, routed)
    (first, _), (again, _), (mine, _) = worker.take(3)
    assert isinstance(first[3], Prefetched) and first[3].result.ready() and first[3].fresh()
    assert first[3].result.get() == raw.get(node)
    assert again[:3] == (node, 2.0, CHANGED) and again[3] is None  # the worker reads it
    assert mine == (node + "/b", 3.0, CHANGED, written) and worker.prefetcher.held() == []
    _on_reader_thread(raw, lambda: worker.prefetcher.route(raw, node, 4.0, CHANGED, None))
    ((fourth, _),) = worker.take(1)  # answered: the next notification's read is sent
    assert isinstance(fourth[3], Prefetched) and fourth[3].result.get()[0] == b"A"


@pytest.mark.parametrize("hold", [60.0, 0.0])
def test_an_answered_notification_waits_at_most_hold_for_a_later_read(
    raw: KazooClient, node: str, hold: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The notifications of one change reach the worker together, but a steady stream cannot
    hold the first for ever: once it has waited HOLD, a reply releases it alone."""
    monkeypatch.setattr(prefetch, "HOLD", hold)
    worker = _Worker()

    def routed() -> None:
        worker.prefetcher.route(raw, node, time.monotonic(), CHANGED, None)
        worker.prefetcher.route(raw, node + "/b", time.monotonic(), CHANGED, None)

    _on_reader_thread(raw, routed)
    (a, out_a), (b, out_b) = worker.take(2)
    assert (a[0], b[0]) == (node, node + "/b") and a[3].result.ready() and b[3].result.ready()
    assert (out_a, out_b) == ((0, 0) if hold else (1, 0))  # released alone, /b's read still out


def test_an_answer_older_than_a_read_of_the_worker_is_read_again(raw: KazooClient, node: str) -> None:
    """Once the worker has sent a read of its own, an answer sent before it may be older than
    what that read folded: the worker reads the node again instead of folding it."""
    worker = _Worker()
    _on_reader_thread(raw, lambda: worker.prefetcher.route(raw, node, 1.0, CHANGED, None))
    ((item, _),) = worker.take(1)
    assert item[3].result.get()[0] == b"A" and item[3].fresh()
    with worker.prefetcher.reading():  # e.g. a full re-read
        raw.set(node, b"A2")
    assert not item[3].fresh()
    on_wire = reads_sent(raw)
    reads, _, _ = read_notified(
        raw,
        {node: item[3]},
        time.monotonic() + DEADLINE,
        queue.SimpleQueue(),
        lambda p: True,
        worker.prefetcher,
    )
    assert reads[node] is not None and reads[node].data == b"A2" and on_wire == [node]
    assert worker.prefetcher.reads == 2  # that read counts too


def test_an_own_write_that_failed_and_was_read_counts_as_a_read_of_the_worker(
    raw: KazooClient, node: str
) -> None:
    worker = _Worker()
    failing = raw.set_async(node + "/absent", b"x")  # NoNodeError: the outcome is read instead
    written = Written(raw, node + "/b", failing, b"x", the_reply)
    reads, _, _ = read_notified(
        raw,
        {node + "/b": written},
        time.monotonic() + DEADLINE,
        queue.SimpleQueue(),
        lambda p: True,
        worker.prefetcher,
    )
    assert reads[node + "/b"] is not None and reads[node + "/b"].data == b"B"  # read, not the write's value
    assert worker.prefetcher.reads == 1  # prefetched answers sent before it are stale


def test_moving_to_a_new_client_releases_what_waits_for_the_old_ones_replies(
    raw: KazooClient, node: str, zookeeper_server: Any
) -> None:
    """``Armed.arm`` on a new client (a new session) gives the worker what the old client's
    unanswered reads held, with no read (the worker reads), at once."""
    items: queue.SimpleQueue[object] = queue.SimpleQueue()
    armed = Armed(node, PERSISTENT_RECURSIVE, items.put, chrooted=False, read=True)
    new = KazooClient(hosts=",".join(zookeeper_server.endpoints))
    new.start(timeout=DEADLINE)
    given: list[object] = []
    try:
        assert armed.arm(raw, time.monotonic() + DEADLINE)

        def routed() -> None:
            armed.prefetcher.route(raw, node, 1.0, CHANGED, None)  # its read is out: held
            assert items.empty()
            assert armed.arm(new, time.monotonic() + DEADLINE)  # no reply of raw's is read meanwhile
            given.append(items.get_nowait())

        _on_reader_thread(raw, routed)
        assert given == [(node, 1.0, CHANGED, None)]
        assert raw.get(node)[0] == b"A" and items.empty()  # the late answer releases nothing more
    finally:
        armed.disarm()
        new.stop()
        new.close()


def test_a_wake_up_socket_with_a_timeout_is_not_written(
    raw: KazooClient, node: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under socket.setdefaulttimeout even MSG_DONTWAIT waits for room: the worker reads."""
    timed, other = socket.socketpair()
    timed.settimeout(0.3)
    worker = _Worker()
    try:
        monkeypatch.setattr(raw._connection, "_write_sock", timed)
        worker.prefetcher.route(raw, node, 1.0, CHANGED, None)
        assert worker.take(1) == [((node, 1.0, CHANGED, None), 0)]
    finally:
        monkeypatch.undo()
        timed.close()
        other.close()


def test_a_full_wake_up_pipe_sends_nothing_and_queues_nothing(
    raw: KazooClient, node: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader thread would wait for ever on a full pipe that only it drains: it sends no
    read, queues no request without the byte that would send it, and the worker reads."""
    full, other = socket.socketpair()
    worker = _Worker()
    try:
        full.setblocking(False)
        with pytest.raises(BlockingIOError):
            while True:
                full.send(b"\0" * 65536)
        queued = len(raw._queue)
        monkeypatch.setattr(raw._connection, "_write_sock", full)
        worker.prefetcher.route(raw, node, 1.0, CHANGED, None)
        assert worker.take(1) == [((node, 1.0, CHANGED, None), 0)] and len(raw._queue) == queued
    finally:
        monkeypatch.undo()
        full.close()
        other.close()
    assert raw.get(node)[0] == b"A"  # the connection is unharmed


def test_a_closed_session_sends_nothing(zookeeper_server: Any) -> None:
    client = KazooClient(hosts=",".join(zookeeper_server.endpoints))
    client.start(timeout=DEADLINE)
    client.stop()
    worker = _Worker()
    try:
        worker.prefetcher.route(client, "/anything", 1.0, CHANGED, None)
        assert worker.take(1) == [(("/anything", 1.0, CHANGED, None), 0)] and len(client._queue) == 0
    finally:
        client.close()


def test_an_own_writes_outcome_older_than_a_read_of_the_worker_is_read_again(
    raw: KazooClient, node: str
) -> None:
    """This session's write, routed with its notification before the worker sent a read of
    its own (a full re-read), may be older than what that read folded: the node is read."""
    worker = _Worker()
    pending = raw.handler.async_result()  # the write's reply, not read yet when it is routed
    written = Written(raw, node, pending, b"mine", the_reply)
    worker.prefetcher.route(raw, node, 1.0, CHANGED, written)
    ((item, _),) = worker.take(1)
    assert item[3] is written and worker.prefetcher.fresh(written)
    with worker.prefetcher.reading():  # a re-read sent after the write, answered after it
        pending.set(raw.exists(node))
        raw.set(node, b"theirs")  # a change after the write, which that re-read folded
    assert not worker.prefetcher.fresh(written)
    on_wire = reads_sent(raw)
    reads, _, _ = read_notified(
        raw,
        {node: written},
        time.monotonic() + DEADLINE,
        queue.SimpleQueue(),
        lambda p: True,
        worker.prefetcher,
    )
    assert reads[node] is not None and reads[node].data == b"theirs" and on_wire == [node]
