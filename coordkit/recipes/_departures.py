"""Whom a semaphore waiter watches, so that a departure reaches only the waiters it concerns
and wakes only the one it admits, not the herd.

Holders of a semaphore leave in any order, so a waiter cannot wait for one given key (a
waiter ``limit`` places ahead may stay while a holder further ahead leaves and admits us).
Nor does it watch the whole queue: every departure would then reach every waiter. It watches
its *window*, the ``limit`` contenders nearest ahead of it that it still believes there.

Why that is enough: a waiter is admitted once fewer than ``limit`` contenders are ahead of
it. While its window is all there, ``limit`` are ahead, whatever leaves further ahead, so
only a departure from the window can admit it. Newcomers join behind, so the contenders
ahead only ever leave: the listing minus the departures seen is never fewer than the truth.

When one leaves, the waiter drops it and, without reading the queue, watches the next
contender ahead in its listing instead, read as it is armed (``since_revision`` 0; not from
the listing's revision, which etcd would catch up with its history only every 100 ms). If
that contender is gone too, the listing is stale beyond the window (in a queue served in
order, everything further ahead left first, unseen), so the waiter reads the queue again
rather than try its listing one contender at a time; likewise once fewer than ``limit`` are
left to watch, and that read admits it.

So a release reaches at most the ``limit`` waiters whose window holds the contender that
left; the one it admits reads the queue, the others watch one contender more (or read the
queue, once, if that one is gone too). On failure (a timeout, a session change, a broken
watch) the wait tells no departure and the waiter reads the queue again, as before any wait.
"""

from __future__ import annotations

from collections.abc import Collection

from ..backends.contender_queue import Contender, QueueView

__all__ = ["Ahead"]


class Ahead:
    """The contenders a semaphore waiter believes ahead of it, from one listing ``view``."""

    def __init__(self, view: QueueView, slots: int) -> None:
        self._slots = slots
        self._ahead = list(view.contenders[: max(0, view.position)])
        self.since = view.revision  # the revision to watch the window from (0: read it first)
        self._unread: set[str] = set()  # the window's contenders not known there since the listing

    def window(self) -> list[Contender]:
        """The ``slots`` contenders nearest ahead; empty once fewer remain (read the queue)."""
        return self._ahead[-self._slots :] if len(self._ahead) >= self._slots else []

    def forget(self, gone: Collection[str]) -> bool:
        """Drop the contenders told gone. True if that leaves a full window to watch without
        reading the queue; False if nothing was told, one of them had joined the window
        unread (the listing is stale), or too few remain: read the queue."""
        if not gone:
            return False
        stale = not self._unread.isdisjoint(gone)
        watched = {contender.key for contender in self.window()}
        self._ahead = [contender for contender in self._ahead if contender.key not in gone]
        self._unread = {contender.key for contender in self.window()} - watched
        self.since = 0  # the listing is older than this departure: see the module
        return not stale and len(self._ahead) >= self._slots
