"""The memory backend's async calls: in-process and never blocking on I/O (a short lock of
the shared store), so they run inline on the loop rather than on a call thread. A departure
wait is an entry in the store's list of watches that the writer (whatever its thread) hands
to the loop: no thread per waiter, where a :class:`~.store.MemoryWatch` has one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from ..async_ops import AsyncOps, Spawn, Started
from ..base import Entry, EventType, Op, Put, WatchEvent
from ..contender_queue import Contender, QueueView
from .backend import MemoryBackend
from .store import MemoryWatch

__all__ = ["MemoryAsyncOps"]


class _Departure(MemoryWatch):
    """A watch of one contender key without a thread: ``offer`` (called by the writer, under
    the store's lock) schedules the wake-up on the loop."""

    def __init__(self, key: str, create_revision: int, loop: asyncio.AbstractEventLoop, wake: asyncio.Event):
        # No super().__init__(): that starts the thread this class exists to avoid.
        self.key, self.prefix = key, False
        self._create_revision, self._loop, self._wake = create_revision, loop, wake
        self.gone = False

    def offer(self, event: WatchEvent) -> None:
        entry = event.entry
        cr = self._create_revision
        if event.type is EventType.DELETE or (cr and entry is not None and entry.create_revision != cr):
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                self._loop.call_soon_threadsafe(self._departed)

    def _departed(self) -> None:
        self.gone = True
        self._wake.set()

    def cancel(self) -> None:
        pass  # removed from the store by the waiter itself


class MemoryAsyncOps(AsyncOps):
    """Every key and queue call made inline on the loop (raises as the sync call does)."""

    backend: MemoryBackend

    async def wait_gone(
        self, key: str, create_revision: int, wake: asyncio.Event, since_revision: int = 0
    ) -> bool:
        backend = self.backend
        departure = _Departure(backend._keys.to_key(key), create_revision, self.loop, wake)
        with backend.store._lock:  # in place before the read below: no departure slips between
            backend.store._watches.append(departure)
        try:
            current = backend.get(key)
            if current is None or (create_revision and current.create_revision != create_revision):
                return True
            await wake.wait()
            return departure.gone
        finally:
            backend.store.remove_watch(departure)

    async def get(self, key: str, timeout: float | None = None) -> Entry | None:
        return self.backend.get(key)

    async def put(self, op: Put) -> Entry:
        return self.backend.put(op)

    async def delete(self, key: str, *, version: int | None, recursive: bool) -> bool:
        return self.backend.delete(key, version=version, recursive=recursive)

    async def children(self, path: str, timeout: float | None = None) -> list[str]:
        return self.backend.children(path)

    async def tree(self, path: str) -> tuple[list[Entry], int]:
        return self.backend.tree(path)

    async def commit(self, ops: Sequence[Op]) -> list[Entry | None]:
        return self.backend.commit(ops)

    async def queue_join(
        self, path: str, value: bytes, *, unique: bool, attempt: str, timeout: float | None
    ) -> QueueView:
        return self.backend.queue_join(path, value, unique=unique, attempt=attempt, timeout=timeout)

    def start_queue_join(
        self,
        path: str,
        value: bytes,
        *,
        unique: bool,
        attempt: str,
        spawn: Spawn,
    ) -> Started[QueueView]:
        """Joined here and now: the answer is a finished future, so awaiting it never suspends
        and no cancellation can come between the join and its awaiter."""
        answer: asyncio.Future[QueueView] = self.loop.create_future()
        try:
            answer.set_result(
                self.backend.queue_join(path, value, unique=unique, attempt=attempt, timeout=None)
            )
        except Exception as exc:  # noqa: BLE001 - handed to the awaiter, not swallowed
            answer.set_exception(exc)
        return Started(answer, lambda: answer)

    async def queue_list(self, path: str, *, values: bool = False) -> tuple[list[Contender], int]:
        return self.backend.queue_list(path, values=values)

    async def queue_leave(self, mine: Contender, timeout: float | None = None) -> None:
        self.backend.queue_leave(mine, timeout=timeout)

    async def queue_update(self, mine: Contender, value: bytes) -> Contender:
        return self.backend.queue_update(mine, value)
