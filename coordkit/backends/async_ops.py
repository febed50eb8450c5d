"""The asynchronous face of a backend, for :mod:`coordkit.aio`: the same calls with the same
semantics and errors as :class:`~coordkit.backends.base.Backend`, awaited on one event loop.

:class:`AsyncOps` is what every backend provides. Its defaults run the sync backend call on
the client's small, bounded pool of call threads (a call holds a thread for its one round
trip, never while it waits for somebody else), and wait for a contender's departure with a
watch whose callback wakes the loop. Backends override what their client library can do
without a thread: kazoo's ``*_async`` requests (:mod:`.zookeeper.aio`), the gRPC futures of
the etcd stubs (:mod:`.etcd.aio`), in-process calls (:mod:`.memory.aio`); :mod:`.aio` picks
the adapter of a backend.

Threads hand results to the loop only with ``call_soon_threadsafe`` (or
``asyncio.wrap_future``), once per answer; a result arriving after its awaiter was cancelled,
or after the loop closed, is dropped.

A contender queue's join is started with :meth:`AsyncOps.start_queue_join`, whose
:class:`Started` lets the recipe await the answer and, if it is cancelled meanwhile, still get
the call's outcome to undo what it made; each adapter does that with the fewest loop turns it can.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, Protocol, TypeVar

from ..errors import ClosedError
from .base import Backend, Entry, EventType, Op, Put, Watch, WatchCallback, WatchEvent
from .contender_queue import Contender, QueueView

__all__ = ["CALL_THREADS", "AsyncOps", "Spawn", "Started"]

T = TypeVar("T")

#: Call threads per client: enough to overlap the few writes that have no native async form,
#: few enough that thousands of waiters cost no thread at all (waits never take one).
CALL_THREADS = 4


class Spawn(Protocol):
    """Starts a background task owned by the client (see ``AsyncClient._spawn``)."""

    def __call__(self, coro: Coroutine[Any, Any, T], /) -> asyncio.Task[T]: ...


class Started(Generic[T]):
    """A call under way whose end does not depend on its awaiter. ``answer`` is what the caller
    awaits: cancelling it (or the caller) does not stop the call; ``ended()`` then awaits the
    call's own outcome (its result, or what it raised), e.g. to undo what it made."""

    __slots__ = ("answer", "ended")

    def __init__(self, answer: asyncio.Future[T], ended: Callable[[], Awaitable[T]]) -> None:
        self.answer = answer
        self.ended = ended


