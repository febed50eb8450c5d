"""Departure waits on etcd share one Watch stream per client (real etcd).

What holds: many waiters of one client use one stream (the server counts one); a wait starts
at the revision of the waiter's queue read, so a departure between that read and the wait is
seen without another read; a compacted start revision, a restarted server and close() each
end the waits they cut (the waiter re-reads the queue) and leave no thread behind; locks
still hand over in order with one holder at a time across a restart.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

import coordkit
from coordkit.backends.base import Put
from coordkit.backends.etcd.backend import EtcdBackend
from coordkit.backends.etcd.conn import etcdrpc
from coordkit.backends.etcd.departures import _Stream
from coordkit.errors import BackendUnavailableError
from coordkit.testing import eventually
from coordkit.testing.servers import EtcdServer

DEADLINE = 15.0


@pytest.fixture
def server() -> Iterator[EtcdServer]:
    with EtcdServer() as server:
        yield server


@pytest.fixture
def make() -> Iterator[Callable[..., EtcdBackend]]:
    made: list[EtcdBackend] = []

    def connect(server: EtcdServer, *, ttl: float = 10) -> EtcdBackend:
        backend = EtcdBackend(server.endpoints, "", options={"operation_timeout": 5})
        made.append(backend)
        backend.connect(lambda event: None, ttl=ttl, timeout=5)
        return backend

    yield connect
    for backend in made:
        backend.close()


def departure_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "coordkit-etcd-departures"]


def holding_streams() -> int:
    """gRPC's threads running a departure stream's request generator (each holds one open)."""
    code = _Stream.outgoing.__code__
    count = 0
    for frame in sys._current_frames().values():
        walker = frame
        while walker is not None and walker.f_code is not code:
            walker = walker.f_back
        count += walker is not None
    return count


class Waits:
    """Threads each running one wait_gone_since; their results by key."""

    def __init__(self, backend: EtcdBackend) -> None:
        self.backend, self.results, self.threads = backend, {}, []
        self.results: dict[str, bool | coordkit.CoordkitError] = {}
        self.wakes: dict[str, threading.Event] = {}

    def start(self, key: str, create_revision: int, since: int, timeout: float = 60) -> None:
        wake = self.wakes[key] = threading.Event()

        def run() -> None:
            try:
                self.results[key] = self.backend.wait_gone_since(
                    key, timeout, wake, create_revision=create_revision, since_revision=since
                )
            except coordkit.CoordkitError as exc:
                self.results[key] = exc

        thread = threading.Thread(target=run, daemon=True)
        self.threads.append(thread)
        thread.start()

    def join(self) -> dict[str, bool | coordkit.CoordkitError]:
        for thread in self.threads:
            thread.join(DEADLINE)
            assert not thread.is_alive(), "a departure wait did not return"
        return self.results


def test_waiters_of_one_client_share_one_stream_and_each_sees_its_departure(server: EtcdServer, make) -> None:
    holder, waiter = make(server), make(server)
    keys = [f"/q/{i}" for i in range(8)]
    made = [holder.put(Put(key, b"", ephemeral=True)) for key in keys]
    _, revision = holder.tree("/q")
    waits = Waits(waiter)
    for key, entry in zip(keys, made, strict=True):
        waits.start(key, entry.create_revision, revision)
    eventually(lambda: server.metric("etcd_debugging_mvcc_watcher_total") == 8, timeout=DEADLINE)
    assert server.metric("etcd_debugging_mvcc_watch_stream_total") == 1
    assert waiter._departures.streams_opened == 1
    for key in keys[:4]:
        holder.delete(key)
    eventually(lambda: len(waits.results) == 4, timeout=DEADLINE, message="the four departures")
    assert waits.results == {key: True for key in keys[:4]}  # only those whose key went
    # A put of the same incarnation is no departure; another incarnation is.
    holder.put(Put(keys[4], b"new value", ephemeral=True))
    holder.delete(keys[5])
    holder.put(Put(keys[5], b"", ephemeral=True))
    for key in keys[6:]:
        holder.delete(key)
    eventually(lambda: len(waits.results) == 7, timeout=DEADLINE, message="the later departures")
    assert keys[4] not in waits.results
    waits.wakes[keys[4]].set()  # somebody else wakes the last one: not gone
    assert waits.join()[keys[4]] is False
    # Woken, it was cancelled at once; the departed ones wait for the queue read that follows.
    eventually(lambda: server.metric("etcd_debugging_mvcc_watcher_total") == 7, timeout=DEADLINE)
    waiter.queue_list("/q")
    # Every watch was cancelled by id; the stream stays for the next wait.
    eventually(lambda: server.metric("etcd_debugging_mvcc_watcher_total") == 0, timeout=DEADLINE)
    assert server.metric("etcd_debugging_mvcc_watch_stream_total") == 1


def test_a_departed_waits_cancel_goes_out_with_the_next_wait_if_no_queue_read_came(
    server: EtcdServer, make
) -> None:
    holder, waiter = make(server), make(server)
    first, second = (holder.put(Put(key, b"", ephemeral=True)) for key in ("/q/a", "/q/b"))
    _, revision = holder.tree("/q")
    waits = Waits(waiter)
    waits.start("/q/a", first.create_revision, revision)
    eventually(lambda: server.metric("etcd_debugging_mvcc_watcher_total") == 1, timeout=DEADLINE)
    holder.delete("/q/a")
    assert waits.join() == {"/q/a": True}
    assert server.metric("etcd_debugging_mvcc_watcher_total") == 1  # its cancel waits
    later = Waits(waiter)
    later.start("/q/b", second.create_revision, revision)
    eventually(lambda: later.backend._departures._stream.waits, timeout=DEADLINE, message="the next wait")
    eventually(lambda: server.metric("etcd_debugging_mvcc_watcher_total") == 1, timeout=DEADLINE)
    later.wakes["/q/b"].set()
    assert later.join() == {"/q/b": False}
    eventually(lambda: server.metric("etcd_debugging_mvcc_watcher_total") == 0, timeout=DEADLINE)


def test_a_departure_between_the_read_and_the_wait_is_not_missed(server: EtcdServer, make) -> None:
    holder, waiter = make(server), make(server)
    entry = holder.put(Put("/q/a", b"", ephemeral=True))
    _, revision = waiter.tree("/q")  # the waiter's queue read
    holder.delete("/q/a")  # gone before the wait starts: history delivers it
    assert (
        waiter.wait_gone_since(
            "/q/a",
            DEADLINE,
            threading.Event(),
            create_revision=entry.create_revision,
            since_revision=revision,
        )
        is True
    )
    # Without a revision it reads first (the plain wait_gone of the contract).
    assert waiter.wait_gone("/q/a", DEADLINE, threading.Event()) is True


def test_a_compacted_start_revision_ends_the_wait_for_a_reread(server: EtcdServer, make) -> None:
    holder, waiter = make(server), make(server)
    entry = holder.put(Put("/q/a", b"", ephemeral=True))
    _, old = waiter.tree("/q")
    for i in range(3):
        holder.put(Put(f"/other/{i}", b"x"))
    _, now = holder.tree("/q")
    waiter._conn.call(
        "compact",
        lambda s, t: s.kv.Compact(etcdrpc.CompactionRequest(revision=now, physical=True), **s.args(t)),
        retry_safe=True,
    )
    wake = threading.Event()
    started = time.monotonic()
    gone = waiter.wait_gone_since("/q/a", 30, wake, create_revision=entry.create_revision, since_revision=old)
    assert gone is False and wake.is_set() and time.monotonic() - started < DEADLINE
    # The compacted watch is cancelled (the server keeps it until then).
    eventually(lambda: server.metric("etcd_debugging_mvcc_watcher_total") == 0, timeout=DEADLINE)
    # The re-read gives a revision that is not compacted: the wait then sees the departure.
    _, fresh = waiter.tree("/q")
    waits = Waits(waiter)
    waits.start("/q/a", entry.create_revision, fresh)
    eventually(lambda: server.metric("etcd_debugging_mvcc_watcher_total") == 1, timeout=DEADLINE)
    holder.delete("/q/a")
    assert waits.join() == {"/q/a": True}


def test_a_restart_wakes_every_waiter_and_the_next_wait_opens_a_new_stream(server: EtcdServer, make) -> None:
    holder, waiter = make(server, ttl=30), make(server, ttl=30)
    keys = [f"/q/{i}" for i in range(4)]
    made = [holder.put(Put(key, b"", ephemeral=True)) for key in keys]
    _, revision = holder.tree("/q")
    waits = Waits(waiter)
    for key, entry in zip(keys, made, strict=True):
        waits.start(key, entry.create_revision, revision)
    eventually(lambda: server.metric("etcd_debugging_mvcc_watcher_total") == 4, timeout=DEADLINE)
    server.restart()
    assert waits.join() == {key: False for key in keys}  # woken, not gone: they re-read
    assert all(wake.is_set() for wake in waits.wakes.values())
    eventually(lambda: waiter.get(keys[0]) is not None, timeout=DEADLINE, ignoring=(BackendUnavailableError,))
    _, revision = waiter.tree("/q")
    again = Waits(waiter)
    again.start(keys[0], made[0].create_revision, revision)
    eventually(lambda: server.metric("etcd_debugging_mvcc_watcher_total") == 1, timeout=DEADLINE)
    holder.delete(keys[0])
    assert again.join() == {keys[0]: True}
    assert waiter._departures.streams_opened == 2


def test_locks_hand_over_in_order_across_a_restart(server: EtcdServer) -> None:
    name = f"lock-{uuid.uuid4().hex[:8]}"
    clients = [coordkit.connect(server.url) for _ in range(3)]
    try:
        locks = [client.lock(name) for client in clients]
        assert locks[0].acquire(timeout=DEADLINE)
        order: list[int] = []
        holding, overlaps, errors = [0], [], []
        guard = threading.Lock()

        def contend(who: int) -> None:
            try:
                assert locks[who].acquire(timeout=60)
                with guard:
                    holding[0] += 1
                    overlaps.append(holding[0])
                    order.append(who)
                time.sleep(0.05)  # hold a while: a second holder would overlap
                with guard:
                    holding[0] -= 1
                locks[who].release()
            except (coordkit.CoordkitError, AssertionError) as exc:
                errors.append(exc)

        threads = []
        for who in (1, 2):  # joined in this order: handed over in this order
            threads.append(threading.Thread(target=contend, args=(who,), daemon=True))
            threads[-1].start()
            eventually(lambda w=who: len(clients[0].backend.queue_list(name)[0]) == w + 1, timeout=DEADLINE)
        server.restart()
        eventually(
            lambda: clients[0].backend.queue_list(name)[0] is not None,
            timeout=DEADLINE,
            ignoring=(coordkit.CoordkitError,),
        )
        locks[0].release()
        for thread in threads:
            thread.join(60)
        assert not errors and order == [1, 2] and max(overlaps) == 1
    finally:
        for client in clients:
            client.close()


def test_close_cuts_the_stream_wakes_its_waiters_and_leaves_no_thread(server: EtcdServer, make) -> None:
    before = departure_threads()
    holder, waiter = make(server), make(server)
    entry = holder.put(Put("/q/a", b"", ephemeral=True))
    _, revision = holder.tree("/q")
    waits = Waits(waiter)
    waits.start("/q/a", entry.create_revision, revision)
    eventually(lambda: server.metric("etcd_debugging_mvcc_watcher_total") == 1, timeout=DEADLINE)
    assert len(departure_threads()) == len(before) + 1 and holding_streams() == 1
    waiter.close()
    result = waits.join()["/q/a"]
    assert result is False or isinstance(result, coordkit.CoordkitError)
    eventually(lambda: departure_threads() == before and holding_streams() == 0, timeout=DEADLINE)
    eventually(lambda: server.metric("etcd_debugging_mvcc_watch_stream_total") == 0, timeout=DEADLINE)
