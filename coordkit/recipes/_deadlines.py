"""Waiting by a caller's deadline in the contender queue: local locks taken by it, the time
limit of each store call made before it, and a watch started by it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..backends.base import Watch
from ..core.states import SessionState
from ..errors import BackendUnavailableError

if TYPE_CHECKING:
    from ..core.session import Session
    from ..core.store import Store
    from ._departures import Departures

__all__ = ["MIN_CALL_TIME", "call_time", "remaining_time", "settle", "take", "watch_within"]

log = logging.getLogger(__name__)


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


def watch_within(
    client: Store,
    path: str,
    counted: Departures,
    wake: Callable[[], None],
    wait: bool,
    deadline: float | None,
) -> Watch | None:
    """The watch of the deletions under ``path`` that ``counted`` counts, started by
    ``deadline`` (each try bounded by it), retried through an outage as a join is: the
    backend's departures watch (``wake`` once it is armed again after a lost link), else a
    prefix watch. None once the deadline passed, or at the first failure when not
    ``wait``ing: the caller then gives up as if it had timed out."""
    backend = client.backend
    while True:
        try:
            limit = call_time(deadline)
            lean = backend.watch_departures(path, counted.on_gone, on_rearmed=wake, timeout=limit)
            return lean or backend.watch(path, counted.on_event, prefix=True, timeout=limit)
        except BackendUnavailableError as exc:
            if not wait or (deadline is not None and time.monotonic() >= deadline):
                log.info("coordkit: cannot watch the queue %s (%s)", path, exc)
                return None
            client.session.wait_for(SessionState.CONNECTED, remaining_time(deadline))


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
