"""The prefix watch of an async semaphore waiter: holders leave in any order, so any
departure ahead may admit it. Started before the join (as the sync recipe's), so that none
slips between; every deletion wakes the waiter, which then reads the queue again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..backends.base import EventType, Watch, WatchEvent
from ..errors import BackendUnavailableError
from .store import _cancel_started

if TYPE_CHECKING:
    from .store import AsyncStore

__all__ = ["watch_departures"]

log = logging.getLogger("coordkit.aio.contention")
_FIRST_PAUSE, _LAST_PAUSE = 0.02, 0.5  # seconds between tries while the store is unreachable


async def watch_departures(
    client: AsyncStore, path: str, wake: asyncio.Event, what: str, connected: Callable[[], Awaitable[None]]
) -> Watch:
    """A watch of the queue under ``path`` that sets ``wake`` on the loop at each deletion.
    Retried (after ``connected()``) while the store is unreachable; a cancellation during the
    start stops the watch once it is in place."""
    loop, pause = client.loop, _FIRST_PAUSE

    def on_event(event: WatchEvent) -> None:  # on the watch's thread
        if event.type is EventType.DELETE:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(wake.set)

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
