"""Locks when the servers become unreachable: loss on SUSPENDED, no stale key left behind."""

from __future__ import annotations

import queue
import threading
import time

import coordkit
from coordkit import SessionEvent, SessionState

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
    deadline = time.monotonic() + DEADLINE
    while len(holder.backend.queue_list("q")[0]) != 2:  # the waiter has joined
        assert time.monotonic() < deadline, "the waiter never joined the queue"
        time.sleep(0.01)
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
