"""The ownership surface shared by locks, semaphores and elections."""

from __future__ import annotations

import threading
from typing import Any

from ..backends.contender_queue import Contender
from ..errors import OwnershipError
from ._contention import Contention, LostCallback

__all__ = ["Acquirable", "Held"]


class Held:
    """What every handle on a contender queue shares: name, key, token, loss, fencing."""

    _contention: Contention

    @property
    def name(self) -> str:
        """The canonical name, without a leading slash: ``orders/42`` for ``orders/42`` and
        ``/orders/42`` alike (one recipe whatever the spelling, on every backend)."""
        return self._contention.path

    @property
    def is_held(self) -> bool:
        """True while held and the session is not known to be in doubt (checked against the
        session's state now, not only when its listeners have run)."""
        return self._contention.held_now

    @property
    def key(self) -> str | None:
        """The contender key (while acquired), relative to the namespace root on every backend:
        ``mylock/694d7d1f4d5c6a05`` on etcd, ``mylock/_c_<uuid>-lock-0000000007`` on ZooKeeper;
        ``client.get(key)`` reads it."""
        mine = self._contention.mine
        return None if mine is None else mine.key

    @property
    def token(self) -> int | None:
        """The fencing token while held: strictly greater for every later holder of this
        name for the life of the cluster (etcd create revision, ZooKeeper czxid). Pass it to
        the resources you write to, so they can refuse a stale holder."""
        mine = self._contention.mine
        return mine.create_revision if mine is not None and self._contention.held_now else None

    @property
    def lost(self) -> threading.Event:
        """Set when ownership is lost while held (session SUSPENDED or LOST); cleared by
        the next successful acquire. Wait on it to stop work that needs the lock."""
        return self._contention.lost

    def on_lost(self, callback: LostCallback) -> None:
        """Call ``callback(reason)`` whenever ownership is lost while held (on the session's
        dispatcher thread: do not block in it)."""
        self._contention.on_lost(callback)

    def contenders(self) -> list[Contender]:
        """Every contender queued on this name now, in order: the first holds the lock (or
        leads); keys are relative to the namespace root, as :attr:`key` is. One read of this
        recipe's own queue, whatever the name's spelling; raises BackendUnavailableError if
        no server answers within the operation timeout."""
        contention = self._contention
        return contention.client.backend.queue_list(contention.path)[0]

    def fence_check(self) -> tuple[str, int]:
        """``(contender key, token)`` for a guarded write; raises OwnershipError if not held."""
        mine = self._contention.mine
        if mine is None or not self._contention.held_now:
            raise OwnershipError(f"{self._contention.what} {self.name} is not held: cannot fence with it")
        return mine.key, mine.create_revision

    def fence_refused(self, token: int) -> None:
        """Told by a guarded write that the store no longer has the contender of the holding
        under ``token``: that holding is over whatever the session says, so it ends now
        (``lost`` set, callbacks run). A later holding of this handle (another token) is kept."""
        self._contention.contender_gone(token)


class Acquirable(Held):
    """``with handle:`` for locks and semaphores: acquire (raising OwnershipError if it
    cannot) and release; a loss during the body is raised on exit unless the body raised."""

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Any:
        if not self.acquire():
            raise OwnershipError(f"could not acquire {self._contention.what} {self.name}")
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            self.release()
        except OwnershipError:
            if exc_type is None:
                raise  # the body finished, but not under the lock for all of its run
