"""Waiting for one contender of a ZooKeeper queue to leave: one ``exists`` that leaves a watch
on that node alone, so that a departure wakes exactly the contender behind it, not the herd.

What holds on failure: a dropped link or an ended session (kazoo then fires the watch with
type NONE) wakes the waiter, which looks at the queue again; a change of the node's value
(an election's proclamation) is no departure and is watched again.
"""

from __future__ import annotations

import threading
from typing import Any

from kazoo.client import KazooClient
from kazoo.protocol.states import EventType

from .errors import TRANSLATED
from .read import wait

__all__ = ["Departure", "wait_gone"]


class Departure:
    """The watch of :func:`wait_gone`: sets ``gone`` and ``wake`` when the node is deleted.
    A change of its value (an election's proclamation) is no departure: it watches again."""

    def __init__(self, client: KazooClient, path: str, wake: threading.Event) -> None:
        self.client, self.path, self.wake = client, path, wake
        self.gone = threading.Event()
        self.done = False  # the waiter returned: let a leftover watch die out

    def __call__(self, event: Any) -> None:
        if event.type == EventType.DELETED:
            self._departed()
        elif self.done:
            return
        elif event.type == EventType.NONE:  # kazoo dropped its watches with the session
            self._wake()
        else:
            self.client.exists_async(self.path, watch=self).rawlink(self._answered)

    def _answered(self, result: Any) -> None:
        try:
            absent = result.get() is None
        except TRANSLATED:  # the link dropped: wake the waiter, which looks again
            self._wake()
            return
        if absent:
            self._departed()

    def _departed(self) -> None:
        self.gone.set()
        self._wake()

    def _wake(self) -> None:
        if not self.done:
            self.wake.set()


def wait_gone(
    client: KazooClient,
    path: str,
    deadline: float,
    timeout: float | None,
    wake: threading.Event,
    create_revision: int = 0,
) -> bool:
    """True once ``path`` does not exist (or, with ``create_revision``, is another node). One
    ``exists`` leaves a watch on that node alone, so a departure wakes exactly the contender
    behind it. False after ``timeout`` or when ``wake`` was set by somebody else."""
    departure = Departure(client, path, wake)
    try:
        stat = wait(client.exists_async(path, watch=departure), deadline)
        if stat is None or (create_revision and stat.czxid != create_revision):
            return True
        wake.wait(timeout)
        return departure.gone.is_set()
    finally:
        departure.done = True
