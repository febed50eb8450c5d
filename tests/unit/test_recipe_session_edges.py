"""Edges between recipes and the session, on the memory backend (fault injection)."""

from __future__ import annotations

import threading
import uuid

import coordkit
from coordkit import SessionState
from coordkit.errors import ConfigurationError

DEADLINE = 10.0


def _connect(store: str, **options: object) -> coordkit.Client:
    return coordkit.connect(f"memory://{store}", **options)  # type: ignore[arg-type]


def test_is_held_turns_false_at_once_even_while_listeners_are_busy() -> None:
    store = uuid.uuid4().hex
    holder, other = _connect(store, ttl=30), _connect(store, ttl=30)
    try:
        lock = holder.lock("l")
        assert lock.acquire()
        unblock = threading.Event()
        holder.add_listener(lambda event: unblock.wait(DEADLINE))  # a slow user listener
        holder.backend.set_reachable(False)  # type: ignore[attr-defined]
        assert holder.session.state is SessionState.SUSPENDED
        assert not lock.is_held and lock.token is None  # before any listener could run
        unblock.set()
        assert lock.lost.wait(DEADLINE)
        holder.backend.set_reachable(True)  # type: ignore[attr-defined]
        assert holder.session.wait_for(SessionState.CONNECTED, DEADLINE)
        successor = other.lock("l")
        assert successor.acquire(timeout=DEADLINE)  # the stale key was removed on recovery
        successor.release()
    finally:
        holder.close()
        other.close()


def test_an_unexpected_heartbeat_error_does_not_stop_the_clock() -> None:
    client = _connect(uuid.uuid4().hex, ttl=1)
    try:

        def refuse(timeout: float) -> None:
            raise ConfigurationError("authentication failed (simulated)")

        lost = threading.Event()
        client.add_listener(lambda event: event.state is SessionState.LOST and lost.set())
        client.backend.keepalive = refuse  # type: ignore[method-assign]
        assert lost.wait(DEADLINE), f"the session stayed {client.session.state}"
    finally:
        client.close()


def test_another_handle_can_take_the_lock_after_a_loss_without_release() -> None:
    store = uuid.uuid4().hex
    client = _connect(store, ttl=30)
    try:
        lost_one = client.lock("g")
        assert lost_one.acquire()
        client.backend.set_reachable(False)  # type: ignore[attr-defined]
        assert lost_one.lost.wait(DEADLINE)
        client.backend.set_reachable(True)  # type: ignore[attr-defined]
        replacement = client.lock("g")  # the lost handle was never released
        assert replacement.acquire(timeout=DEADLINE)
        assert (replacement.token or 0) > 0
        replacement.release()
    finally:
        client.close()


def test_a_loss_seen_by_a_query_as_the_session_recovers_still_removes_the_key() -> None:
    """A query finds the session SUSPENDED (the holding ends) and the session is CONNECTED
    again by the time the query reads its state: the contender key, alive on a live session,
    must still go, or it blocks every other client while this one lives (the holder was told
    it lost the lock, so it need not call release())."""
    store = uuid.uuid4().hex
    holder, other = _connect(store, ttl=30), _connect(store, ttl=30)
    try:
        lock = holder.lock("l")
        assert lock.acquire()
        session = holder.session
        owns = session.owns
        # The interleaving, made deterministic: owns() answers while the link is down, and
        # the link is back (CONNECTED, same generation) before the query reads the state.
        first = [True]

        def owns_once_in_doubt(generation: int, **options: bool) -> bool:
            if first:
                first.clear()
                return False  # this one answer while the link was down
            return owns(generation, **options)

        session.owns = owns_once_in_doubt  # type: ignore[method-assign]
        assert not lock.is_held and lock.lost.is_set()
        assert session.state is SessionState.CONNECTED
        successor = other.lock("l")
        assert successor.acquire(timeout=DEADLINE), "the lost holder's key still blocks the lock"
        successor.release()
    finally:
        holder.close()
        other.close()