class AsyncOps:
    """Awaitable backend calls on one event loop. Raises what the sync call raises; a
    call cancelled while in flight may still be applied (as a timed-out sync call may)."""

    def __init__(self, backend: Backend, loop: asyncio.AbstractEventLoop) -> None:
        self.backend = backend
        self.loop = loop
        self._pool = ThreadPoolExecutor(CALL_THREADS, thread_name_prefix="coordkit-aio-call")
        self._closed = False

    async def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` on the call pool (one round trip; never a wait for another party)."""
        if self._closed:
            raise ClosedError("the asyncio client is closed")
        return await asyncio.wrap_future(self._pool.submit(fn), loop=self.loop)

    async def aclose(self) -> None:
        """Stop taking calls and release what the adapter holds (on the loop); calls in
        flight on the pool finish within their own timeouts."""
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)

    # --- keys ---------------------------------------------------------------------------
    async def get(self, key: str, timeout: float | None = None) -> Entry | None:
        return await self.run(lambda: self.backend.get(key))

    async def put(self, op: Put) -> Entry:
        return await self.run(lambda: self.backend.put(op))

    async def delete(self, key: str, *, version: int | None, recursive: bool) -> bool:
        return await self.run(lambda: self.backend.delete(key, version=version, recursive=recursive))

    async def children(self, path: str, timeout: float | None = None) -> list[str]:
        return await self.run(lambda: self.backend.children(path))

    async def tree(self, path: str) -> tuple[list[Entry], int]:
        return await self.run(lambda: self.backend.tree(path))

    async def commit(self, ops: Sequence[Op]) -> list[Entry | None]:
        return await self.run(lambda: self.backend.commit(ops))

    async def watch(
        self, key: str, callback: WatchCallback, *, prefix: bool, start_revision: int | None = None
    ) -> Watch:
        """Start a backend watch (in place when this returns); ``callback`` runs on the
        watch's thread: hand events to the loop with ``call_soon_threadsafe``."""
        return await self.run(
            lambda: self.backend.watch(key, callback, prefix=prefix, start_revision=start_revision)
        )

    # --- contender queues -------------------------------------------------------------------
    async def queue_join(
        self, path: str, value: bytes, *, unique: bool, attempt: str, timeout: float | None
    ) -> QueueView:
        return await self.run(
            lambda: self.backend.queue_join(path, value, unique=unique, attempt=attempt, timeout=timeout)
        )

    def start_queue_join(
        self, path: str, value: bytes, *, unique: bool, attempt: str, spawn: Spawn
    ) -> Started[QueueView]:
        """:meth:`queue_join` (no timeout of its own) started now, as a task made by ``spawn``
        (the client's, cancelled only when it closes). The task answers the awaiter's future
        itself as soon as it has the reply, rather than through a shield (which costs two
        more loop turns), and keeps its outcome for ``ended()``. Adapters override it where
        the call can outlive its awaiter more cheaply still."""
        answer: asyncio.Future[QueueView] = self.loop.create_future()

        async def join() -> tuple[QueueView | None, Exception | None]:
            try:
                view = await self.queue_join(path, value, unique=unique, attempt=attempt, timeout=None)
            except asyncio.CancelledError:  # the client is closing
                answer.cancel()
                raise
            except Exception as exc:  # noqa: BLE001 - handed to the awaiter, and to ended()
                if not answer.done():  # else its awaiter was cancelled
                    answer.set_exception(exc)
                return None, exc
            if not answer.done():
                answer.set_result(view)
            return view, None

        task = spawn(join())
        task.add_done_callback(lambda done: answer.cancel() if done.cancelled() else None)  # before it ran

        async def ended() -> QueueView:
            view, error = await task
            if error is not None:
                raise error
            assert view is not None
            return view

        return Started(answer, ended)

    async def queue_list(self, path: str, *, values: bool = False) -> tuple[list[Contender], int]:
        return await self.run(lambda: self.backend.queue_list(path, values=values))

    async def queue_leave(self, mine: Contender, timeout: float | None = None) -> None:
        await self.run(lambda: self.backend.queue_leave(mine, timeout=timeout))

    async def queue_update(self, mine: Contender, value: bytes) -> Contender:
        return await self.run(lambda: self.backend.queue_update(mine, value))

    async def wait_gone(
        self, key: str, create_revision: int, wake: asyncio.Event, since_revision: int = 0
    ) -> bool:
        """True once contender ``key`` (that incarnation) is gone; False when ``wake`` was set
        by somebody else first (a session change). No deadline of its own: bound it with
        ``asyncio.timeout()``; cancelling it stops its watch. A departure sets ``wake``.
        ``since_revision``: the revision of the queue read that listed it (0: unknown); a
        backend that can watch from a revision starts there, others read the key first."""
        gone = asyncio.Event()

        def on_event(event: WatchEvent) -> None:
            if event.type is EventType.DELETE or (
                create_revision and event.entry is not None and event.entry.create_revision != create_revision
            ):
                with contextlib.suppress(RuntimeError):  # loop closed
                    self.loop.call_soon_threadsafe(_set_both, gone, wake)

        watch = await self.watch(key, on_event, prefix=False)
        try:
            current = await self.get(key)
            if current is None or (create_revision and current.create_revision != create_revision):
                return True
            await wake.wait()
            return gone.is_set()
        finally:
            watch.cancel_nowait()  # the callback only schedules a flag: no need to wait for it


def _set_both(gone: asyncio.Event, wake: asyncio.Event) -> None:
    gone.set()
    wake.set()
