"""The departures a semaphore waiter counts, so that a departure wakes only the waiters that
can now enter, not the herd.

Holders of a semaphore leave in any order, so a waiter cannot wait for one given key (a
waiter ``limit`` places ahead may stay while a holder further ahead leaves and admits us).
Instead each waiter keeps the watch of deletions it started before its join (the backend's
``watch_departures``, else a prefix watch), and counts: after
each listing it records the keys of the contenders ahead of it; a DELETE of one of those
keys removes it, and only when fewer than ``slots`` remain ahead (its position would admit
it) is the waiter woken to read the queue again. Newcomers join behind, so the set ahead
only shrinks between listings.

Between a wake-up and the next recorded listing, departures are only noted, then discounted
from that listing (which may have been read before them), so none is lost and none wakes the
waiter twice. On failure: an event lost with the watch cannot be counted, which is why the
session's own listener still wakes the waiter on every session change (it then re-reads the
queue); a key seen deleted before a listing that holds it again (a new incarnation) is
discounted once at most, which costs one early re-read, never a missed admission.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ..backends.base import EventType, WatchEvent
from ..backends.contender_queue import QueueView

__all__ = ["Departures"]


class Departures:
    """Counts the departures ahead of one semaphore waiter; calls ``notify`` (from the watch's
    thread) when it may enter: a ``threading.Event``'s ``set`` for the sync recipe, a hand-over
    to the loop for the async one."""

    def __init__(self, notify: Callable[[], None], slots: int) -> None:
        self._notify = notify
        self._slots = slots
        self._lock = threading.Lock()
        self._gone: set[str] = set()  # deleted since the latest listing was recorded
        self._ahead: set[str] | None = None  # None: not waiting (a listing is under way)

    def on_event(self, event: WatchEvent) -> None:
        """The prefix watch's callback."""
        if event.type is EventType.DELETE:
            self.on_gone(event.key)

    def on_gone(self, key: str) -> None:
        """The contender ``key`` was deleted (a departures watch's callback: only sets flags)."""
        key = key.strip("/")
        with self._lock:
            # Kept for the next listing too: it may have been read before this deletion.
            self._gone.add(key)
            wake = False
            if self._ahead is not None and key in self._ahead:  # None: no count to wake on now
                self._ahead.discard(key)
                wake = len(self._ahead) < self._slots
        if wake:
            self._notify()

    def wait(self, view: QueueView, wake: threading.Event, timeout: float | None) -> None:
        """Wait on ``wake`` (set by ``notify``, or by the session's listener) if ``view`` has
        ``slots`` or more ahead, at most ``timeout``; then :meth:`done`."""
        if self.count(view):
            wake.wait(timeout)
        self.done()

    def count(self, view: QueueView) -> bool:
        """Record the listing ``view``: True if the waiter must wait (``slots`` or more of the
        contenders ahead in it remain, departures seen meanwhile discounted), then until
        ``notify`` is called, or a session change or its deadline ends the wait. Call
        :meth:`done` when that wait is over; the caller then reads the queue again, and
        departures seen until the next :meth:`count` are counted against that listing."""
        listed = {contender.key.strip("/") for contender in view.contenders[: max(0, view.position)]}
        with self._lock:
            self._ahead = listed - self._gone
            self._gone = set()
            return len(self._ahead) >= self._slots

    def done(self) -> None:
        """The wait after the latest :meth:`count` is over: a notification from that count
        would be stale from now on."""
        with self._lock:
            self._ahead = None
