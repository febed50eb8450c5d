"""The async distributed lock: ``async with client.lock("x"):``, with a fencing token.

The wire layout is the sync :class:`coordkit.Lock`'s (the contender queue of the backend,
with the same policy and value), so sync and async contenders of one name queue together.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from ..backends.contender_queue import Contender
from ..errors import OwnershipError
from ..recipes._policy import LOCK
from ..recipes.lock import _identity
from .contention import AsyncContention, LostCallback

if TYPE_CHECKING:
    import asyncio

    from .store import AsyncStore

__all__ = ["AsyncAcquirable", "AsyncHeld", "AsyncLock"]

A = TypeVar("A", bound="AsyncAcquirable")


class AsyncHeld:
    """What async locks and leaderships share: name, key, token, loss, fencing."""

    _contention: AsyncContention

    @property
    def name(self) -> str:
        """The canonical name (as the sync handle's)."""
        return self._contention.path

    @property
    def is_held(self) -> bool:
        """True while held and the session is not known to be in doubt (checked now)."""
        return self._contention.held_now

    @property
    def key(self) -> str | None:
        mine = self._contention.mine
        return None if mine is None else mine.key

    @property
    def token(self) -> int | None:
        """The fencing token while held (see :attr:`coordkit.Lock.token`)."""
        mine = self._contention.mine
        return mine.create_revision if mine is not None and self._contention.held_now else None

    @property
    def lost(self) -> asyncio.Event:
        """Set when ownership is lost while held; cleared by the next acquisition."""
        return self._contention.lost

    def on_lost(self, callback: LostCallback) -> None:
        """Call ``callback(reason)`` on the loop whenever ownership is lost while held."""
        self._contention.on_lost(callback)

    async def contenders(self) -> list[Contender]:
        """Every contender queued on this name now, in order (one read)."""
        contention = self._contention
        contention.client._check()
        return (await contention.client._ops.queue_list(contention.path))[0]

    def fence_refused(self, token: int) -> None:
        """Told by a fenced write that the store no longer has the contender of the holding
        under ``token``: that holding ends (``lost`` set, callbacks run) at once on the loop, or
        as soon as the loop runs when told on another thread (``AsyncClient.sync``)."""
        self._contention.contender_gone(token)

    def fence_check(self) -> tuple[str, int]:
        """``(contender key, token)`` for ``client.put(..., fence=lock)``; OwnershipError if not held."""
        mine = self._contention.mine
        if mine is None or not self._contention.held_now:
            raise OwnershipError(f"{self._contention.what} {self.name} is not held: cannot fence with it")
        return mine.key, mine.create_revision


class AsyncAcquirable(AsyncHeld):
    """``async with handle:``: acquire (OwnershipError if it cannot) and release, also when
    the body is cancelled; a loss during the body is raised on exit unless the body raised."""

    _value: bytes

    async def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        """Wait until admitted. False if not ``blocking`` and not admitted at once, or once
        ``timeout`` passed; the contender is then removed (also when the caller is cancelled,
        or an ``asyncio.timeout()`` around it expires)."""
        return await self._contention.enter(self._value, blocking=blocking, timeout=timeout)

    async def release(self) -> None:
        """Give the place up; OwnershipError if not held, or if it had been lost meanwhile
        (the contender is removed all the same)."""
        await self._contention.leave()

    async def __aenter__(self: A) -> A:
        if not await self.acquire():
            raise OwnershipError(f"could not acquire {self._contention.what} {self.name}")
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            await self.release()
        except OwnershipError:
            if exc_type is None:
                raise  # the body finished, but not under the lock for all of its run


class AsyncLock(AsyncAcquirable):
    """A fair (first come, first served) distributed mutex owned by the client's session.

    ``await lock.acquire(timeout=)`` means what ``threading.Lock.acquire()`` means; ``async
    with lock:`` acquires (OwnershipError if it cannot) and releases, also when the body is
    cancelled. Ownership ends when the session is SUSPENDED (unless
    ``lose_on_suspend=False``) or LOST: see :attr:`lost`.
    """

    def __init__(
        self, client: AsyncStore, name: str, *, identity: str | None = None, lose_on_suspend: bool = True
    ) -> None:
        self._value = _identity(identity)
        self._contention = AsyncContention(client, name, LOCK, lose_on_suspend=lose_on_suspend)

    def __repr__(self) -> str:
        return f"<coordkit.aio.AsyncLock {self.name} held={self.is_held} token={self.token}>"
