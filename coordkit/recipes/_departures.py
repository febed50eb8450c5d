"""Whom a semaphore waiter watches, so that a departure reaches only the waiters it concerns,
not the herd.

Holders of a semaphore leave in any order, so a waiter cannot wait for one given key (a
waiter ``limit`` places ahead may stay while a holder further ahead leaves and admits us).
Nor does it watch the whole queue: every departure would then reach every waiter. It watches
its *window*, the ``limit`` contenders nearest ahead of it in its latest listing, from that
listing's revision, and reads the queue again once one of them is gone.

Why that is enough: a waiter is admitted once fewer than ``limit`` contenders are ahead of
it. While its window is all there, ``limit`` are ahead, whatever leaves further ahead, so
only a departure from the window can admit it; newcomers join behind and change nothing.

So a release reaches at most the ``limit`` waiters whose window holds the contender that
left, and each of them reads the queue once. Holders leaving in the order they came (a
queue served in order), the only waiter whose window holds the oldest is the first waiter,
which that read admits: one read per release. Out of order, up to ``limit`` read, one of
them admitted. (Moving the window without a read, one contender further ahead, saved
reads only out of order; in order it cost a round trip on the admission's path, since
everything further ahead has left by then, unseen.) On failure (a timeout, a session change,
a broken watch) the wait tells no departure and the waiter reads the queue again, as after
any wait.
"""

from __future__ import annotations

from ..backends.contender_queue import Contender, QueueView

__all__ = ["window"]


def window(view: QueueView, slots: int) -> list[Contender]:
    """The ``slots`` contenders nearest ahead of ``view.mine``; empty when fewer are ahead
    (the waiter is admitted)."""
    ahead = view.contenders[: max(0, view.position)]
    return ahead[-slots:] if len(ahead) >= slots else []
