"""The blocking calls of the asyncio API, on threads of coordkit's own.

Opening a session, closing one, a config's first read or its writes, a one-off discovery read:
the few steps the async API does through the sync store. Opening and closing each get a thread
of their own (:func:`blocking`); the calls a client makes while open share its few
:class:`CallThreads` (more at once queue, each bounded by the client's timeout). None runs on
the loop's default executor, which belongs to the application: were its threads all busy
(sync lock acquires handed to it, say, waiting for a holder), a close queued behind them would
wait as long, and would deadlock with them if they wait for what that close ends.

What holds on failure: the call's exception is the awaiting task's. A task cancelled before
the call starts keeps it from running; once it runs, it goes on to its end (bounded by the
store's timeouts), and ``orphaned``, if given, then receives what it returned, so that a session
opened for nobody is closed (a loop that closes cancels its tasks: the same). The threads are
not daemons: an interpreter exiting waits for the calls under way, as it would for the default
executor's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["CallThreads", "blocking"]

T = TypeVar("T")


async def blocking(call: Callable[[], T], *, name: str, orphaned: Callable[[T], None] | None = None) -> T:
    """``call()`` on a new thread (named ``name``, in a copy of the caller's context), awaited.
    If the awaiting task is cancelled before the call starts, it never runs; once it runs, it
    goes on, and ``orphaned`` receives what it returns, on a thread (never on the loop)."""
    done: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        if not done.set_running_or_notify_cancel():
            return
        try:
            done.set_result(call())
        except BaseException as exc:  # noqa: BLE001 - the awaiting task's to raise
            done.set_exception(exc)

    def adopt(finished: concurrent.futures.Future[T]) -> None:  # on a thread of its own
        if orphaned is not None and not finished.cancelled() and finished.exception() is None:
            orphaned(finished.result())

    def hand_off(finished: concurrent.futures.Future[T]) -> None:  # on the loop, or the call's thread
        threading.Thread(target=adopt, args=(finished,), name=f"{name} (orphaned)").start()

    threading.Thread(target=contextvars.copy_context().run, args=(run,), name=name).start()
    try:
        return await asyncio.wrap_future(done)
    except asyncio.CancelledError:
        if orphaned is not None:
            done.add_done_callback(hand_off)  # at once if the call is over, else when it ends
        raise


class CallThreads:
    """One client's threads for its blocking calls: at most ``limit`` at once (started when
    first needed; a call waiting for something, as a config refresh may, holds one), the others
    queued. After :meth:`close`, calls still queued run against the closed store, and raise
    its ClosedError; those under way end by their own timeouts."""

    def __init__(self, limit: int = 16) -> None:
        self._limit = limit
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    async def run(self, call: Callable[[], T]) -> T:
        """``call()`` on one of the threads, in a copy of the caller's context, awaited."""
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(self._limit, thread_name_prefix="coordkit-aio")
        in_context = functools.partial(contextvars.copy_context().run, call)
        return await asyncio.get_running_loop().run_in_executor(self._pool, in_context)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
