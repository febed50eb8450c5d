"""Waiting by a caller's deadline in the contender queue: local locks taken by it, the time
limit of each store call made before it, and a suspended session waited out by it."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from ..core.states import SessionState

if TYPE_CHECKING:
    from ..core.session import Session

__all__ = ["MIN_CALL_TIME", "call_time", "remaining_time", "settle", "take"]


def take(lock: threading.Lock, wait: bool, deadline: float | None) -> bool:
    """Acquire ``lock`` at once (not ``wait``), by ``deadline``, or for ever (None)."""
    if not wait:
        return lock.acquire(False)
    if deadline is None:
        return lock.acquire()
    return lock.acquire(True, max(0.0, deadline - time.monotonic()))


def remaining_time(deadline: float | None) -> float | None:
    """Seconds left until ``deadline`` (never below 0), or None for no deadline."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


#: The least time a store call gets when its caller's deadline is (nearly) spent: enough for
#: one round trip to a live server (e.g. removing the contender of a wait that timed out).
MIN_CALL_TIME = 0.25


def call_time(deadline: float | None) -> float | None:
    """The time limit of one store call made before ``deadline``: what remains of it (at
    least :data:`MIN_CALL_TIME`), or None (the operation timeout) when there is no deadline.
    The backend takes the shorter of this and its operation timeout, so that a wait bounded
    by ``timeout`` does not overrun it by an operation timeout while the store is unreachable."""
    if deadline is None:
        return None
    return max(deadline - time.monotonic(), MIN_CALL_TIME)


def settle(session: Session, generation: int, deadline: float | None) -> bool | None:
    """Wait out a SUSPENDED session. True: session ``generation`` is CONNECTED; None: it was
    replaced (join again); False: the deadline passed while suspended."""
    while not session.is_current(generation):
        if session.generation != generation or session.state is SessionState.LOST:
            return None
        session.ensure_usable()
        connected = session.wait_for(SessionState.CONNECTED, remaining_time(deadline) if deadline else 1.0)
        if not connected and deadline is not None and time.monotonic() >= deadline:
            return False
    return True
