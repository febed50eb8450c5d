"""The contender-queue protocol: the part of the backend contract that locks, semaphores,
read/write locks and elections are written over, once, in :mod:`coordkit.recipes`.

A *queue* is the set of contenders directly under a path (the recipe's name), in the order
they joined. A *contender* is an ephemeral entry of one session: it goes when the session
ends, at once on close, else when the server expires the session. Every backend meets the
same semantics, whatever its wire layout (etcdctl's ``<path>/<lease hex>`` keys on etcd,
Curator's ``<path>/_c_<uuid>-lock-<seq>`` nodes on ZooKeeper):

Join (:meth:`ContenderQueue.queue_join`)
    Adds the session's contender and returns the queue as it stands, so a joiner learns
    whether it is the head in the same round trip (etcd: one transaction, as etcd's
    ``concurrency.Mutex``; ZooKeeper: the create and the children read pipelined on one
    session, which ZooKeeper executes in order). The contender's ``create_revision`` is its
    fencing token: it grows with every contender. Without ``unique`` a session has at most
    one contender per path: a join without ``attempt`` adopts the session's contender if it
    has one; a join with a new ``attempt`` replaces one left behind by an earlier attempt (a
    removal still pending) with a new contender at the back, with a new token, which the
    pending removal of the old one cannot remove. With ``unique``, each join adds a contender.
    A join repeated with the same ``attempt`` (after BackendUnavailableError: it may have
    been applied) finds the contender that attempt created instead of adding a second one,
    if it made it in the current session: one made in a session since replaced is never
    adopted (it goes with that session), the repeat joins afresh behind it.

Wait (:meth:`ContenderQueue.wait_gone`, :meth:`ContenderQueue.wait_any_gone`)
    Waits for one given contender, the one ahead, to go: a departure wakes the one waiter
    behind it, not the herd. With ``create_revision`` the contender is that incarnation: a
    key deleted and created again counts as gone. A semaphore waiter waits for any of the
    few it watches, and only those are watched.

Leave (:meth:`ContenderQueue.queue_leave`)
    Removes the contender if it is still that incarnation; idempotent, so safe to retry.

Guarded commit
    ``commit([Check(mine.key, create_revision=mine.create_revision), ...])`` applies only
    while the contender exists (the fence of ``client.put(..., fence=lock)``).
    :meth:`ContenderQueue.queue_update` is the guarded write of the contender's own value
    (an election's proclamation): only while it is the very entry known, same incarnation
    and version.

Bounds and failures: every call waits at most the operation timeout, or ``timeout`` if
shorter (a caller's deadline), then raises BackendUnavailableError, after which a join or a
leave may or may not have happened. A join or an update on a session that has ended raises
SessionLostError. Contender keys are reported relative to the namespace root, without a
leading slash, and ``get(key)`` reads them; paths come canonical from the recipes
(:func:`coordkit.names.recipe_name`).
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["Contender", "ContenderQueue", "QueueView"]


@dataclass(frozen=True)
class Contender:
    """One entry of a contender queue (the waiters of a lock, semaphore or election).

    ``sequence`` orders the queue (etcd: create revision; ZooKeeper: the node's sequence
    number). ``create_revision`` is the fencing token. ``value`` and ``create_revision``
    may be empty/0 for *other* contenders when listed without values on ZooKeeper.
    """

    key: str
    sequence: int
    create_revision: int = 0
    value: bytes = b""
    version: int = 1


class QueueView(NamedTuple):
    """The queue as seen by one contender: its own entry and every contender in order."""

    mine: Contender
    contenders: list[Contender]
    revision: int

    @property
    def position(self) -> int:
        """0 for the head; -1 if ``mine`` is no longer in the queue."""
        for index, contender in enumerate(self.contenders):
            if contender.key == self.mine.key:
                return index
        return -1


class ContenderQueue(abc.ABC):
    """The contender-queue calls every backend provides (the contract is the module docstring)."""

    @abc.abstractmethod
    def queue_join(
        self,
        path: str,
        value: bytes,
        *,
        unique: bool = False,
        attempt: str | None = None,
        timeout: float | None = None,
    ) -> QueueView:
        """Add this session's contender under ``path`` holding ``value`` and return the queue.
        ``attempt`` is an id (32 hex) the caller keeps across retries of one join."""

    @abc.abstractmethod
    def queue_list(
        self, path: str, *, values: bool = False, timeout: float | None = None
    ) -> tuple[list[Contender], int]:
        """Every contender under ``path`` in queue order, and the revision read at. With
        ``values``, each contender's value, version and create revision are filled in."""

    @abc.abstractmethod
    def queue_update(self, mine: Contender, value: bytes) -> Contender:
        """Replace our contender's value while it is exactly ``mine`` (same incarnation and
        version); returns it updated. Raises VersionConflictError otherwise (also once gone)."""

    @abc.abstractmethod
    def queue_leave(self, mine: Contender, *, timeout: float | None = None) -> None:
        """Remove our contender if it is still that incarnation; nothing if it is gone."""

    @abc.abstractmethod
    def wait_gone(
        self, key: str, timeout: float | None, wake: threading.Event, *, create_revision: int = 0
    ) -> bool:
        """True once the contender ``key`` (that incarnation, with ``create_revision``) is gone.
        False once ``timeout`` passed, or when ``wake`` was set by somebody else (e.g. a session
        listener); a departure sets ``wake`` too."""

    def wait_gone_since(
        self,
        key: str,
        timeout: float | None,
        wake: threading.Event,
        *,
        create_revision: int = 0,
        since_revision: int = 0,
    ) -> bool:
        """:meth:`wait_gone` for a contender present in a queue read at ``since_revision``
        (0: unknown). A backend that can watch from a revision starts there (a departure after
        that read is not missed, and no read is needed); others ignore it. May also return
        False when its watch broke: the caller re-reads the queue, as after ``wake``."""
        return self.wait_gone(key, timeout, wake, create_revision=create_revision)

    @abc.abstractmethod
    def wait_any_gone(
        self,
        ahead: Sequence[Contender],
        timeout: float | None,
        wake: threading.Event,
        *,
        since_revision: int = 0,
    ) -> set[str]:
        """:meth:`wait_gone_since` for several contenders at once (a semaphore waiter's window,
        listed in a queue read at ``since_revision``): the keys of those found gone (each that
        incarnation, when its ``create_revision`` is known), once one is, a departure setting
        ``wake``; only those contenders are watched, so that a departure reaches nobody else.
        Empty once ``timeout`` passed, ``wake`` was set by somebody else, or the watch broke:
        the caller re-reads the queue."""
