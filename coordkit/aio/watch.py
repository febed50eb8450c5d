"""The async iterator of a watch: backend events handed from the watch's thread to the loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from ..backends.base import Watch, WatchEvent
from ..core.async_deadline import timeout_in

__all__ = ["AsyncWatch"]

_STOP = object()


class AsyncWatch:
    """A running watch: ``async for event in watch`` receives the
    :class:`~coordkit.WatchEvent` objects in store order; :meth:`cancel` (or leaving
    ``async with``) stops it and ends the iteration. Waiting for an event holds no thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, forget: Callable[[AsyncWatch], None]) -> None:
        self._loop = loop
        self._forget = forget
        self._events: asyncio.Queue[object] = asyncio.Queue()
        self._cancelled = False
        self.handle: Watch | None = None

    def deliver(self, event: WatchEvent) -> None:
        """The backend's callback, on the watch's thread."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody iterates any more
            self._loop.call_soon_threadsafe(self._events.put_nowait, event)

    def cancel(self) -> None:
        """Stop the watch; iteration ends after the events already delivered. Idempotent."""
        if self._cancelled:
            return
        self._cancelled = True
        if self.handle is not None:
            self.handle.cancel_nowait()  # deliver() only schedules: no callback to wait for
        self._events.put_nowait(_STOP)
        self._forget(self)

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    async def get(self, timeout: float | None = None) -> WatchEvent | None:
        """The next event, or None if ``timeout`` passed or the watch was cancelled."""
        try:
            async with timeout_in(timeout):
                item = await self._events.get()
        except TimeoutError:
            return None
        if item is _STOP:
            self._events.put_nowait(_STOP)  # later get() calls end too
            return None
        assert isinstance(item, WatchEvent)
        return item

    def __aiter__(self) -> AsyncIterator[WatchEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[WatchEvent]:
        while (event := await self.get()) is not None:
            yield event

    async def __aenter__(self) -> AsyncWatch:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cancel()
