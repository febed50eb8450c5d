"""The async semaphore and read/write lock: ``async with client.semaphore("x", 3):`` and
``async with rw.read:`` / ``async with rw.write:``.

Wire layouts are the sync :class:`coordkit.Semaphore`'s and :class:`coordkit.RWLock`'s (the
same policies and contender values from :mod:`coordkit.recipes`), so sync and async
contenders of one name queue together and admit each other by the same rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigurationError
from ..recipes._policy import READ, WRITE, semaphore
from ..recipes.lock import _identity
from .contention import AsyncContention
from .lock import AsyncAcquirable

if TYPE_CHECKING:
    from .store import AsyncStore

__all__ = ["AsyncRWLock", "AsyncSemaphore"]


class AsyncSemaphore(AsyncAcquirable):
    """At most ``limit`` holders at a time, admitted first come, first served (see
    :class:`coordkit.Semaphore`); a client may take several slots through several handles."""

    def __init__(
        self,
        client: AsyncStore,
        name: str,
        limit: int,
        *,
        identity: str | None = None,
        lose_on_suspend: bool = True,
    ) -> None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ConfigurationError(f"semaphore limit must be a positive int, not {limit!r}")
        self.limit = limit
        self._value = _identity(identity)
        self._contention = AsyncContention(client, name, semaphore(limit), lose_on_suspend=lose_on_suspend)

    def __repr__(self) -> str:
        return f"<coordkit.aio.AsyncSemaphore {self.name} limit={self.limit} held={self.is_held}>"


class _AsyncSide(AsyncAcquirable):
    """The read or the write side of an :class:`AsyncRWLock`."""

    def __init__(
        self, client: AsyncStore, name: str, mode: str, identity: bytes, lose_on_suspend: bool
    ) -> None:
        self.mode = mode
        self._value = f"{mode}:".encode() + identity
        policy = READ if mode == "read" else WRITE
        self._contention = AsyncContention(client, name, policy, lose_on_suspend=lose_on_suspend)

    def __repr__(self) -> str:
        return f"<coordkit.aio.AsyncRWLock {self.mode} side of {self.name} held={self.is_held}>"


class AsyncRWLock:
    """A fair read/write lock: ``async with rw.read:`` shares, ``async with rw.write:``
    excludes (see :class:`coordkit.RWLock`: one queue, a reader waits only for the nearest
    writer ahead of it, a writer for the contender right ahead)."""

    def __init__(
        self, client: AsyncStore, name: str, *, identity: str | None = None, lose_on_suspend: bool = True
    ) -> None:
        ident = _identity(identity)
        self.read = _AsyncSide(client, name, "read", ident, lose_on_suspend)
        self.write = _AsyncSide(client, name, "write", ident, lose_on_suspend)

    def __repr__(self) -> str:
        return f"<coordkit.aio.AsyncRWLock {self.read.name}>"
