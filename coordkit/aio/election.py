"""The async leader election: ``async with election.leadership(p):``, campaign/resign,
``observe()`` as an async iterator. Same wire layout as the sync :class:`coordkit.Election`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from ..core.durations import wait_seconds
from ..errors import ConfigurationError, ConflictError, OwnershipError
from ..recipes._policy import LEADERSHIP
from ..recipes.election import Leader, _leader_of, _proposal
from .contention import AsyncContention
from .lock import AsyncHeld

if TYPE_CHECKING:
    from .store import AsyncStore

__all__ = ["AsyncElection"]


class AsyncElection(AsyncHeld):
    """Campaign for leadership of ``name``; observe who leads. ``campaign()`` means what
    ``threading.Lock.acquire(timeout=...)`` means; a cancelled campaign withdraws."""

    def __init__(
        self, client: AsyncStore, name: str, *, identity: str | None = None, lose_on_suspend: bool = True
    ) -> None:
        self._client = client
        self.identity = identity
        self._contention = AsyncContention(client, name, LEADERSHIP, lose_on_suspend=lose_on_suspend)

    def __repr__(self) -> str:
        return f"<coordkit.aio.AsyncElection {self.name} leader={self.is_leader}>"

    @property
    def is_leader(self) -> bool:
        return self.is_held

    async def campaign(self, proposal: str, timeout: float | None = None) -> bool:
        """Become a candidate and wait until elected; False once ``timeout`` passed (the
        candidacy is then withdrawn, as it is when the caller is cancelled)."""
        return await self._contention.enter(_proposal(proposal), blocking=True, timeout=timeout)

    async def resign(self) -> None:
        """Give up leadership or candidacy; OwnershipError if it had been lost meanwhile."""
        await self._contention.leave()

    async def proclaim(self, proposal: str) -> None:
        """Change the leader's value; OwnershipError if not (or no longer) the leader."""
        value = _proposal(proposal)
        contention = self._contention
        mine = contention.mine
        if mine is None or not contention.held_now:
            raise OwnershipError(f"cannot proclaim: not the leader of {self.name}")
        try:
            contention.mine = await self._client._ops.queue_update(mine, value)
        except ConflictError:
            raise OwnershipError(f"cannot proclaim: the candidate key of {self.name} is gone") from None

    async def leader(self) -> Leader | None:
        """The current leader, or None when nobody leads (one read)."""
        self._client._check()
        contenders, _ = await self._client._ops.queue_list(self.name, values=True)
        return _leader_of(contenders)

    async def observe(self, timeout: float | None = None) -> AsyncIterator[Leader]:
        """Yield the current leader, then every change of leader or of its proclaimed value,
        in order; periods without a leader are skipped. Ends after ``timeout`` seconds
        without a change (never, by default) or when the iterator is closed."""
        seconds = wait_seconds(timeout)
        if seconds is not None and seconds < 0:
            raise ConfigurationError(f"observe() timeout must be >= 0 or None, not {timeout!r}")
        last: Leader | None = None
        async with await self._client.watch(self.name, recursive=True) as changes:
            while True:
                current = await self.leader()
                if current is not None and current != last:
                    last = current
                    yield current
                if await changes.get(seconds) is None:
                    return
                while not changes._events.empty():  # coalesce a burst into one re-read
                    await changes.get(0)

    @contextlib.asynccontextmanager
    async def leadership(self, proposal: str, timeout: float | None = None) -> AsyncIterator[AsyncElection]:
        """``async with election.leadership("me"):`` runs the body as leader and resigns
        after (also when the body is cancelled). OwnershipError if not elected in time."""
        if not await self.campaign(proposal, timeout=timeout):
            raise OwnershipError(f"not elected leader of {self.name} within {timeout}s")
        try:
            yield self
        except BaseException:
            with contextlib.suppress(OwnershipError):
                await self.resign()
            raise
        await self.resign()
