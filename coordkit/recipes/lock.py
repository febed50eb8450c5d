"""Distributed locks and semaphores with fencing tokens.

Wire layouts (so that other tools share them): on etcd, the layout of etcd's Go
``concurrency.Mutex`` (what ``etcdctl lock`` uses): contender ``<name>/<lease id hex>``,
empty value, the holder being the key with the lowest create revision. On ZooKeeper,
Apache Curator's ``InterProcessMutex``: ephemeral-sequential ``<name>/_c_<uuid>-lock-<seq>``
holding the identity, ordered by sequence, kazoo's ``__lock__`` nodes included. kazoo's own
``Lock`` sees coordkit's contenders only when made with ``extra_lock_patterns=["-lock-"]``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from ..errors import ConfigurationError, OwnershipError
from ._queue import Contention, LostCallback

if TYPE_CHECKING:
    from ..client import Client

__all__ = ["Lock", "Semaphore"]


class _Held:
    """What locks and semaphores share: loss notification, token, context manager."""

    _contention: Contention

    @property
    def name(self) -> str:
        return self._contention.path

    @property
    def is_held(self) -> bool:
        """True while held and the session is not known to be in doubt."""
        return self._contention.held

    @property
    def key(self) -> str | None:
        """The contender key (while acquired), e.g. ``mylock/694d7d1f4d5c6a05`` on etcd."""
        mine = self._contention.mine
        return None if mine is None else mine.key

    @property
    def token(self) -> int | None:
        """The fencing token while held: strictly greater for every later holder of this
        name for the life of the cluster (etcd create revision, ZooKeeper czxid). Pass it to
        the resources you write to, so they can refuse a stale holder."""
        mine = self._contention.mine
        return mine.create_revision if mine is not None and self._contention.held else None

    @property
    def lost(self) -> threading.Event:
        """Set when ownership is lost while held (session SUSPENDED or LOST); cleared by
        the next successful acquire. Wait on it to stop work that needs the lock."""
        return self._contention.lost

    def on_lost(self, callback: LostCallback) -> None:
        """Call ``callback(reason)`` whenever ownership is lost while held (on the session's
        dispatcher thread: do not block in it)."""
        self._contention.on_lost(callback)

    def fence_check(self) -> tuple[str, int]:
        """``(contender key, token)`` for a guarded write; raises OwnershipError if not held."""
        mine = self._contention.mine
        if mine is None or not self._contention.held:
            raise OwnershipError(f"{self._contention.what} {self.name} is not held: cannot fence with it")
        return mine.key, mine.create_revision


class Lock(_Held):
    """A fair (first come, first served) distributed mutex owned by the client's session.

    ``acquire()`` means what ``threading.Lock.acquire()`` means. ``with lock:`` acquires
    (raising if it cannot) and releases. Ownership is lost when the session is SUSPENDED
    (unless ``lose_on_suspend=False``) or LOST: see :attr:`lost` and :meth:`on_lost`.
    """

    def __init__(self, client: Client, name: str, *, identity: str | None = None,
                 lose_on_suspend: bool = True) -> None:
        self._client = client
        self._identity = (identity or "").encode("utf-8")
        self._contention = Contention(client, name, what="lock", lose_on_suspend=lose_on_suspend,
                                      guard=client._local_guard(("lock", name)))

    def __repr__(self) -> str:
        return f"<coordkit.Lock {self.name} held={self.is_held} token={self.token}>"

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Wait until this handle holds the lock. Returns False if not ``blocking`` and the
        lock is taken, or if ``timeout`` seconds passed; the contender is then removed.

        While the session is SUSPENDED a waiter keeps its place and waits; after LOST it
        joins again. Raises BackendUnavailableError if the store cannot be reached to join.
        """
        return self._contention.enter(self._identity, blocking=blocking, timeout=timeout)

    def release(self) -> None:
        """Release the lock. Raises OwnershipError if it was not held, or if it had been
        lost meanwhile (saying when and why; the contender is removed all the same)."""
        self._contention.leave()

    def __enter__(self) -> Lock:
        if not self.acquire():
            raise OwnershipError(f"could not acquire lock {self.name}")
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            self.release()
        except OwnershipError:
            if exc_type is None:
                raise  # the body finished, but not under the lock for all of its run


class Semaphore(_Held):
    """At most ``limit`` holders at a time, admitted first come, first served.

    A client may take several slots through several handles. Layout: contenders
    ``<name>/<lease id hex>-<uuid>`` on etcd, Curator-style lock nodes on ZooKeeper.
    """

    def __init__(self, client: Client, name: str, limit: int, *, identity: str | None = None,
                 lose_on_suspend: bool = True) -> None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ConfigurationError(f"semaphore limit must be a positive int, not {limit!r}")
        self.limit = limit
        self._identity = (identity or "").encode("utf-8")
        self._contention = Contention(client, name, what="semaphore", lose_on_suspend=lose_on_suspend,
                                      unique=True, slots=limit)

    def __repr__(self) -> str:
        return f"<coordkit.Semaphore {self.name} limit={self.limit} held={self.is_held}>"

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take a slot; the meaning of ``threading.Semaphore.acquire``."""
        return self._contention.enter(self._identity, blocking=blocking, timeout=timeout)

    def release(self) -> None:
        """Give the slot back; raises OwnershipError as :meth:`Lock.release` does."""
        self._contention.leave()

    def __enter__(self) -> Semaphore:
        if not self.acquire():
            raise OwnershipError(f"could not acquire semaphore {self.name}")
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            self.release()
        except OwnershipError:
            if exc_type is None:
                raise
