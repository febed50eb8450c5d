"""Waiting for contenders of a ZooKeeper queue to leave: one read that leaves a watch on that
node alone, so that a departure wakes exactly the contender behind it, not the herd (a
semaphore waiter's few: their reads pipelined, one round trip).

The read is a ``getData``, not an ``exists``: an ``exists`` of a node already gone leaves a
watch for its creation, on the server and in kazoo, which a sequential node (whose name is
never used again) would never fire; it would stay for the life of the connection. A
``getData`` of a missing node leaves no watch.

What holds on failure: a dropped link or an ended session (kazoo then fires the watch with
type NONE) wakes the waiter, which looks at the queue again; a change of the node's value
(an election's proclamation) is no departure and is watched again. Once the waiter has
returned, a watch left behind never sets its ``wake`` (it dies out when the node goes).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
from kazoo.protocol.states import EventType, ZnodeStat

from .errors import TRANSLATED
from .read import wait

__all__ = ["Departure", "stat_of", "wait_any_gone", "wait_gone"]


class Departure:
    """The watch of :func:`wait_gone`: sets ``gone`` and ``wake`` when the node is deleted.
    A change of its value (an election's proclamation) is no departure: it watches again.
    After :meth:`finish` it sets neither."""

    def __init__(self, client: KazooClient, path: str, wake: threading.Event) -> None:
        self.client, self.path, self.wake = client, path, wake
        self.gone = threading.Event()
        self.done = False  # the waiter returned: let a leftover watch die out
        self._lock = threading.Lock()  # done and the wake-up, at once

    def arm(self) -> Any:
        """The read that leaves this watch on the node (see the module): kazoo's async result."""
        return self.client.get_async(self.path, watch=self)

    def finish(self) -> None:
        with self._lock:
            self.done = True

    def __call__(self, event: Any) -> None:
        if event.type == EventType.DELETED:
            self._departed()
        elif self.done:
            return
        elif event.type == EventType.NONE:  # kazoo dropped its watches with the session
            self._wake()
        else:
            self.arm().rawlink(self._answered)

    def _answered(self, result: Any) -> None:
        try:
            result.get()
        except NoNodeError:
            self._departed()
        except TRANSLATED:  # the link dropped: wake the waiter, which looks again
            self._wake()

    def _departed(self) -> None:
        with self._lock:
            if not self.done:
                self.gone.set()
                self.wake.set()

    def _wake(self) -> None:
        with self._lock:
            if not self.done:
                self.wake.set()


def stat_of(answer: Any, deadline: float) -> ZnodeStat | None:
    """The stat a :meth:`Departure.arm` read found, by ``deadline``; None: no node."""
    try:
        return wait(answer, deadline)[1]
    except NoNodeError:
        return None


def wait_gone(
    client: KazooClient,
    path: str,
    deadline: float,
    timeout: float | None,
    wake: threading.Event,
    create_revision: int = 0,
) -> bool:
    """True once ``path`` does not exist (or, with ``create_revision``, is another node). One
    read leaves a watch on that node alone, so a departure wakes exactly the contender behind
    it. False after ``timeout`` or when ``wake`` was set by somebody else."""
    return bool(wait_any_gone(client, [(path, path, create_revision)], deadline, timeout, wake))


def wait_any_gone(
    client: KazooClient,
    nodes: Sequence[tuple[str, str, int]],
    deadline: float,
    timeout: float | None,
    wake: threading.Event,
) -> set[str]:
    """:func:`wait_gone` for each ``(key, path, create_revision)`` at once, their reads
    pipelined: the keys of those found gone once one is. Empty after ``timeout`` or when
    ``wake`` was set by somebody else (at once for no nodes)."""
    departures = [(key, incarnation, Departure(client, path, wake)) for key, path, incarnation in nodes]
    try:
        sent = [departure.arm() for _, _, departure in departures]
        gone = set()
        for (key, incarnation, _), answer in zip(departures, sent, strict=True):
            stat = stat_of(answer, deadline)
            if stat is None or (incarnation and stat.czxid != incarnation):
                gone.add(key)
        if gone or not departures:
            return gone
        wake.wait(timeout)
        return {key for key, _, departure in departures if departure.gone.is_set()}
    finally:
        for _, _, departure in departures:
            departure.finish()
