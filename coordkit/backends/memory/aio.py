"""The memory backend's async calls: in-process and never blocking on I/O (a short lock of
the shared store), so they run inline on the loop rather than on a call thread. Waits use the
default watch-based :meth:`~coordkit.backends.aio.AsyncOps.wait_gone`."""

from __future__ import annotations

from collections.abc import Sequence

from ..async_ops import AsyncOps
from ..base import Entry, Op, Put
from ..contender_queue import Contender, QueueView

__all__ = ["MemoryAsyncOps"]


class MemoryAsyncOps(AsyncOps):
    """Every key and queue call made inline on the loop (raises as the sync call does)."""

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

    async def queue_list(self, path: str, *, values: bool = False) -> tuple[list[Contender], int]:
        return self.backend.queue_list(path, values=values)

    async def queue_leave(self, mine: Contender, timeout: float | None = None) -> None:
        self.backend.queue_leave(mine, timeout=timeout)

    async def queue_update(self, mine: Contender, value: bytes) -> Contender:
        return self.backend.queue_update(mine, value)
