"""Locks when the servers become unreachable: loss on SUSPENDED, no stale key left behind."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from typing import Any

import pytest

import coordkit
from coordkit import SessionEvent, SessionState
from coordkit.testing import eventually
from coordkit.testing.proxy import FaultProxy

from .conftest import Outage

DEADLINE = 15.0


def _until(events: queue.SimpleQueue[SessionEvent], state: SessionState) -> SessionEvent:
    while True:
        event = events.get(timeout=DEADLINE)
        if event.state is state:
            return event


def test_holder_is_told_on_suspend_and_its_key_is_removed_on_recovery(outage: Outage) -> None:
    holder = outage.connect(ttl=8, timeout=0.5)
    other = outage.connect(ttl=8)
    events: queue.SimpleQueue[SessionEvent] = queue.SimpleQueue()
    holder.add_listener(events.put)
    lock = holder.lock("orders")
    assert lock.acquire()
    session_id = holder.session.session_id

    outage.cut()
    assert lock.lost.wait(DEADLINE), "a SUSPENDED session must end ownership at once"
    assert not lock.is_held and lock.token is None
    outage.heal()
    back = _until(events, SessionState.CONNECTED)
    assert back.generation == 1 and holder.session.session_id == session_id  # same session
    # The session survived, and so would the holder's key, blocking everyone forever,
    # had the lock not removed it on recovery.
    successor = other.lock("orders")
    assert successor.acquire(timeout=DEADLINE)
    successor.release()


def test_waiter_keeps_its_place_through_a_short_outage(outage: Outage) -> None:
    holder = outage.connect(ttl=8, timeout=0.5)
    waiter = outage.connect(ttl=8, timeout=0.5)
    first = holder.lock("q")
    assert first.acquire()
    second = waiter.lock("q")
    got = threading.Event()
    t = threading.Thread(target=lambda: second.acquire(timeout=DEADLINE * 2) and got.set())
    t.start()
    eventually(
        lambda: len(holder.backend.queue_list("q")[0]) == 2,
        timeout=DEADLINE,
        interval=0.01,
        message="the waiter to join the queue",
    )
    outage.cut()
    assert first.lost.wait(DEADLINE)
    outage.heal()
    assert got.wait(DEADLINE * 2), "the waiter must be admitted once the stale holder key is removed"
    t.join()
    assert second.is_held and second.token is not None
    second.release()
    try:
        first.release()
    except coordkit.OwnershipError as exc:
        assert "lost" in str(exc)
    else:
        raise AssertionError("release after loss must say the lock was lost")


def test_ownership_ends_at_the_clock_deadline_before_the_server_can_expire_it(outage: Outage) -> None:
    holder = outage.connect(ttl=2, timeout=0.5)
    lock = holder.lock("orders", lose_on_suspend=False)  # rides out SUSPENDED: only the clock ends it
    election = holder.election("leader", lose_on_suspend=False)
    assert lock.acquire() and election.campaign("me")
    told = threading.Event()
    told_at: list[float] = []
    lock.on_lost(lambda why: (told_at.append(time.monotonic()), told.set()))

    outage.cut()
    assert lock.lost.wait(DEADLINE)
    noticed = time.monotonic()
    session = holder.session
    deadline = session.valid_until  # last acknowledged heartbeat's send + TTL - margin
    server_expiry = session.last_heard + session.ttl  # the earliest the servers can let anyone in
    assert session.margin > 0 and deadline == server_expiry - session.margin
    assert deadline <= noticed < server_expiry, (noticed - deadline, server_expiry - noticed)
    assert not lock.is_held and lock.token is None and not election.is_leader
    with pytest.raises(coordkit.OwnershipError):
        holder.put("/guarded", "stale", fence=lock)
    assert told.wait(DEADLINE)
    assert told_at[0] - deadline < session.ttl / 2  # the callbacks too, by the heartbeat's wake-up
    outage.heal()


def test_a_refused_fenced_write_ends_the_holding_at_once(outage: Outage) -> None:
    # A server can remove a live holder's contender (etcd 3.4.23 and 3.5.1: a resumed stale
    # leader revokes leases that the new leader kept alive, etcd-io/etcd#15247); the holder's
    # session looks fine until its next heartbeat. The refused write proves the holding over.
    holder = outage.connect(ttl=8)
    operator = outage.connect(ttl=8)
    lock = holder.lock("orders")
    reasons: list[str] = []
    lock.on_lost(reasons.append)
    assert lock.acquire()
    key, token = lock.fence_check()
    assert operator.delete(key)  # the contender vanishes behind the holder's back
    assert lock.is_held  # nothing has told the holder yet: the session is CONNECTED
    with pytest.raises(coordkit.OwnershipError, match="no longer held"):
        holder.put("/counter", "1", fence=lock)
    assert not lock.is_held and lock.token is None and lock.lost.is_set()
    assert reasons and str(token) in reasons[0]
    with pytest.raises(coordkit.OwnershipError, match="lost before release"):
        lock.release()
    assert lock.acquire(timeout=DEADLINE)  # the handle works again, with a newer token
    assert lock.is_held and (lock.token or 0) > token
    lock.release()


@pytest.mark.parametrize("kind", ["zookeeper", "etcd"])
def test_semaphore_waiter_watches_its_window_again_after_its_link_is_reset(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """A semaphore waiter watches the contenders nearest ahead of it on its connection, which
    forgets them when it drops (ZooKeeper: the link, which suspends the session; etcd: the
    departure stream). After the waiter's link is reset (the same session on a new connection)
    it reads the queue again, and a holder's departure must still admit it."""
    server = request.getfixturevalue(f"{kind}_server")
    namespace = "/ck-" + uuid.uuid4().hex[:12]
    with FaultProxy(server.endpoints) as proxy, coordkit.connect(server.url + namespace, ttl=8) as holder:
        waiter = coordkit.connect(proxy.url(server.scheme, namespace), ttl=8)
        try:
            events: queue.SimpleQueue[SessionEvent] = queue.SimpleQueue()
            waiter.add_listener(events.put)
            slots = [holder.semaphore("pool", 2) for _ in range(2)]
            assert all(slot.acquire(timeout=DEADLINE) for slot in slots)
            reads, listed = [0], waiter.backend.queue_list

            def counted(path: str, **options: Any) -> Any:
                reads[0] += 1
                return listed(path, **options)

            waiter.backend.queue_list = counted  # type: ignore[method-assign]
            third = waiter.semaphore("pool", 2, lose_on_suspend=False)
            got = threading.Event()
            t = threading.Thread(
                target=lambda: third.acquire(timeout=DEADLINE * 2) and got.set(), daemon=True
            )
            t.start()
            eventually(
                lambda: len(holder.backend.queue_list("pool")[0]) == 3,
                timeout=DEADLINE,
                interval=0.01,
                message="the waiter to join the queue",
            )
            if kind == "etcd":  # the window is watched on the departure stream: reset that one
                eventually(
                    lambda: (stream := waiter.backend._departures._stream) is not None and stream.waits,
                    timeout=DEADLINE,
                    interval=0.01,
                    message="the waiter's window watched",
                )
            before = reads[0]
            proxy.reset()
            if kind == "zookeeper":  # etcd's lease outlives a reset stream: no session change
                _until(events, SessionState.SUSPENDED)
                assert _until(events, SessionState.CONNECTED).generation == 1  # the same session
            eventually(lambda: reads[0] > before, timeout=DEADLINE, interval=0.01, message="a re-read")
            assert not got.is_set()
            slots[0].release()
            assert got.wait(DEADLINE), "a departure after the reset must admit the waiter"
            t.join(DEADLINE)
            third.release()
            slots[1].release()
        finally:
            waiter.close()
