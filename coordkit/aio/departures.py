"""The prefix watch of an async semaphore waiter: holders leave in any order, so any
departure ahead may admit it. Started before the join (as the sync recipe's), so that none
slips between; its events are counted by the sync recipe's :class:`~coordkit.recipes._departures.Departures`,
which wakes the waiter on the loop only once fewer than the limit remain ahead of it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..backends.base import Watch, WatchEvent
from ..errors import BackendUnavailableError
from ..recipes._departures import Departures
from .store import _cancel_started

if TYPE_CHECKING:
    from .store import AsyncStore

__all__ = ["watch_departures"]

log = logging.getLogger("coordkit.aio.contention")
_FIRST_PAUSE, _LAST_PAUSE = 0.02, 0.5  # seconds between tries while the store is unreachable


def counted_departures(loop: asyncio.AbstractEventLoop, wake: asyncio.Event, slots: int) -> Departures:
    """A count of the departures ahead that sets ``wake`` on ``loop`` when the waiter may enter."""

    def notify() -> None:  # on the watch's thread
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
            loop.call_soon_threadsafe(wake.set)

    return Departures(notify, slots)


async def watch_departures(
    client: AsyncStore,
    path: str,
    on_event: Callable[[WatchEvent], None],
    what: str,
    connected: Callable[[], Awaitable[None]],
) -> Watch:
    """A watch of the queue under ``path`` calling ``on_event`` (on the watch's thread).
    Retried (after ``connected()``) while the store is unreachable; a cancellation during the
    start stops the watch once it is in place."""
    pause = _FIRST_PAUSE

    while True:
        starting = client._spawn(client._ops.watch(path, on_event, prefix=True))
        try:
            return await asyncio.shield(starting)
        except asyncio.CancelledError:
            starting.add_done_callback(_cancel_started)
            raise
        except BackendUnavailableError as exc:
            log.info("coordkit %s %s: cannot watch the queue (%s)", what, path, exc)
            await asyncio.sleep(pause)  # back-off; the caller's deadline bounds the retries
            pause = min(pause * 2, _LAST_PAUSE)
            await connected()
