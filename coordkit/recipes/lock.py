"""Distributed locks and semaphores with fencing tokens.

Wire layouts (so that other tools share them): on etcd, the layout of etcd's Go
``concurrency.Mutex`` (what ``etcdctl lock`` uses): contender ``<name>/<lease id hex>``,
empty value, the holder being the key with the lowest create revision. On ZooKeeper,
Apache Curator's ``InterProcessMutex``: ephemeral-sequential ``<name>/_c_<uuid>-lock-<seq>``
holding the identity, ordered by sequence, kazoo's ``__lock__`` nodes included. kazoo's own
``Lock`` sees coordkit's contenders only when made with ``extra_lock_patterns=["-lock-"]``.

Names are canonical (:func:`coordkit.names.recipe_name`): ``x`` and ``/x`` are one lock, under
``x/`` on etcd. Keys are reported relative to the namespace root (``x/<lease hex>``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigurationError
from ..names import recipe_name, validate_value
from ._contention import Contention
from ._handles import Acquirable
from ._policy import LOCK, READ, WRITE, semaphore

if TYPE_CHECKING:
    from ..core.store import Store

__all__ = ["Lock", "RWLock", "Semaphore"]


def _identity(identity: object) -> bytes:
    """The contender's value: who holds (ZooKeeper tools show it); empty by etcd's layout."""
    if identity is None:
        return b""
    if not isinstance(identity, str):
        raise ConfigurationError(f"identity must be a str, not {type(identity).__name__}")
    return validate_value(identity, "identity")


class Lock(Acquirable):
    """A fair (first come, first served) distributed mutex owned by the client's session.

    ``acquire()`` means what ``threading.Lock.acquire()`` means. ``with lock:`` acquires
    (raising if it cannot) and releases. Ownership is lost when the session is SUSPENDED
    (unless ``lose_on_suspend=False``) or LOST: see :attr:`lost` and :meth:`on_lost`.
    """

    def __init__(
        self, client: Store, name: str, *, identity: str | None = None, lose_on_suspend: bool = True
    ) -> None:
        self._client = client
        self._identity = _identity(identity)
        name = recipe_name(name, "lock name")  # the local guard too: one per canonical name
        self._contention = Contention(
            client, name, LOCK, lose_on_suspend=lose_on_suspend, guard=client.local_guard(name)
        )

    def __repr__(self) -> str:
        return f"<coordkit.Lock {self.name} held={self.is_held} token={self.token}>"

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Wait until this handle holds the lock. Returns False if not ``blocking`` and the
        lock is taken, or if ``timeout`` seconds passed; the contender is then removed.

        While the session is SUSPENDED a waiter keeps its place and waits; after LOST it
        joins again. An unreachable store is waited out like a taken lock: with a
        ``timeout`` the call returns False (check ``client.session.state`` to tell them
        apart) on time: each store call gets what remains of ``timeout`` (at least 0.25 s),
        never a whole operation timeout beyond it.
        """
        return self._contention.enter(self._identity, blocking=blocking, timeout=timeout)

    def release(self) -> None:
        """Release the lock. Raises OwnershipError if it was not held, or if it had been
        lost meanwhile (saying when and why; the contender is removed all the same)."""
        self._contention.leave()


class Semaphore(Acquirable):
    """At most ``limit`` holders at a time, admitted first come, first served.

    A client may take several slots through several handles. Layout: contenders
    ``<name>/<lease id hex>-<uuid>`` on etcd, Curator-style lock nodes on ZooKeeper.
    """

    def __init__(
        self,
        client: Store,
        name: str,
        limit: int,
        *,
        identity: str | None = None,
        lose_on_suspend: bool = True,
    ) -> None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ConfigurationError(f"semaphore limit must be a positive int, not {limit!r}")
        self.limit = limit
        self._identity = _identity(identity)
        self._contention = Contention(client, name, semaphore(limit), lose_on_suspend=lose_on_suspend)

    def __repr__(self) -> str:
        return f"<coordkit.Semaphore {self.name} limit={self.limit} held={self.is_held}>"

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Take a slot; the meaning of ``threading.Semaphore.acquire``."""
        return self._contention.enter(self._identity, blocking=blocking, timeout=timeout)

    def release(self) -> None:
        """Give the slot back; raises OwnershipError as :meth:`Lock.release` does."""
        self._contention.leave()


class _Side(Acquirable):
    """The read or the write side of an :class:`RWLock`."""

    def __init__(self, client: Store, name: str, mode: str, identity: bytes, lose_on_suspend: bool) -> None:
        self.mode = mode
        self._value = f"{mode}:".encode() + identity
        self._contention = Contention(
            client, name, READ if mode == "read" else WRITE, lose_on_suspend=lose_on_suspend
        )

    def __repr__(self) -> str:
        return f"<coordkit.RWLock {self.mode} side of {self.name} held={self.is_held}>"

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """As :meth:`Lock.acquire`: readers share the lock, a writer holds it alone, first
        come first served (a reader queued behind a writer waits for that writer)."""
        return self._contention.enter(self._value, blocking=blocking, timeout=timeout)

    def release(self) -> None:
        self._contention.leave()


class RWLock:
    """A fair read/write lock: ``with rw.read:`` shares, ``with rw.write:`` excludes.

    One queue under ``name``; each contender's value says ``read:`` or ``write:`` (anything
    else, e.g. a plain lock's contender, counts as a writer). A reader waits only for the
    nearest writer ahead of it and a writer for the contender right ahead: no herd. The
    token of either side fences writes like a lock's.
    """

    def __init__(
        self, client: Store, name: str, *, identity: str | None = None, lose_on_suspend: bool = True
    ) -> None:
        ident = _identity(identity)
        self.read = _Side(client, name, "read", ident, lose_on_suspend)
        self.write = _Side(client, name, "write", ident, lose_on_suspend)

    def __repr__(self) -> str:
        return f"<coordkit.RWLock {self.read.name}>"
