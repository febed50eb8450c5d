"""An async semaphore waiter's wait for its window (see :mod:`coordkit.recipes._departures`,
shared with the sync recipe): one ``wait_gone`` per contender watched, all at once, until
one of them is gone or the session wakes the waiter."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..backends.contender_queue import Contender

if TYPE_CHECKING:
    from ..backends.async_ops import AsyncOps

__all__ = ["wait_any_gone"]


async def wait_any_gone(
    ops: AsyncOps, window: Sequence[Contender], wake: asyncio.Event, since_revision: int
) -> set[str]:
    """The keys of the contenders in ``window`` found gone, once one is; empty once ``wake``
    is set by somebody else (a session change), and at once for an empty window. What the
    backend raises propagates; every wait still under way is cancelled (its watch stopped)
    before this returns or raises."""
    if not window:
        return set()
    told = asyncio.Event()  # set by a departure; ``wake`` stays the session's

    async def gone(contender: Contender) -> str | None:
        if await ops.wait_gone(contender.key, contender.create_revision, told, since_revision):
            told.set()  # found gone when armed: end the others' waits too
            return contender.key
        return None

    waits = [asyncio.ensure_future(gone(contender)) for contender in window]
    woken = asyncio.ensure_future(wake.wait())
    try:
        await asyncio.wait([*waits, woken], return_when=asyncio.FIRST_COMPLETED)
        return {key for wait in waits if wait.done() and (key := wait.result()) is not None}
    finally:
        for task in (*waits, woken):
            task.cancel()
        await asyncio.gather(*waits, woken, return_exceptions=True)  # their watches stopped
