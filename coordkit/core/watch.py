"""User-facing watch handles: a callback watch, or an iterator of events."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator

from ..backends.base import Watch, WatchEvent

__all__ = ["WatchHandle"]

_STOP = object()


class WatchHandle:
    """A running watch on a key or subtree.

    Iterate over it to receive :class:`~coordkit.WatchEvent` objects in store order
    (when no callback was given), or let the callback receive them. ``cancel()`` (or
    leaving the ``with`` block) stops it; iteration then ends. Closing its client ends it
    the same way; a reconnect or a new session does not (see ``Store.watch``).
    """

    def __init__(
        self,
        start: Callable[[Callable[[WatchEvent], None]], Watch],
        callback: Callable[[WatchEvent], None] | None,
    ) -> None:
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._cancelled = threading.Event()
        self._watch = start(callback if callback is not None else self._queue.put)

    def __enter__(self) -> WatchHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()

    def cancel(self) -> None:
        """Stop the watch. Idempotent; no callback runs after it returns (unless it is
        called from inside the callback)."""
        if not self._cancelled.is_set():
            self._cancelled.set()
            self._watch.cancel()
            self._queue.put(_STOP)

    def end(self) -> None:
        """The client was closed, and its backend has stopped the watch: end iteration and
        ``get()`` as :meth:`cancel` does, without waiting for anything."""
        if not self._cancelled.is_set():
            self._cancelled.set()
            self._queue.put(_STOP)

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def get(self, timeout: float | None = None) -> WatchEvent | None:
        """The next event, or None if ``timeout`` passed or the watch was cancelled. A
        timeout longer than a thread can wait (threading.TIMEOUT_MAX) waits for ever."""
        if timeout is not None and timeout >= threading.TIMEOUT_MAX:
            timeout = None
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            item = self._queue.get(timeout=remaining)
        except queue.Empty:
            return None
        if item is _STOP:
            self._queue.put(_STOP)  # later get() calls end too
            return None
        assert isinstance(item, WatchEvent)
        return item

    def __iter__(self) -> Iterator[WatchEvent]:
        while (event := self.get()) is not None:
            yield event
