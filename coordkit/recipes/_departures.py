"""Whom a semaphore waiter watches, so that a departure reaches only the waiters it concerns
and wakes only the one it admits, not the herd.

Holders of a semaphore leave in any order, so a waiter cannot wait for one given key (a
waiter ``limit`` places ahead may stay while a holder further ahead leaves and admits us).
Nor does it watch the whole queue: every departure would then reach every waiter. It watches
its *window*, the ``limit`` contenders nearest ahead of it that it still believes there.

Why that is enough: a waiter is admitted once fewer than ``limit`` contenders are ahead of
it. While its window is all there, ``limit`` are ahead, whatever leaves further ahead, so
only a departure from the window can admit it. When one leaves, the waiter drops it and,
without reading the queue, watches the next contender ahead in its listing instead.
Newcomers join behind, so the contenders ahead only ever leave: the listing minus the
departures seen is never fewer than the truth. Watching a key starts from the listing's
revision (or finds the key gone when it is armed), so a contender that left unseen, outside
the window, is found gone as soon as the window reaches it. Only when fewer than ``limit``
are left to watch does the waiter read the queue again, and that read admits it.

So a release reaches at most the ``limit`` waiters whose window holds the contender that
left; one of them is admitted (one queue read), the others each watch one key more. On
failure (a timeout, a session change, a broken watch) the wait tells no departure and the
waiter reads the queue again, as before any wait.
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

    def window(self) -> list[Contender]:
        """The ``slots`` contenders nearest ahead; empty once fewer remain (read the queue)."""
        return self._ahead[-self._slots :] if len(self._ahead) >= self._slots else []

    def forget(self, gone: Collection[str]) -> bool:
        """Drop the contenders told gone. True if that leaves a full window to watch without
        reading the queue; False if nothing was told (read the queue) or too few remain."""
        if not gone:
            return False
        self._ahead = [contender for contender in self._ahead if contender.key not in gone]
        return len(self._ahead) >= self._slots
