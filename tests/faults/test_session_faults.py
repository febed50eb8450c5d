"""Faults against dedicated real servers: unreachable servers, restarts.

Each test starts its own server so that pausing or restarting it disturbs nobody else.
"""

from __future__ import annotations

import queue
import time

import pytest

from coordkit import EventType, SessionEvent, SessionState

from .conftest import Outage

TTL = 3.0
DEADLINE = 15.0


def _next(events: queue.SimpleQueue[SessionEvent], state: SessionState, timeout: float) -> SessionEvent:
    deadline = time.monotonic() + timeout
    while True:
        event = events.get(timeout=max(0.0, deadline - time.monotonic()))
        if event.state is state:
            return event


def test_lost_is_declared_within_the_ttl_while_unreachable(outage: Outage) -> None:
    client = outage.connect(ttl=TTL, timeout=1)
    ttl = client.session.ttl
    events: queue.SimpleQueue[SessionEvent] = queue.SimpleQueue()
    client.add_listener(events.put)
    client.put("/eph", "mine", ephemeral=True)
    first_session = client.session.session_id

    outage.cut()
    cut_at = time.monotonic()
    suspended = _next(events, SessionState.SUSPENDED, ttl + 2)
    lost = _next(events, SessionState.LOST, ttl + 2)
    lost_at = time.monotonic()
    assert suspended.session_id == lost.session_id == first_session
    # By the client's own clock: no later than the TTL after it last heard from the server
    # (plus scheduling slack), although no server has answered anything since the cut.
    assert lost_at - client.session.last_heard <= ttl + 0.5
    assert lost_at - cut_at <= ttl + 0.5

    outage.heal()
    renewed = _next(events, SessionState.CONNECTED, DEADLINE)
    assert renewed.generation == lost.generation + 1
    assert client.session.session_id != first_session
    # The old session's ephemeral key is gone once the server notices the expiry.
    observer = outage.connect(ttl=TTL)
    with observer.watch("/eph") as watch:
        if observer.get("/eph") is not None:
            event = watch.get(timeout=ttl + DEADLINE)
            assert event is not None and event.type is EventType.DELETE
    assert observer.get("/eph") is None


def test_short_outage_suspends_then_recovers_the_same_session(outage: Outage) -> None:
    client = outage.connect(ttl=8, timeout=0.5)
    events: queue.SimpleQueue[SessionEvent] = queue.SimpleQueue()
    client.add_listener(events.put)
    client.put("/eph", "kept", ephemeral=True)
    session_id = client.session.session_id
    outage.cut()
    _next(events, SessionState.SUSPENDED, DEADLINE)
    outage.heal()
    back = _next(events, SessionState.CONNECTED, DEADLINE)
    assert back.generation == 1 and client.session.session_id == session_id
    entry = client.get("/eph")
    assert entry is not None and entry.lease == session_id


@pytest.mark.parametrize("kind", ["zookeeper", "etcd"])
def test_watch_loses_nothing_across_a_server_restart(kind: str) -> None:
    with Outage(kind) as o:
        watcher, writer = o.connect(ttl=10), o.connect(ttl=10)
        with watcher.watch("/jobs", recursive=True) as watch:
            writer.put("/jobs/before", "1")
            first = watch.get(timeout=DEADLINE)
            assert first is not None and first.key == "/jobs/before"
            assert o.server is not None
            o.server.restart()
            expected = [f"/jobs/after-{i}" for i in range(5)]
            for key in expected:
                writer.put(key, key)
            writer.delete("/jobs/before")
            got = [watch.get(timeout=DEADLINE) for _ in range(len(expected) + 1)]
            assert all(e is not None for e in got), got
            assert [e.key for e in got if e] == [*expected, "/jobs/before"]
            assert got[-1] is not None and got[-1].type is EventType.DELETE
            assert watch.get(timeout=0.5) is None, "an event was delivered twice"


def test_a_registration_is_not_registered_once_the_session_deadline_passed(outage: Outage) -> None:
    """``registered`` answers by the session's clock: past the ownership deadline the
    instance's key may be gone from the store, so it is False from then on, through the whole
    outage (no new session can be opened before the heal), until the re-registration."""
    client = outage.connect(ttl=TTL, timeout=1)
    events: queue.SimpleQueue[SessionEvent] = queue.SimpleQueue()
    client.add_listener(events.put)
    registration = client.register("svc", "127.0.0.1", 8080)
    assert registration.registered
    generation = client.session.generation
    with client.watch(registration.key) as watch:
        outage.cut()
        _next(events, SessionState.LOST, client.session.ttl + 2)
        try:
            assert client.session.generation == generation  # no new session while cut off
            assert not registration.registered, "registered while the session was lost"
            assert "re-registering" in repr(registration)
        finally:
            outage.heal()
        deadline = time.monotonic() + DEADLINE
        while not registration.registered:  # woken by the re-registration's write
            assert time.monotonic() < deadline, "not registered again after the heal"
            watch.get(timeout=0.1)  # the flag is set just after the write: look again soon
    assert client.session.generation > generation
    assert [i.id for i in client.instances("svc")] == [registration.id]
