"""One client's turn on one recipe name, shared by its asyncio handles and its sync ones.

etcd's layout gives a session one contender per lock or election name, so every handle of
one session must take turns on a name before it queues in the store. The asyncio handles take
turns on an ``asyncio.Lock`` (first come, first served, no thread held). A recipe built by hand
on :attr:`AsyncClient.sync` takes turns on the store's threading lock of the same name
(:meth:`Store.local_guard`). :class:`NameTurn` holds both, so the two kinds of handle exclude
each other instead of sharing one contender, which would make two holders in one process.

A sync handle waits for the asyncio side by blocking its own thread. The asyncio side waits for
a sync holder by trying the threading lock again every :data:`RETRY` seconds: waiting on it
would block the loop or hold a thread that a cancellation cannot take back. Only a client that
mixes the two facades on one name ever retries, and no order is kept between the two kinds of
waiter (each kind keeps its own: the asyncio handles first come, first served).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

__all__ = ["RETRY", "NameTurn", "give_back", "on_loop"]

RETRY = 0.005  # seconds between tries of the threading lock while a sync handle holds it


class NameTurn:
    """The turn on one name: ``await acquire()``, then ``release()`` (from the loop's thread).
    A cancelled ``acquire()`` holds nothing."""

    __slots__ = ("_local", "_shared")

    def __init__(self, shared: threading.Lock) -> None:
        self._local = asyncio.Lock()
        self._shared = shared

    def locked(self) -> bool:
        """Whether a handle of either facade has the turn (a non-blocking acquire fails)."""
        return self._local.locked() or self._shared.locked()

    async def acquire(self) -> bool:
        await self._local.acquire()
        try:
            while not self._shared.acquire(blocking=False):  # a sync handle of this name has it
                await asyncio.sleep(RETRY)
        except BaseException:
            self._local.release()
            raise
        return True

    def release(self) -> None:
        self._shared.release()
        self._local.release()


def give_back(turn: asyncio.Lock | NameTurn, loop: asyncio.AbstractEventLoop) -> None:
    """Release ``turn`` from any thread (a cleanup that ran on a worker): the sync handles' part
    at once, the loop's part on the loop, or not at all if the loop is closed (nobody waits there)."""
    local = turn
    if isinstance(turn, NameTurn):
        turn._shared.release()
        local = turn._local
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(local.release)


def on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether the caller runs on ``loop`` (not on a worker thread, nor on another loop)."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
