"""The read of a notified node sent by kazoo's reader thread as it routes the notification
(zookeeper/prefetch.py), against a real server: the watch's worker then sends none; the
reader thread never waits and never queues a request without its wake-up byte; when it
cannot send, the worker reads as before.
"""

from __future__ import annotations

import queue
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient
from kazoo.protocol.serialization import GetData
from zk_reads import reads_sent

from coordkit.backends.base import EventType, Put, WatchEvent
from coordkit.backends.zookeeper import prefetch
from coordkit.backends.zookeeper.backend import ZooKeeperBackend
from coordkit.backends.zookeeper.prefetch import READ_DONE, Prefetcher

DEADLINE = 15.0


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
    return path


def test_one_read_of_a_node_in_flight_at_most_and_it_signals_when_answered(
    raw: KazooClient, node: str
) -> None:
    done: queue.SimpleQueue[object] = queue.SimpleQueue()
    prefetcher = Prefetcher(done.put)
    first = prefetcher.prefetch(raw, node)
    second = prefetcher.prefetch(raw, node)
    assert first is not None
    assert second is None or first.result.ready()  # refused while the first is unanswered
    data, stat = first.result.get(timeout=DEADLINE)
    assert (data, stat) == raw.get(node)
    assert done.get(timeout=DEADLINE) is READ_DONE
    third = prefetcher.prefetch(raw, node)  # answered: the next notification's read is sent
    assert third is not None and third.result.get(timeout=DEADLINE)[0] == b"A"


def test_a_full_wake_up_pipe_sends_nothing_and_queues_nothing(
    raw: KazooClient, node: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader thread would wait for ever on a full pipe that only it drains: it gives up,
    and no request is left queued without the byte that would send it."""
    full, other = socket.socketpair()
    try:
        full.setblocking(False)
        with pytest.raises(BlockingIOError):
            while True:
                full.send(b"\0" * 65536)
        queued = len(raw._queue)
        monkeypatch.setattr(raw._connection, "_write_sock", full)
        assert Prefetcher(queue.SimpleQueue().put).prefetch(raw, node) is None
        assert len(raw._queue) == queued
    finally:
        monkeypatch.undo()
        full.close()
        other.close()
    assert raw.get(node)[0] == b"A"  # the connection is unharmed


def test_a_closed_session_sends_nothing(zookeeper_server: Any) -> None:
    client = KazooClient(hosts=",".join(zookeeper_server.endpoints))
    client.start(timeout=DEADLINE)
    client.stop()
    try:
        assert Prefetcher(queue.SimpleQueue().put).prefetch(client, "/anything") is None
        assert len(client._queue) == 0
    finally:
        client.close()
